// Package dashboard serves the consumer's status page: a self-contained HTML
// page, embedded in the binary, that polls GET api/state on the same server
// every few seconds and draws it with a vendored copy of uPlot
// (assets/uplot, see its VERSION file). The page loads nothing from
// anywhere else, so it works on machines without internet access and leaks
// nothing about who watches it.
//
// The state it expects is the JSON of the consumer's /api/state; fields it
// does not know are ignored. testdata/state.json is an example.
package dashboard

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

//go:embed index.html
var page []byte

// contentSecurityPolicy lets the page load only from its own origin: a
// change that pulled in a remote script, font or stylesheet fails in the
// browser (and in the browser test) instead of quietly phoning out.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at "/" and its scripts and styles under
// "/assets/". Every other path is 404, so it can be mounted at "/" of a mux
// that routes /api/state, /metrics and the health checks elsewhere.
func Handler() http.Handler {
	files := http.FileServerFS(assets)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(page)
	})
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		// No directory listings: the assets are files, nothing to browse.
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}
