package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/viewlog/viewlog/internal/dashboard"
)

func TestHandlerRoutes(t *testing.T) {
	srv := httptest.NewServer(dashboard.Handler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/assets/dashboard.js", 200, "text/javascript"},
		{"GET", "/assets/dashboard.css", 200, "text/css"},
		{"GET", "/assets/uplot/uPlot.iife.min.js", 200, "text/javascript"},
		{"GET", "/assets/uplot/uPlot.min.css", 200, "text/css"},
		{"GET", "/assets/", 404, ""},
		{"GET", "/assets/uplot/", 404, ""},
		{"GET", "/assets/missing.js", 404, ""},
		{"GET", "/index.html", 404, ""},
		{"GET", "/api/state", 404, ""}, // served by the consumer's mux, not here
		{"POST", "/", 405, ""},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.contentType != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("Content-Type %q, want %s", res.Header.Get("Content-Type"), tc.contentType)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q does not confine the page to its origin", csp)
			}
		})
	}
}

// TestPageReferencesOnlyItsOwnFiles is the fast check behind the browser
// test's: every script, stylesheet and fetch of the page is a relative URL,
// so it stays on the server that served it.
func TestPageReferencesOnlyItsOwnFiles(t *testing.T) {
	attr := regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	call := regexp.MustCompile(`fetch\(\s*['"` + "`" + `]([^'"` + "`" + `]*)`)
	for _, tc := range []struct {
		file string
		re   *regexp.Regexp
		want int
	}{
		{"index.html", attr, 5},
		{"assets/dashboard.js", call, 1},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		refs := tc.re.FindAllStringSubmatch(string(b), -1)
		if len(refs) != tc.want {
			t.Errorf("%s: %d references, want %d: %q", tc.file, len(refs), tc.want, refs)
		}
		for _, m := range refs {
			if u := m[1]; strings.Contains(u, "//") || strings.HasPrefix(u, "/") || (strings.Contains(u, ":") && u != "data:,") {
				t.Errorf("%s references %q, not a relative URL", tc.file, u)
			}
		}
	}
	for _, f := range []string{"index.html", "assets/dashboard.js", "assets/dashboard.css"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`https?://`).Find(b); m != nil {
			t.Errorf("%s contains an absolute URL", f)
		}
	}
}
