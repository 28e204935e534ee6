// Package httpserve runs a program's HTTP server for as long as its owner
// runs: the metrics, health probes, status API and dashboard that cmd/
// puts on one mux.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listen binds addr, so that a taken port stops the program at start with
// the address in the message rather than after it has joined its group.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR=%s: %w (set METRICS_ADDR to a free host:port, or off)", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx is done, then shuts the server down,
// giving requests in flight two seconds. It returns an error only if
// serving failed.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving HTTP", "addr", ln.Addr().String(), "paths", "/ /metrics /healthz /readyz /api/state")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
