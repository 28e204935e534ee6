package consumer

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Health is what the consumer's liveness and readiness probes answer from.
// It is safe for concurrent use.
//
// Liveness fails only when the process is wedged: its batch loop (or the
// retries of a batch being written) has not come round for 3 intervals
// plus 30 seconds. An outage of the broker or of the output is not a
// wedge: restarting would not help, and every restart costs the group a
// rebalance. Readiness fails while the consumer is not in its group, cannot
// write its output, or cannot commit.
type Health struct {
	now        func() time.Time
	wedgeAfter time.Duration

	mu sync.Mutex
	// lastBeat is when the loop last came round; joiningSince, when not
	// zero, says it is waiting for the group instead.
	lastBeat     time.Time
	joiningSince time.Time
	outputErr    error
	outputSince  time.Time
	commitErr    error
	commitSince  time.Time
}

// NewHealth returns the health of a consumer whose batch interval is
// interval. now is the clock.
func NewHealth(interval time.Duration, now func() time.Time) *Health {
	t := now()
	return &Health{now: now, wedgeAfter: 3*interval + 30*time.Second, lastBeat: t, joiningSince: t}
}

func (h *Health) beat() {
	h.mu.Lock()
	h.lastBeat = h.now()
	h.joiningSince = time.Time{}
	h.mu.Unlock()
}

func (h *Health) joining() {
	h.mu.Lock()
	if h.joiningSince.IsZero() {
		h.joiningSince = h.now()
	}
	h.mu.Unlock()
}

func (h *Health) outputFailed(err error) {
	h.mu.Lock()
	if h.outputErr == nil {
		h.outputSince = h.now()
	}
	h.outputErr = err
	h.mu.Unlock()
}

func (h *Health) outputOK() {
	h.mu.Lock()
	h.outputErr = nil
	h.mu.Unlock()
}

func (h *Health) commitFailed(err error) {
	h.mu.Lock()
	if h.commitErr == nil {
		h.commitSince = h.now()
	}
	h.commitErr = err
	h.mu.Unlock()
}

func (h *Health) commitOK() {
	h.mu.Lock()
	h.commitErr = nil
	h.mu.Unlock()
}

// Live returns nil unless the process is wedged, and then says since when.
func (h *Health) Live() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.joiningSince.IsZero() {
		return nil
	}
	if d := h.now().Sub(h.lastBeat); d > h.wedgeAfter {
		return fmt.Errorf("batch loop stuck: it has not come round since %s (%s ago, limit %s)",
			h.lastBeat.UTC().Format(time.TimeOnly), d.Round(time.Second), h.wedgeAfter)
	}
	return nil
}

// Ready returns nil once the consumer is in its group, writing its output
// and committing; otherwise the first reason it is not.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	if !h.joiningSince.IsZero() {
		errs = append(errs, fmt.Errorf("not in the consumer group: joining since %s", h.joiningSince.UTC().Format(time.TimeOnly)))
	}
	if h.outputErr != nil {
		errs = append(errs, fmt.Errorf("output not writable since %s: %w", h.outputSince.UTC().Format(time.TimeOnly), h.outputErr))
	}
	if h.commitErr != nil {
		errs = append(errs, fmt.Errorf("offsets not committed since %s: %w", h.commitSince.UTC().Format(time.TimeOnly), h.commitErr))
	}
	return errors.Join(errs...)
}
