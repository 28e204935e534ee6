// Command producer emits simulated ad view events to Kafka. Settings come
// from the environment (see README); -count bounds the run for tests and
// benchmarks.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/config"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/metrics"
	"github.com/viewlog/viewlog/internal/producer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

// run wires the producer. environ nil means the process environment.
func run(ctx context.Context, args []string, environ map[string]string, stderr io.Writer) error {
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel.Level()}))
	log.Info("producer starting", "brokers", cfg.Brokers, "topic", cfg.Topic, "interval", cfg.IntervalDuration(), "batch_size", cfg.BatchSize, "count", *count)

	client, err := kafkaio.NewClient(cfg.ClientConfig(), log)
	if err != nil {
		return err
	}
	defer client.Close()
	if cfg.TLSInsecureSkipVerify {
		log.Warn(config.InsecureSkipVerifyWarning)
	}
	if err := client.WaitForBroker(ctx, cfg.MaxRetries, time.Duration(cfg.RetryDelay)); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Created here, with TOPIC_PARTITIONS and TOPIC_REPLICATION_FACTOR, on
	// clusters that do not create topics on first use.
	if err := client.EnsureTopic(ctx, cfg.TopicSpec(), cfg.MaxRetries, time.Duration(cfg.RetryDelay)); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	reg := metrics.NewRegistry()
	w := client.NewWriter(kafkaio.WriterConfig{Topic: cfg.Topic, BatchSize: cfg.BatchSize})
	p := producer.New(producer.Config{Interval: cfg.IntervalDuration(), BatchSize: cfg.BatchSize, Count: *count},
		log, w, producer.NewGenerator(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))), time.Now, reg)

	g, gctx := errgroup.WithContext(ctx)
	runCtx, done := context.WithCancel(gctx)
	g.Go(func() error {
		defer done()
		return p.Run(runCtx)
	})
	if cfg.MetricsAddr != "" {
		g.Go(func() error { return metrics.Serve(runCtx, log, cfg.MetricsAddr, reg) })
	}
	err = g.Wait()
	if cerr := w.Close(); cerr != nil {
		log.Error("flush on close", "err", cerr)
	}
	return err
}
