package consumer

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/probe"
)

// fakeClock is a clock the tests move by hand; the probe handlers read it
// on the server's goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) advance(d time.Duration) { c.set(c.now().Add(d)) }

var healthT0 = time.Date(2026, 11, 25, 12, 4, 5, 0, time.UTC)

// TestLiveWedge: liveness fails only once the batch loop has not come
// round for 3 intervals plus 30 seconds, and recovers with the next beat.
func TestLiveWedge(t *testing.T) {
	for _, tc := range []struct {
		interval, limit time.Duration
	}{
		{5 * time.Second, 45 * time.Second}, // the default CONSUMER_INTERVAL
		{200 * time.Millisecond, 30*time.Second + 600*time.Millisecond},
		{time.Minute, 3*time.Minute + 30*time.Second},
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			c := &fakeClock{t: healthT0}
			h := NewHealth(tc.interval, c.now)
			h.beat()
			beatAt := c.now()
			for _, d := range []time.Duration{tc.interval, tc.limit / 2, tc.limit} {
				c.set(beatAt.Add(d))
				if err := h.Live(); err != nil {
					t.Fatalf("%v after the last beat (limit %v): %v", d, tc.limit, err)
				}
			}
			c.set(beatAt.Add(tc.limit + time.Second))
			err := h.Live()
			if err == nil {
				t.Fatalf("live %v after the last beat, beyond the limit %v", tc.limit+time.Second, tc.limit)
			}
			// The reason says since when, and what the limit is.
			for _, part := range []string{beatAt.Format(time.TimeOnly), tc.limit.String()} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("reason %q does not say %q", err, part)
				}
			}
			// A wedged loop that comes round again is live again.
			h.beat()
			if err := h.Live(); err != nil {
				t.Errorf("after a new beat: %v", err)
			}
		})
	}
}

// TestJoiningIsNotAWedge: waiting for the group, at start or after a
// rebalance, for however long, is not a wedge: restarting would only cost
// the group another rebalance. It makes the consumer not ready instead.
func TestJoiningIsNotAWedge(t *testing.T) {
	c := &fakeClock{t: healthT0}
	h := NewHealth(5*time.Second, c.now)

	// At start: joining since the health was made.
	c.advance(10 * time.Minute)
	if err := h.Live(); err != nil {
		t.Errorf("joining for 10 minutes at start: %v", err)
	}
	err := h.Ready()
	if err == nil || !strings.Contains(err.Error(), healthT0.Format(time.TimeOnly)) {
		t.Errorf("ready while joining at start: %v; want a reason naming %s", err, healthT0.Format(time.TimeOnly))
	}

	// In the group: ready.
	h.beat()
	if err := h.Ready(); err != nil {
		t.Errorf("ready after the first beat: %v", err)
	}

	// A rebalance: joining again, since the moment it began; a second
	// call while still joining keeps that moment.
	c.advance(20 * time.Second)
	rejoinAt := c.now()
	h.joining()
	c.advance(30 * time.Second)
	h.joining()
	c.advance(10 * time.Minute)
	if err := h.Live(); err != nil {
		t.Errorf("rejoining for 10 minutes: %v", err)
	}
	err = h.Ready()
	if err == nil || !strings.Contains(err.Error(), rejoinAt.Format(time.TimeOnly)) {
		t.Errorf("ready while rejoining: %v; want a reason naming %s", err, rejoinAt.Format(time.TimeOnly))
	}

	// Back in the group, the wedge clock starts from the new beat, not
	// from the one before the rebalance.
	h.beat()
	c.advance(44 * time.Second)
	if err := h.Live(); err != nil {
		t.Errorf("44 s after rejoining: %v", err)
	}
	c.advance(2 * time.Second)
	if h.Live() == nil {
		t.Error("live 46 s after the last beat, with a 45 s limit")
	}
}

// TestReadyReasons: readiness fails while the output cannot be written or
// offsets cannot be committed, says since when and why, and liveness is
// not affected (an outage is not a wedge).
func TestReadyReasons(t *testing.T) {
	diskFull := errors.New("disk full")
	refused := errors.New("coordinator not available")
	c := &fakeClock{t: healthT0}
	h := NewHealth(5*time.Second, c.now)
	h.beat()

	// The output fails at 12:04:15 and keeps failing: the reason keeps
	// the first moment and the latest error.
	c.advance(10 * time.Second)
	h.outputFailed(errors.New("permission denied"))
	c.advance(10 * time.Second)
	h.outputFailed(diskFull)
	h.beat()
	err := h.Ready()
	if err == nil || !errors.Is(err, diskFull) || !strings.Contains(err.Error(), "12:04:15") {
		t.Fatalf("ready with the output failing: %v; want the latest error and 12:04:15", err)
	}
	if err := h.Live(); err != nil {
		t.Errorf("output failing, loop beating: not live: %v", err)
	}

	// Commits fail too: both reasons.
	c.advance(5 * time.Second)
	h.commitFailed(refused)
	err = h.Ready()
	if !errors.Is(err, diskFull) || !errors.Is(err, refused) || !strings.Contains(err.Error(), "12:04:30") {
		t.Errorf("ready with output and commits failing: %v; want both reasons, commits since 12:04:30", err)
	}

	// The output recovers; commits still fail.
	h.outputOK()
	err = h.Ready()
	if errors.Is(err, diskFull) || !errors.Is(err, refused) {
		t.Errorf("ready after the output recovered: %v; want only the commit reason", err)
	}

	// Commits recover: ready. A later failure has a new start.
	h.commitOK()
	if err := h.Ready(); err != nil {
		t.Errorf("ready after both recovered: %v", err)
	}
	c.advance(time.Minute)
	h.outputFailed(diskFull)
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "12:05:30") {
		t.Errorf("ready after a new failure: %v; want since 12:05:30", err)
	}
}

// TestProbeAnswers: /healthz and /readyz as the consumer serves them,
// through probe.Handler: 200 "ok", or 503 with the reason on one line.
func TestProbeAnswers(t *testing.T) {
	c := &fakeClock{t: healthT0}
	h := NewHealth(5*time.Second, c.now)
	live := httptest.NewServer(probe.Handler(h.Live))
	defer live.Close()
	ready := httptest.NewServer(probe.Handler(h.Ready))
	defer ready.Close()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	oneLine := func(body string) bool { return strings.Count(body, "\n") == 1 && strings.HasSuffix(body, "\n") }

	if code, _ := get(live.URL); code != http.StatusOK {
		t.Errorf("/healthz while joining: %d, want 200", code)
	}
	if code, body := get(ready.URL); code != http.StatusServiceUnavailable || !oneLine(body) {
		t.Errorf("/readyz while joining: %d %q, want 503 with one line", code, body)
	}
	h.beat()
	h.outputFailed(errors.New("permission denied"))
	h.commitFailed(errors.New("not coordinator"))
	if code, body := get(ready.URL); code != http.StatusServiceUnavailable || !oneLine(body) ||
		!strings.Contains(body, "permission denied") || !strings.Contains(body, "not coordinator") {
		t.Errorf("/readyz with two reasons: %d %q, want 503 with both on one line", code, body)
	}
	h.outputOK()
	h.commitOK()
	if code, body := get(ready.URL); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz in the group: %d %q, want 200 ok", code, body)
	}
	c.advance(46 * time.Second)
	if code, body := get(live.URL); code != http.StatusServiceUnavailable || !oneLine(body) || !strings.Contains(body, "12:04:05") {
		t.Errorf("/healthz 46 s after the last beat: %d %q, want 503 naming 12:04:05", code, body)
	}
}
