package e2e

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/consumer"
	"github.com/viewlog/viewlog/internal/pagecheck"
)

// TestDashboardLive loads the consumer's dashboard in Debian's headless
// Chromium (tools/pagecheck) while a real consumer serves it, after it has
// written windows of several campaigns over several minutes, and checks
// what the page says it shows (window.dashboardState) against the
// consumer's /api/state and against DuckDB's read of the output; that the
// page asked nothing of any other server; and that the console stayed
// clean. Set VIEWLOG_SCREENSHOT_DIR to keep the screenshot
// (dashboard-live.png): the README's picture is one. VIEWLOG_REQUIRE_BROWSER=1
// turns a missing browser, node or `npm ci --prefix tools/pagecheck` into a
// failure instead of a skip.
func TestDashboardLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end, with a browser")
	}
	tool := pagecheck.Find(t)
	broker, _ := startBroker(t, 3)
	const topic = "views-dashboard"
	d := dashboardDataset(15)
	data, closers := d.phases[:len(d.phases)-1], d.phases[len(d.phases)-1]

	env, out := consumerEnv(t, broker, topic)
	c := startConsumer(t, env)
	// A minute of event time every half second, so that the throughput
	// chart has a history.
	if err := <-producePhases(broker, topic, data, func() time.Duration { return 500 * time.Millisecond }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the data read", func() bool {
		st, ok := c.state(t)
		return ok && st.Totals.Read == d.read-int64(len(closers))
	})
	produceGo(t, broker, topic, closers)
	waitAllRows(t, out, len(d.rows), 90*time.Second, c)
	rows := readOutput(t, out)
	checkRows(t, rows, d)

	shot := filepath.Join(cmp.Or(os.Getenv("VIEWLOG_SCREENSHOT_DIR"), t.TempDir()), "dashboard-live.png")
	// Two renders: the page polls again and redraws, not only once.
	f := tool.Run(t, "http://"+c.http+"/", shot, 2)
	st, ok := c.state(t)
	if !ok {
		t.Fatal("no /api/state")
	}
	pagecheck.CheckClean(t, f, "http://"+c.http)
	checkPageShows(t, f.State, st, rows)
	pagecheck.CheckScreenshot(t, shot)
	stopAll(t, c)
}

// dashboardDataset is minutes of views of every campaign, each at its own
// rate and with its own typical duration, rising and falling from minute
// to minute, with rejected, duplicate, late and unknown-campaign records
// among them, and closers a minute after the last.
func dashboardDataset(minutes int) *dataset {
	d := newDataset()
	rng := rand.New(rand.NewPCG(3, 5))
	for m := range minutes {
		var phase []message
		var views []view
		for c := 10; c <= 140; c += 10 {
			k := c / 10
			rate := float64(6+3*k) * (1 + 0.35*math.Sin(float64(m)/2.2+float64(k)))
			typical := 30 + 12*k
			for i := range int(rate) {
				end := base.Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(60))*time.Second)
				dur := time.Duration(max(1, min(300, typical/2+rng.IntN(typical)))) * time.Second
				v := view{id: fmt.Sprintf("dash-m%d-c%d-%d", m, c, i), campaign: c, start: end.Add(-dur), end: end}
				phase = append(phase, v.message(i+m))
				views = append(views, v)
				d.expect(v)
			}
		}
		d.phases = append(d.phases, phase)
		if m%3 == 1 {
			d.badRecords(fmt.Sprintf("dash-m%d", m))
		}
		d.appendTo("duplicate", views[0].message(1), views[len(views)/2].message(3))
		if m >= 2 {
			for i, v := range views[:2] {
				late := view{id: fmt.Sprintf("dash-late-m%d-%d", m, i), campaign: v.campaign,
					start: base.Add(time.Duration(m-2) * time.Minute), end: base.Add(time.Duration(m-2)*time.Minute + 40*time.Second)}
				d.appendTo("late", late.message(i))
			}
		}
	}
	d.closers(minutes)
	return d
}

