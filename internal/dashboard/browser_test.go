package dashboard_test

import (
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/dashboard"
	"github.com/viewlog/viewlog/internal/pagecheck"
)

// The browser test loads the page in Debian's headless Chromium through
// tools/pagecheck (playwright-core), against a server that answers
// /api/state with the fixtures, and checks what the page says it plotted
// (window.dashboardState) against the same fixtures read here. Set
// VIEWLOG_SCREENSHOT_DIR to keep the screenshots; VIEWLOG_REQUIRE_BROWSER=1
// turns a missing browser, node or `npm ci` into a failure instead of a skip.

// state is the part of /api/state the page shows.
type state struct {
	Time  string `json:"time"`
	Ready struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	} `json:"ready"`
	Partitions []struct {
		Partition   int        `json:"partition"`
		Lag         int64      `json:"lag"`
		Uncommitted int64      `json:"uncommitted"`
		Committed   int64      `json:"committed"`
		Watermark   *time.Time `json:"watermark"`
		Idle        bool       `json:"idle"`
		OpenWindows int        `json:"open_windows"`
	} `json:"partitions"`
	Totals           pagecheck.Totals `json:"totals"`
	RecordsPerSecond float64          `json:"records_per_second"`
	History          []struct {
		Time             string  `json:"time"`
		RecordsPerSecond float64 `json:"records_per_second"`
		Lag              int64   `json:"lag"`
	} `json:"history"`
	Windows []window `json:"windows"`
	Files   []struct {
		Key       string    `json:"key"`
		WrittenAt time.Time `json:"written_at"`
		Rows      int       `json:"rows"`
	} `json:"files"`
}

type window struct {
	CampaignID  int       `json:"campaign_id"`
	NetworkID   int       `json:"network_id"`
	WindowStart time.Time `json:"window_start"`
	Count       int64     `json:"count"`
	AvgDuration float64   `json:"avg_duration"`
}

func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	tool := pagecheck.Find(t)
	full := readFixture(t, "state.json")
	for _, tc := range []struct {
		name   string
		states [][]byte // answers to successive /api/state requests; the last repeats
	}{
		// The second answer has a new window and a new time: the page must
		// poll again and redraw, not only render once.
		{"dashboard", [][]byte{full, nextMinute(t, full)}},
		{"dashboard-empty", [][]byte{readFixture(t, "state-empty.json")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var served atomic.Int64
			mux := http.NewServeMux()
			mux.Handle("/", dashboard.Handler())
			mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
				n := int(served.Add(1))
				w.Header().Set("Content-Type", "application/json")
				w.Write(tc.states[min(n, len(tc.states))-1])
			})
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			shot := filepath.Join(cmp.Or(os.Getenv("VIEWLOG_SCREENSHOT_DIR"), t.TempDir()), tc.name+".png")
			f := tool.Run(t, srv.URL+"/", shot, len(tc.states))

			var want state
			if err := json.Unmarshal(tc.states[len(tc.states)-1], &want); err != nil {
				t.Fatal(err)
			}
			pagecheck.CheckClean(t, f, srv.URL)
			checkShown(t, f.State, want)
			pagecheck.CheckScreenshot(t, shot)
		})
	}
}

