// Package pagecheck drives tools/pagecheck (playwright-core and Debian's
// headless Chromium) for tests of the dashboard: it loads a page, waits for
// renders, takes a screenshot and returns what the browser saw. The checks
// every page must pass (stays on its server, loads what it asks for, logs
// no error, fits the window) are here; what the page should show is the
// caller's to compare, since a fixture and a live consumer differ.
package pagecheck

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Findings is what tools/pagecheck/check.mjs prints.
type Findings struct {
	// State is window.dashboardState after the last awaited render.
	State    *Shown `json:"state"`
	Requests []struct {
		URL          string `json:"url"`
		Method       string `json:"method"`
		ResourceType string `json:"resourceType"`
		Status       *int   `json:"status"`
		Failure      string `json:"failure"`
	} `json:"requests"`
	Console []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Location string `json:"location"`
	} `json:"console"`
	PageErrors []string `json:"pageErrors"`
	Layout     struct {
		ScrollWidth int `json:"scrollWidth"`
		ClientWidth int `json:"clientWidth"`
	} `json:"layout"`
	Error string `json:"error"`

	renders int // awaited
}

// Shown is window.dashboardState (internal/dashboard/assets/dashboard.js):
// what the page plotted and listed, for a test to compare with the state
// it served.
type Shown struct {
	Renders  int    `json:"renders"`
	Failures int    `json:"failures"`
	LastErr  string `json:"lastError"`
	Time     string `json:"time"`
	Ready    struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	} `json:"ready"`
	RecordsPerSecond *float64 `json:"recordsPerSecond"`
	Views            struct {
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
		Uncommitted int64      `json:"uncommitted"`
		Committed   int64      `json:"committed"`
		Watermark   *time.Time `json:"watermark"`
		Idle        bool       `json:"idle"`
		OpenWindows int        `json:"open_windows"`
	} `json:"partitions"`
	Outcomes []Outcome `json:"outcomes"`
	Files    []struct {
		Key       string    `json:"key"`
		Rows      int       `json:"rows"`
		WrittenAt time.Time `json:"written_at"`
	} `json:"files"`
}

// Outcome is a row of the page's records-by-outcome table; Reason is set
// for each rejection reason listed under "rejected".
type Outcome struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
}

// Totals is /api/state's totals: where the records read went.
type Totals struct {
	Read            int64            `json:"read"`
	Aggregated      int64            `json:"aggregated"`
	Duplicate       int64            `json:"duplicate"`
	Late            int64            `json:"late"`
	UnknownCampaign int64            `json:"unknown_campaign"`
	Rejected        int64            `json:"rejected"`
	RejectedBy      map[string]int64 `json:"rejected_by"`
}

// WantOutcomes is the records-by-outcome table the page should show for
// t: each total, then each rejection reason under "rejected", most
// frequent first.
func WantOutcomes(t Totals) []Outcome {
	want := []Outcome{
		{Outcome: "read", Count: t.Read},
		{Outcome: "aggregated", Count: t.Aggregated},
		{Outcome: "duplicate", Count: t.Duplicate},
		{Outcome: "late", Count: t.Late},
		{Outcome: "unknown_campaign", Count: t.UnknownCampaign},
		{Outcome: "rejected", Count: t.Rejected},
	}
	var reasons []Outcome
	for r, n := range t.RejectedBy {
		reasons = append(reasons, Outcome{Outcome: "rejected", Reason: r, Count: n})
	}
	slices.SortFunc(reasons, func(a, b Outcome) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	return append(want, reasons...)
}

// Tool is an installed tools/pagecheck with node and Chromium to run it.
type Tool struct {
	node, dir string
}

// Find locates node, Chromium and the installed tool, or skips the test;
// VIEWLOG_REQUIRE_BROWSER=1 turns a missing one into a failure.
func Find(t testing.TB) Tool {
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
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "tools", "pagecheck")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		unavailable("playwright-core not installed (npm ci --prefix tools/pagecheck): %v", err)
	}
	return Tool{node: node, dir: dir}
}

// moduleRoot is the nearest directory above the working directory (a
// test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Run loads pageURL, waits until the page has rendered /api/state renders
// times, saves a full-page screenshot to shot and returns the findings. It
// fails the test when the tool could not produce them.
func (tool Tool) Run(t testing.TB, pageURL, shot string, renders int) Findings {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool.node, filepath.Join(tool.dir, "check.mjs"), pageURL, shot, strconv.Itoa(renders))
	cmd.Dir = tool.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("pagecheck took %v; screenshot %s", time.Since(start).Round(time.Millisecond), shot)
	var f Findings
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Fatalf("pagecheck: %v; output not JSON: %v\nstdout: %s\nstderr: %s", runErr, err, stdout.Bytes(), stderr.Bytes())
	}
	if runErr != nil || f.Error != "" || f.State == nil {
		t.Fatalf("pagecheck could not check the page: %v %s\nconsole: %+v\npage errors: %q\nstderr: %s", runErr, f.Error, f.Console, f.PageErrors, stderr.Bytes())
	}
	f.renders = renders
	return f
}

// CheckClean asserts that the page stayed on server, loaded everything it
// asked for, polled /api/state once per awaited render, rendered without
// a failure, logged no error or warning, and fits the window's width.
func CheckClean(t testing.TB, f Findings, server string) {
	t.Helper()
	origin, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	var states, assets int
	for _, r := range f.Requests {
		u, err := url.Parse(r.URL)
		if err != nil || u.Scheme != origin.Scheme || u.Host != origin.Host {
			t.Errorf("request outside the server: %s %s (%s, failure %q)", r.Method, r.URL, r.ResourceType, r.Failure)
			continue
		}
		if r.Failure != "" || (r.Status != nil && *r.Status >= 400) {
			status := "none"
			if r.Status != nil {
				status = strconv.Itoa(*r.Status)
			}
			t.Errorf("%s %s: status %s, failure %q", r.Method, r.URL, status, r.Failure)
		}
		if u.Path == "/api/state" {
			states++
		} else {
			assets++
		}
	}
	if states < f.renders {
		t.Errorf("the page asked for /api/state %d times, want at least %d (it polls)", states, f.renders)
	}
	if assets < 5 { // the page, two style sheets, two scripts
		t.Errorf("only %d page and asset requests recorded: %+v", assets, f.Requests)
	}
	for _, m := range f.Console {
		if m.Type == "error" || m.Type == "warning" {
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.Location)
		}
	}
	for _, e := range f.PageErrors {
		t.Errorf("uncaught: %s", e)
	}
	page := f.State
	if page.Failures != 0 || page.Renders < f.renders {
		t.Errorf("page: %d renders, %d failures (last: %s); want %d renders", page.Renders, page.Failures, page.LastErr, f.renders)
	}
	if f.Layout.ScrollWidth > f.Layout.ClientWidth {
		t.Errorf("page overflows horizontally: %d px wide in a %d px window", f.Layout.ScrollWidth, f.Layout.ClientWidth)
	}
}

// CheckScreenshot asserts that the screenshot is a PNG of the full page at
// the tool's 1280 px width.
func CheckScreenshot(t testing.TB, path string) {
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
