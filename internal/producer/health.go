package producer

import (
	"fmt"
	"sync"
	"time"
)

// Ready reports whether the producer is doing its job: nil when the broker
// has acknowledged the most recent completed send and nothing has waited
// for the broker longer than ackWait; otherwise an error whose message is a
// one-line reason, for /readyz.
func (p *Producer) Ready() error {
	return p.health.ready(p.now())
}

// Live reports whether the send loop still comes round: nil unless Run is
// running and has neither handed a batch to the writer nor passed an
// interval for longer than 3 intervals plus 2 minutes, for /healthz. A
// broker that does not answer is no wedge: the writer gives up on its
// requests within about a minute, and the loop carries on (Ready reports
// that instead).
func (p *Producer) Live() error {
	return p.health.live(p.now())
}

// health is what Ready and Live report, updated by the send loop and the
// writer's completions.
type health struct {
	mu sync.Mutex
	// wedgeAfter is how long the send loop may go without coming round
	// before Live reports it wedged.
	wedgeAfter time.Duration
	loopAt     time.Time // zero unless Run is running
	lastAck    time.Time
	lastFail   time.Time
	lastErr    error // of the most recent completion: nil if it succeeded
	inFlight   int64
	abandoned  bool // Run stopped waiting for the records in flight
	// waitingSince is the last moment the writer completed something (or
	// took something when nothing was in flight), while records are in
	// flight; zero when none are.
	waitingSince time.Time
}

// ackWait is how long records may wait for the broker, with nothing
// completing at all, before the producer is no longer ready. The broker
// acknowledges a healthy write in milliseconds; kafka-go gives up on a
// request after 10 s.
const ackWait = 15 * time.Second

func (h *health) init(interval time.Duration) {
	// kafka-go gives up on a batch after 5 attempts of up to 10 s each, so
	// even a broker that does not answer frees the loop within about a
	// minute: a loop stuck for longer is stuck for good.
	h.wedgeAfter = 3*interval + 2*time.Minute
}

func (h *health) looped(now time.Time) {
	h.mu.Lock()
	h.loopAt = now
	h.mu.Unlock()
}

func (h *health) stopped() {
	h.mu.Lock()
	h.loopAt = time.Time{}
	h.mu.Unlock()
}

func (h *health) handed(now time.Time, n int64) {
	h.mu.Lock()
	if h.inFlight == 0 {
		h.waitingSince = now
	}
	h.inFlight += n
	h.mu.Unlock()
}

// completed records that the writer completed n records, and calls account
// to count them, both under the lock so that abandon counts every record
// once. It returns false, and does nothing, if Run has abandoned the
// records in flight.
func (h *health) completed(now time.Time, n int64, err error, account func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.abandoned {
		return false
	}
	account()
	h.inFlight -= n
	h.waitingSince = time.Time{}
	if h.inFlight > 0 {
		h.waitingSince = now
	}
	h.lastErr = err
	if err != nil {
		h.lastFail = now
		return true
	}
	h.lastAck = now
	return true
}

// abandon gives up on the records in flight and returns how many there
// were; later completions are ignored.
func (h *health) abandon() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.abandoned = true
	n := h.inFlight
	h.inFlight = 0
	h.waitingSince = time.Time{}
	return n
}

func (h *health) ready(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.waitingSince.IsZero() && now.Sub(h.waitingSince) > ackWait {
		return fmt.Errorf("no answer from the broker since %s, %d records waiting", clock(h.waitingSince), h.inFlight)
	}
	if h.lastErr != nil {
		return fmt.Errorf("last send failed at %s: %v", clock(h.lastFail), h.lastErr)
	}
	if h.lastAck.IsZero() {
		return fmt.Errorf("no record acknowledged yet")
	}
	return nil
}

func (h *health) live(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.loopAt.IsZero() && now.Sub(h.loopAt) > h.wedgeAfter {
		return fmt.Errorf("send loop has not come round since %s", clock(h.loopAt))
	}
	return nil
}

// clock formats t for a one-line reason, as the logs do.
func clock(t time.Time) string { return t.Format("15:04:05") }