// checkShown compares what the page plotted with the state it was given,
// recomputing here what each chart should hold.
func checkShown(t *testing.T, got *pagecheck.Shown, want state) {
	t.Helper()
	if got.Time != want.Time || got.Ready.OK != want.Ready.OK || got.Ready.Reason != want.Ready.Reason {
		t.Errorf("header: time %q ready %+v, want %q %+v", got.Time, got.Ready, want.Time, want.Ready)
	}
	if got.RecordsPerSecond == nil || *got.RecordsPerSecond != want.RecordsPerSecond {
		t.Errorf("records/s %v, want %v", got.RecordsPerSecond, want.RecordsPerSecond)
	}

	// Views: the newest 30 window starts; per campaign the views of each,
	// added up over partitions, and no point where it has no row.
	starts, series := viewsOf(want.Windows)
	if !slices.EqualFunc(got.Views.WindowStarts, starts, time.Time.Equal) {
		t.Errorf("views x: %v\nwant %v", got.Views.WindowStarts, starts)
	}
	campaigns := sortedKeys(series)
	var gotCampaigns []int
	for _, s := range got.Views.Series {
		gotCampaigns = append(gotCampaigns, s.CampaignID)
		if want, ok := series[s.CampaignID]; !ok || !slices.EqualFunc(s.Counts, want.counts, eqPtr) {
			t.Errorf("views of campaign %d: %v\nwant %v", s.CampaignID, deref(s.Counts), deref(want.counts))
		}
	}
	if !slices.Equal(gotCampaigns, campaigns) {
		t.Errorf("views series: campaigns %v, want %v", gotCampaigns, campaigns)
	}

	// Average duration: weighted by views over the same windows; the dot is
	// the campaign's newest window.
	if !slices.Equal(got.AvgDuration.Campaigns, campaigns) {
		t.Errorf("duration chart campaigns %v, want %v", got.AvgDuration.Campaigns, campaigns)
	}
	for i, id := range campaigns {
		s := series[id]
		var n int64
		var sec float64
		var latest *float64
		for j, c := range s.counts {
			if c == nil {
				continue
			}
			n += *c
			sec += s.seconds[j]
			l := s.seconds[j] / float64(*c)
			latest = &l
		}
		avg := sec / float64(n)
		if i >= len(got.AvgDuration.Avg) || !near(got.AvgDuration.Avg[i], &avg) || !near(got.AvgDuration.Latest[i], latest) {
			t.Errorf("duration of campaign %d: avg %v latest %v, want %.2f %.2f", id,
				deref(got.AvgDuration.Avg), deref(got.AvgDuration.Latest), avg, *latest)
		}
	}

	// Throughput and lag: every history point, in time order.
	if len(got.Throughput.Times) != len(want.History) {
		t.Errorf("throughput: %d points, want %d", len(got.Throughput.Times), len(want.History))
	} else {
		for i, h := range want.History {
			ts, _ := time.Parse(time.RFC3339, h.Time)
			g := got.Throughput
			if !g.Times[i].Equal(ts) || g.RecordsPerSecond[i] == nil || *g.RecordsPerSecond[i] != h.RecordsPerSecond || g.Lag[i] == nil || *g.Lag[i] != h.Lag {
				t.Errorf("throughput point %d: %v %v %v, want %+v", i, g.Times[i], deref(g.RecordsPerSecond[i:i+1]), deref(g.Lag[i:i+1]), h)
				break
			}
		}
	}

	// Partition table.
	if len(got.Partitions) != len(want.Partitions) {
		t.Errorf("partition rows %d, want %d", len(got.Partitions), len(want.Partitions))
	} else {
		for i, p := range want.Partitions {
			g := got.Partitions[i]
			if g.Partition != p.Partition || g.Lag != p.Lag || g.Uncommitted != p.Uncommitted || g.Committed != p.Committed ||
				!eqTime(g.Watermark, p.Watermark) || g.Idle != p.Idle || g.OpenWindows != p.OpenWindows {
				t.Errorf("partition row %d: %+v, want %+v", i, g, p)
			}
		}
	}

	// Outcomes: the totals, then each rejection reason under "rejected".
	if want := pagecheck.WantOutcomes(want.Totals); !slices.Equal(got.Outcomes, want) {
		t.Errorf("outcomes %+v\nwant %+v", got.Outcomes, want)
	}

	// Files, newest first as given.
	if len(got.Files) != len(want.Files) {
		t.Errorf("files %d, want %d", len(got.Files), len(want.Files))
	} else {
		for i, f := range want.Files {
			if g := got.Files[i]; g.Key != f.Key || g.Rows != f.Rows || !g.WrittenAt.Equal(f.WrittenAt) {
				t.Errorf("file %d: %+v, want %+v", i, g, f)
			}
		}
	}
}

type campaignSeries struct {
	counts  []*int64
	seconds []float64 // avg_duration × count, added up
}

func viewsOf(windows []window) ([]time.Time, map[int]campaignSeries) {
	var starts []time.Time
	for _, w := range windows {
		if !slices.ContainsFunc(starts, w.WindowStart.Equal) {
			starts = append(starts, w.WindowStart)
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	starts = starts[max(0, len(starts)-30):]
	series := map[int]campaignSeries{}
	for _, w := range windows {
		i := slices.IndexFunc(starts, w.WindowStart.Equal)
		if i < 0 {
			continue
		}
		s, ok := series[w.CampaignID]
		if !ok {
			s = campaignSeries{counts: make([]*int64, len(starts)), seconds: make([]float64, len(starts))}
			series[w.CampaignID] = s
		}
		if s.counts[i] == nil {
			s.counts[i] = new(int64)
		}
		*s.counts[i] += w.Count
		s.seconds[i] += w.AvgDuration * float64(w.Count)
	}
	return starts, series
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nextMinute is the state one poll later: a window start more, written for
// every campaign of the newest one, with one view more each.
func nextMinute(t *testing.T, fixture []byte) []byte {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(fixture, &s); err != nil {
		t.Fatal(err)
	}
	var ws []window
	b, _ := json.Marshal(s["windows"])
	if err := json.Unmarshal(b, &ws); err != nil {
		t.Fatal(err)
	}
	newest := slices.MaxFunc(ws, func(a, b window) int { return a.WindowStart.Compare(b.WindowStart) }).WindowStart
	next := slices.Clone(ws)
	for _, w := range ws {
		if w.WindowStart.Equal(newest) {
			w.WindowStart = newest.Add(time.Minute)
			w.Count++
			next = append(next, w)
		}
	}
	s["windows"] = next
	s["time"] = "2026-11-25T12:45:05.123Z"
	s["records_per_second"] = 11.5
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func eqTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

func eqPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// near compares an average the page rounded to 2 decimals.
func near(got, want *float64) bool {
	return (got == nil) == (want == nil) && (got == nil || math.Abs(*got-*want) <= 0.005+1e-9)
}

func deref[T any](ps []*T) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		if p != nil {
			out[i] = *p
		}
	}
	return out
}
