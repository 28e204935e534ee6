// Command consumer aggregates ad view events from Kafka into per-minute,
// per-campaign Parquet files. Settings come from the environment (see
// README). `consumer healthcheck` checks a running consumer's liveness
// probe and exits 0 or 1, for container healthchecks.
package main

// The modules the binary is built from, which its Dockerfile downloads.
//go:generate sh -c "go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}' . | sort -u > modules.txt"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/config"
	"github.com/viewlog/viewlog/internal/consumer"
	"github.com/viewlog/viewlog/internal/dashboard"
	"github.com/viewlog/viewlog/internal/httpserve"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/metrics"
	"github.com/viewlog/viewlog/internal/probe"
	"github.com/viewlog/viewlog/internal/storage"
	"github.com/viewlog/viewlog/internal/window"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck(ctx, nil); err != nil {
			fmt.Fprintln(os.Stderr, "consumer healthcheck:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, nil, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// healthcheck asks the consumer serving on METRICS_ADDR whether it is live.
func healthcheck(ctx context.Context, environ map[string]string) error {
	cfg, err := config.LoadConsumer(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if cfg.MetricsAddr == config.MetricsOff {
		return fmt.Errorf("METRICS_ADDR=off: the consumer serves no health probe")
	}
	return probe.Check(ctx, cfg.MetricsAddr, "/healthz")
}

// run wires the consumer. environ nil means the process environment. Logs go
// to stderr; when the consumer stops, its totals go to stdout as one JSON
// object, for scripts and tests.
func run(ctx context.Context, environ map[string]string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadConsumer(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := cfg.LogFormat.Logger(stderr, cfg.LogLevel)
	table, err := campaigns.LoadFile(cfg.CampaignsPath)
	if err != nil {
		return err
	}
	store, err := storage.Open(ctx, cfg.OutputDir, storage.Options{PathStyle: cfg.S3PathStyle, Logger: log})
	if err != nil {
		return err
	}
	if err := store.Check(ctx); err != nil {
		log.Warn("output not writable; windows will be retried until it is, and their offsets not committed before", "output", store.String(), "err", err)
	} else if n, err := store.RemoveStale(ctx, 10*time.Minute, time.Now()); err != nil {
		log.Warn("cleaning what interrupted writes left", "output", store.String(), "err", err)
	} else if n > 0 {
		log.Info("removed what interrupted writes left", "output", store.String(), "count", n)
	}

	client, err := kafkaio.NewClient(cfg.ClientConfig(), log)
	if err != nil {
		return err
	}
	defer client.Close()
	if cfg.TLSInsecureSkipVerify {
		log.Warn(config.InsecureSkipVerifyWarning)
	}

	// The HTTP server comes first, so that the probes and the connection
	// errors (viewlog_kafka_connect_errors_total: a consumer stuck on
	// refused credentials shows it) answer while the broker is awaited;
	// a taken port stops the program now.
	reg := metrics.NewRegistry()
	reg.MustRegister(client.Metrics())
	health := consumer.NewHealth(time.Duration(cfg.Interval), time.Now)
	tables := consumer.NewTables(cfg.CampaignsPath, table, time.Now)
	status := consumer.NewStatus(cfg.Topic, cfg.GroupID, health, tables.Info, time.Now)
	var ln net.Listener
	if cfg.MetricsAddr != config.MetricsOff {
		if ln, err = httpserve.Listen(cfg.MetricsAddr); err != nil {
			return err
		}
	}
	log.Info("consumer starting", "brokers", cfg.Brokers, "topic", cfg.Topic, "group", cfg.GroupID,
		"window", time.Duration(cfg.Window), "watermark_delay", time.Duration(cfg.WatermarkDelay),
		"interval", time.Duration(cfg.Interval), "partition_idle_timeout", time.Duration(cfg.IdleTimeout), "campaigns", table.Len(), "output", store.String(),
		"dead_letter_topic", deadLetterTopic(cfg), "http", cfg.MetricsAddr)

	g, gctx := errgroup.WithContext(ctx)
	runCtx, done := context.WithCancel(gctx)
	defer done()
	if ln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		mux.Handle("GET /healthz", probe.Handler(health.Live))
		mux.Handle("GET /readyz", probe.Handler(health.Ready))
		mux.Handle("GET /api/state", status.Handler())
		mux.Handle("/", dashboard.Handler())
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		g.Go(func() error { return httpserve.Serve(runCtx, log, ln, mux) })
	}

	var totals consumer.Counts
	g.Go(func() error {
		defer done()
		if err := client.WaitForBroker(runCtx, 0, time.Second); err != nil {
			if runCtx.Err() != nil {
				return nil
			}
			return err
		}
		// On a cluster that does not create topics on demand, a missing
		// dead-letter topic would stall the first batch with a rejected
		// record; creating it here, or failing here, says so at once.
		if cfg.DeadLetter {
			if err := client.EnsureTopic(runCtx, cfg.DeadLetterTopicSpec(), 0, time.Second); err != nil {
				if runCtx.Err() != nil {
					return nil
				}
				return err
			}
		}
		group, err := client.NewGroup(kafkaio.GroupConfig{
			Topic:          cfg.Topic,
			GroupID:        cfg.GroupID,
			Latest:         cfg.StartingOffsets == "latest",
			SessionTimeout: time.Duration(cfg.SessionTimeout),
		})
		if err != nil {
			return err
		}
		// A nil interface, not a nil *kafka.Writer, turns dead-lettering off.
		var dead consumer.DeadLetters
		if cfg.DeadLetter {
			w := client.NewWriter(kafkaio.WriterConfig{Topic: cfg.DeadLetterTopic, BatchSize: 1000})
			defer func() {
				if err := w.Close(); err != nil {
					log.Warn("close dead-letter writer", "err", err)
				}
			}()
			dead = w
		}
		c := consumer.New(consumer.Config{
			Topic:           cfg.Topic,
			Window:          window.Config{Size: time.Duration(cfg.Window), WatermarkDelay: time.Duration(cfg.WatermarkDelay)},
			Interval:        time.Duration(cfg.Interval),
			MaxBatchRecords: cfg.MaxBatchRecords,
			IdleTimeout:     time.Duration(cfg.IdleTimeout),
		}, log, consumer.Deps{
			Group:       group,
			Campaigns:   tables,
			Store:       store,
			DeadLetters: dead,
			Metrics:     consumer.NewMetrics(cfg.Topic, reg),
			Health:      health,
			Observers:   []consumer.Observer{&consumer.LogReports{Log: log}, status},
		})
		defer func() { totals = c.Totals() }()
		return c.Run(runCtx)
	})
	err = g.Wait()
	log.Info("consumer stopped", "total", totals.LogValue())
	if jerr := json.NewEncoder(stdout).Encode(struct {
		Totals consumer.TotalsState `json:"totals"`
	}{consumer.TotalsOf(totals)}); jerr != nil {
		err = errors.Join(err, fmt.Errorf("write totals: %w", jerr))
	}
	return err
}

func deadLetterTopic(cfg config.Consumer) string {
	if !cfg.DeadLetter {
		return "off"
	}
	return cfg.DeadLetterTopic
}