// checkPageShows compares what the page shows with the consumer's state,
// read after the page, and with the output as DuckDB reads it. Once every
// window is written, everything but the throughput history stays as it is.
func checkPageShows(t *testing.T, got *pagecheck.Shown, st consumer.State, rows []outRow) {
	t.Helper()
	if !got.Ready.OK || !st.Ready.OK {
		t.Errorf("ready: page %v, /api/state %+v", got.Ready.OK, st.Ready)
	}

	// Views per campaign and minute: the output's, and /api/state's
	// windows added up over partitions, over the newest 30 minutes.
	type cell struct {
		start    time.Time
		campaign int
	}
	fromOutput := map[cell]int64{}
	seconds := map[cell]int64{}
	for _, r := range rows {
		k := cell{r.WindowStart.UTC(), int(r.Campaign)}
		fromOutput[k] += r.TotalCount
		seconds[k] += r.SumDuration
	}
	fromState := map[cell]int64{}
	for _, w := range st.Windows {
		fromState[cell{w.WindowStart.UTC(), int(w.CampaignID)}] += w.Count
	}
	if !maps.Equal(fromOutput, fromState) {
		t.Errorf("/api/state's windows %v\ndiffer from the output %v", fromState, fromOutput)
	}
	var starts []time.Time
	var campaigns []int
	for k := range fromOutput {
		if !slices.ContainsFunc(starts, k.start.Equal) {
			starts = append(starts, k.start)
		}
		if !slices.Contains(campaigns, k.campaign) {
			campaigns = append(campaigns, k.campaign)
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	starts = starts[max(0, len(starts)-30):]
	slices.Sort(campaigns)
	if len(starts) < 10 || len(campaigns) < 10 {
		t.Fatalf("the output has %d minutes and %d campaigns; the data set has more", len(starts), len(campaigns))
	}
	if !slices.EqualFunc(got.Views.WindowStarts, starts, time.Time.Equal) {
		t.Errorf("views chart minutes %v\nwant %v", got.Views.WindowStarts, starts)
	}
	var shownCampaigns []int
	for _, s := range got.Views.Series {
		shownCampaigns = append(shownCampaigns, s.CampaignID)
		if len(s.Counts) != len(starts) {
			t.Errorf("views of campaign %d: %d points, want %d", s.CampaignID, len(s.Counts), len(starts))
			continue
		}
		for i, start := range starts {
			want, has := fromOutput[cell{start, s.CampaignID}]
			if n := s.Counts[i]; (n == nil) == has || (n != nil && *n != want) {
				t.Errorf("views of campaign %d at %s: %v, want %d (a row: %v)", s.CampaignID, start.Format(time.TimeOnly), derefOr(n), want, has)
			}
		}
	}
	if !slices.Equal(shownCampaigns, campaigns) {
		t.Errorf("views chart campaigns %v, want %v", shownCampaigns, campaigns)
	}

	// Average duration per campaign over those minutes, weighted by
	// views, from the output's exact sums; the page computes it from the
	// rounded averages, to 2 decimals. The dot is the newest minute's.
	if !slices.Equal(got.AvgDuration.Campaigns, campaigns) || len(got.AvgDuration.Avg) != len(campaigns) || len(got.AvgDuration.Latest) != len(campaigns) {
		t.Fatalf("duration chart: campaigns %v, %d averages, %d latest; want %v", got.AvgDuration.Campaigns, len(got.AvgDuration.Avg), len(got.AvgDuration.Latest), campaigns)
	}
	for i, c := range campaigns {
		var n, sum int64
		var latest float64
		for _, start := range starts {
			k := cell{start, c}
			if fromOutput[k] == 0 {
				continue
			}
			n += fromOutput[k]
			sum += seconds[k]
			latest = float64(seconds[k]) / float64(fromOutput[k])
		}
		avg := float64(sum) / float64(n)
		if a, l := got.AvgDuration.Avg[i], got.AvgDuration.Latest[i]; a == nil || l == nil || math.Abs(*a-avg) > 0.011 || math.Abs(*l-latest) > 0.011 {
			t.Errorf("duration of campaign %d: average %v, latest %v; want %.3f and %.3f", c, derefOr(a), derefOr(l), avg, latest)
		}
	}

	// Records by outcome: the consumer's totals, each rejection reason
	// under "rejected", most frequent first.
	tot := st.Totals
	if want := pagecheck.WantOutcomes(pagecheck.Totals(tot)); !slices.Equal(got.Outcomes, want) {
		t.Errorf("outcomes %+v\nwant %+v", got.Outcomes, want)
	}
	if tot.Duplicate == 0 || tot.Late == 0 || tot.UnknownCampaign == 0 || len(tot.RejectedBy) < 5 {
		t.Errorf("totals %+v: the data set has every outcome", tot)
	}

	// Partitions and the newest files, as /api/state has them.
	if len(got.Partitions) != len(st.Partitions) {
		t.Errorf("partition rows %d, want %d", len(got.Partitions), len(st.Partitions))
	} else {
		for i, p := range st.Partitions {
			g := got.Partitions[i]
			if g.Partition != p.Partition || g.Lag != p.Lag || g.Committed != p.Committed || g.OpenWindows != p.OpenWindows ||
				(g.Watermark == nil) != (p.Watermark == nil) || (p.Watermark != nil && !g.Watermark.Equal(*p.Watermark)) {
				t.Errorf("partition row %d: %+v, want %+v", i, g, p)
			}
		}
	}
	if len(got.Files) != len(st.Files) || len(got.Files) == 0 {
		t.Errorf("files %d, /api/state has %d", len(got.Files), len(st.Files))
	} else {
		for i, f := range st.Files {
			if g := got.Files[i]; g.Key != f.Key || g.Rows != f.Rows || !g.WrittenAt.Equal(f.WrittenAt) {
				t.Errorf("file %d: %+v, want %+v", i, g, f)
			}
		}
	}

	// Throughput and lag: every point the page drew is in the history
	// /api/state gave afterwards (which has grown since). The page keeps
	// times to the millisecond, as JavaScript's Date does.
	tp := got.Throughput
	if len(tp.Times) < 2 || len(tp.RecordsPerSecond) != len(tp.Times) || len(tp.Lag) != len(tp.Times) {
		t.Fatalf("throughput chart: %d times, %d rates, %d lags", len(tp.Times), len(tp.RecordsPerSecond), len(tp.Lag))
	}
	for i, at := range tp.Times {
		j := -1
		for k := range st.History {
			if d := st.History[k].Time.Sub(at); d > -time.Millisecond && d < time.Millisecond {
				j = k
			}
		}
		if j < 0 || tp.RecordsPerSecond[i] == nil || tp.Lag[i] == nil ||
			*tp.RecordsPerSecond[i] != st.History[j].RecordsPerSecond || *tp.Lag[i] != st.History[j].Lag {
			t.Errorf("throughput point %d at %v: %v records/s, lag %v; not in /api/state's history", i, at, derefOr(tp.RecordsPerSecond[i]), derefOr(tp.Lag[i]))
			break
		}
	}
}

func derefOr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
