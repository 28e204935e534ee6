// Command producer emits simulated ad view events to Kafka. Settings come
// from the environment (see README); -count bounds the run for tests and
// benchmarks. `producer healthcheck` checks a running producer's liveness
// probe and exits 0 or 1, for container healthchecks.
package main

// The modules the binary is built from, which its Dockerfile downloads.
//go:generate sh -c "go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}' . | sort -u > modules.txt"

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/config"
	"github.com/viewlog/viewlog/internal/httpserve"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/metrics"
	"github.com/viewlog/viewlog/internal/probe"
	"github.com/viewlog/viewlog/internal/producer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck(ctx, nil); err != nil {
			fmt.Fprintln(os.Stderr, "producer healthcheck:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], nil, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

// healthcheck asks the producer serving on METRICS_ADDR whether it is live.
func healthcheck(ctx context.Context, environ map[string]string) error {
	cfg, err := config.LoadProducer(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if cfg.MetricsAddr == config.MetricsOff {
		return errors.New("METRICS_ADDR=off: the producer serves no health probe")
	}
	return probe.Check(ctx, cfg.MetricsAddr, "/healthz")
}

// run wires the producer. environ nil means the process environment. Logs go
// to stderr; when the producer stops, what it sent and what failed go to
// stdout as one JSON object, for scripts and tests.
func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int64("count", 0, "stop after this many records (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 0 {
		return fmt.Errorf("-count %d: must not be negative", *count)
	}
	cfg, err := config.LoadProducer(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := cfg.LogFormat.Logger(stderr, cfg.LogLevel)
	client, err := kafkaio.NewClient(cfg.ClientConfig(), log)
	if err != nil {
		return err
	}
	defer client.Close()
	if cfg.TLSInsecureSkipVerify {
		log.Warn(config.InsecureSkipVerifyWarning)
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(client.Metrics())
	p := producer.New(producer.Config{Interval: cfg.IntervalDuration(), BatchSize: cfg.BatchSize, Count: *count},
		log, producer.KafkaWriter(client, cfg.Topic), producer.NewGenerator(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))), time.Now, reg)

	// The HTTP server comes first, so that the probes answer while the
	// broker is awaited; a taken port stops the program now.
	var ln net.Listener
	if cfg.MetricsAddr != config.MetricsOff {
		if ln, err = httpserve.Listen(cfg.MetricsAddr); err != nil {
			return err
		}
	}
	log.Info("producer starting", "brokers", cfg.Brokers, "topic", cfg.Topic, "interval", cfg.IntervalDuration(),
		"batch_size", cfg.BatchSize, "count", *count, "http", cfg.MetricsAddr)

	g, gctx := errgroup.WithContext(ctx)
	runCtx, done := context.WithCancel(gctx)
	defer done()
	if ln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		mux.Handle("GET /healthz", probe.Handler(p.Live))
		mux.Handle("GET /readyz", probe.Handler(p.Ready))
		g.Go(func() error { return httpserve.Serve(runCtx, log, ln, mux) })
	}
	g.Go(func() error {
		defer done()
		if err := client.WaitForBroker(runCtx, cfg.MaxRetries, time.Duration(cfg.RetryDelay)); err != nil {
			if runCtx.Err() != nil {
				return nil
			}
			return err
		}
		// Most managed clusters create no topic on first use.
		if err := client.EnsureTopic(runCtx, cfg.TopicSpec(), cfg.MaxRetries, time.Duration(cfg.RetryDelay)); err != nil {
			if runCtx.Err() != nil {
				return nil
			}
			return err
		}
		return p.Run(runCtx)
	})
	err = g.Wait()
	if jerr := json.NewEncoder(stdout).Encode(p.Stats()); jerr != nil {
		err = errors.Join(err, fmt.Errorf("write totals: %w", jerr))
	}
	return err
}
