package producer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReady(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 4, 5, 0, time.UTC)
	refused := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		steps func(h *health)
		at    time.Duration // after t0
		want  string        // "" for ready, else a part of the reason
	}{
		{"nothing sent yet", func(h *health) {}, 0, "no record acknowledged yet"},
		{"acknowledged", func(h *health) {
			h.handed(t0, 10)
			h.completed(t0, 10, nil, func() {})
		}, time.Minute, ""},
		{"last send failed", func(h *health) {
			h.handed(t0, 20)
			h.completed(t0, 10, nil, func() {})
			h.completed(t0.Add(time.Second), 10, refused, func() {})
		}, 2 * time.Second, "last send failed at 12:04:06: connection refused"},
		{"failed, then acknowledged", func(h *health) {
			h.handed(t0, 20)
			h.completed(t0, 10, refused, func() {})
			h.completed(t0.Add(time.Second), 10, nil, func() {})
		}, 2 * time.Second, ""},
		{"waiting, not for long", func(h *health) {
			h.handed(t0, 10)
			h.completed(t0, 10, nil, func() {})
			h.handed(t0.Add(time.Minute), 10)
		}, time.Minute + ackWait, ""},
		{"waiting too long", func(h *health) {
			h.handed(t0, 10)
			h.completed(t0, 10, nil, func() {})
			h.handed(t0.Add(time.Minute), 10)
		}, time.Minute + ackWait + time.Second, "no answer from the broker since 12:05:05, 10 records waiting"},
		// Completions that keep coming are an answer, even with records
		// always in flight.
		{"busy", func(h *health) {
			h.handed(t0, 10)
			for i := range 30 {
				h.handed(t0.Add(time.Duration(i)*time.Second), 10)
				h.completed(t0.Add(time.Duration(i)*time.Second), 10, nil, func() {})
			}
		}, 30 * time.Second, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h health
			h.init(time.Second)
			tc.steps(&h)
			err := h.ready(t0.Add(tc.at))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("ready = %v, want an error with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("reason %q is not one line", err)
			}
		})
	}
}

func TestLive(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 4, 5, 0, time.UTC)
	var h health
	h.init(5 * time.Second) // wedged after 3*5s + 2m = 2m15s
	if err := h.live(t0.Add(time.Hour)); err != nil {
		t.Fatalf("not running, yet %v", err)
	}
	h.looped(t0)
	if err := h.live(t0.Add(2*time.Minute + 15*time.Second)); err != nil {
		t.Fatalf("within the limit, yet %v", err)
	}
	if err := h.live(t0.Add(2*time.Minute + 16*time.Second)); err == nil || !strings.Contains(err.Error(), "since 12:04:05") {
		t.Fatalf("live = %v after the limit, want the loop reported wedged since 12:04:05", err)
	}
	h.looped(t0.Add(3 * time.Minute))
	if err := h.live(t0.Add(3*time.Minute + time.Second)); err != nil {
		t.Fatalf("came round again, yet %v", err)
	}
	h.stopped()
	if err := h.live(t0.Add(time.Hour)); err != nil {
		t.Fatalf("stopped, yet %v", err)
	}
}
