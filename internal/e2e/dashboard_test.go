package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"maps"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/consumer"
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
	node, tool := pagecheckTool(t)
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
	f := runPagecheckTool(t, node, tool, "http://"+c.http+"/", shot, 2)
	st, ok := c.state(t)
	if !ok {
		t.Fatal("no /api/state")
	}

	checkPageClean(t, f, "http://"+c.http)
	checkPageShows(t, f.State, st, rows)
	checkPageScreenshot(t, shot)
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

// pageState is window.dashboardState (internal/dashboard/assets/dashboard.js):
// what the page plotted and listed.
type pageState struct {
	Renders  int    `json:"renders"`
	Failures int    `json:"failures"`
	LastErr  string `json:"lastError"`
	Ready    struct {
		OK bool `json:"ok"`
	} `json:"ready"`
	Views struct {
		WindowStarts []time.Time `json:"windowStarts"`
		Series       []struct {
			CampaignID int      `json:"campaign_id"`
			Counts     []*int64 `json:"counts"`
		} `json:"series"`
	} `json:"views"`
	AvgDuration struct {
		Campaigns []int      `json:"campaigns"`
		Avg       []*float64 `json:"avg"`
		Latest    []*float64 `json:"latest"`
	} `json:"avgDuration"`
	Throughput struct {
		Times            []time.Time `json:"times"`
		RecordsPerSecond []*float64  `json:"recordsPerSecond"`
		Lag              []*int64    `json:"lag"`
	} `json:"throughput"`
	Partitions []struct {
		Partition   int        `json:"partition"`
		Lag         int64      `json:"lag"`
		Committed   int64      `json:"committed"`
		Watermark   *time.Time `json:"watermark"`
		OpenWindows int        `json:"open_windows"`
	} `json:"partitions"`
	Outcomes []pageOutcome `json:"outcomes"`
	Files    []struct {
		Key       string    `json:"key"`
		Rows      int       `json:"rows"`
		WrittenAt time.Time `json:"written_at"`
	} `json:"files"`
}

type pageOutcome struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
}

// pageFindings is what tools/pagecheck/check.mjs prints.
type pageFindings struct {
	State    *pageState `json:"state"`
	Requests []struct {
		URL     string `json:"url"`
		Method  string `json:"method"`
		Status  *int   `json:"status"`
		Failure string `json:"failure"`
	} `json:"requests"`
	Console []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Location string `json:"location"`
	} `json:"console"`
	PageErrors []string `json:"pageErrors"`
	Error      string   `json:"error"`
}

// pagecheckTool finds node, Chromium and the installed tools/pagecheck, or
// skips (fails with VIEWLOG_REQUIRE_BROWSER=1).
func pagecheckTool(t *testing.T) (node, dir string) {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("VIEWLOG_REQUIRE_BROWSER") == "1" {
		unavailable = t.Fatalf
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found: %v", err)
	}
	chromium := cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		unavailable("chromium not installed (apt-get install chromium): %v", err)
	}
	dir = filepath.Join(moduleRoot(), "tools", "pagecheck")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		unavailable("playwright-core not installed (npm ci --prefix tools/pagecheck): %v", err)
	}
	return node, dir
}

func runPagecheckTool(t *testing.T, node, dir, pageURL, shot string, renders int) pageFindings {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "check.mjs"), pageURL, shot, strconv.Itoa(renders))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("pagecheck took %v; screenshot %s", time.Since(start).Round(time.Millisecond), shot)
	var f pageFindings
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Fatalf("pagecheck: %v; output not JSON: %v\nstdout: %s\nstderr: %s", runErr, err, stdout.Bytes(), stderr.Bytes())
	}
	if runErr != nil || f.Error != "" || f.State == nil {
		t.Fatalf("pagecheck could not check the page: %v %s\nconsole: %+v\npage errors: %q\nstderr: %s", runErr, f.Error, f.Console, f.PageErrors, stderr.Bytes())
	}
	return f
}

// checkPageClean: every request went to the consumer and succeeded, and
// the console shows no error or warning.
func checkPageClean(t *testing.T, f pageFindings, server string) {
	t.Helper()
	origin, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	var states int
	for _, r := range f.Requests {
		u, err := url.Parse(r.URL)
		if err != nil || u.Scheme != origin.Scheme || u.Host != origin.Host {
			t.Errorf("request outside the server: %s %s (failure %q)", r.Method, r.URL, r.Failure)
			continue
		}
		if r.Failure != "" || (r.Status != nil && *r.Status >= 400) {
			t.Errorf("%s %s: status %v, failure %q", r.Method, r.URL, r.Status, r.Failure)
		}
		if u.Path == "/api/state" {
			states++
		}
	}
	if states < 2 {
		t.Errorf("the page asked for /api/state %d times, want at least 2 (it polls)", states)
	}
	for _, m := range f.Console {
		if m.Type == "error" || m.Type == "warning" {
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.Location)
		}
	}
	for _, e := range f.PageErrors {
		t.Errorf("uncaught: %s", e)
	}
	if f.State.Failures != 0 || f.State.Renders < 2 {
		t.Errorf("page: %d renders, %d failures (last: %s)", f.State.Renders, f.State.Failures, f.State.LastErr)
	}
}

// checkPageShows compares what the page shows with the consumer's state,
// read after the page, and with the output as DuckDB reads it. Once every
// window is written, everything but the throughput history stays as it is.
func checkPageShows(t *testing.T, got *pageState, st consumer.State, rows []outRow) {
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
	want := []pageOutcome{
		{"read", "", tot.Read}, {"aggregated", "", tot.Aggregated}, {"duplicate", "", tot.Duplicate},
		{"late", "", tot.Late}, {"unknown_campaign", "", tot.UnknownCampaign}, {"rejected", "", tot.Rejected},
	}
	var reasons []pageOutcome
	for r, n := range tot.RejectedBy {
		reasons = append(reasons, pageOutcome{"rejected", r, n})
	}
	slices.SortFunc(reasons, func(a, b pageOutcome) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	want = append(want, reasons...)
	if !slices.Equal(got.Outcomes, want) {
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

func checkPageScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() < 900 {
		t.Errorf("screenshot is %dx%d, want 1280 wide and the full page", b.Dx(), b.Dy())
	}
}

func derefOr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
