// Command consumer aggregates ad view events from Kafka into per-minute,
// per-campaign Parquet files. Settings come from the environment (see
// README).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/config"
	"github.com/viewlog/viewlog/internal/consumer"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/metrics"
	"github.com/viewlog/viewlog/internal/parquetsink"
	"github.com/viewlog/viewlog/internal/window"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, nil, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// run wires the consumer. environ nil means the process environment.
func run(ctx context.Context, environ map[string]string, stderr io.Writer) error {
	cfg, err := config.LoadConsumer(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel.Level()}))
	table, err := campaigns.LoadFile(cfg.CampaignsPath)
	if err != nil {
		return err
	}
	sink := parquetsink.New(cfg.OutputDir)
	if err := sink.Check(); err != nil {
		log.Warn("output directory not writable; windows will be retried until it is, and their offsets not committed before", "err", err)
	} else if n, err := sink.RemoveStaleTemp(10*time.Minute, time.Now()); err != nil {
		log.Warn("cleaning temporary files", "err", err)
	} else if n > 0 {
		log.Info("removed temporary files left by an interrupted write", "count", n)
	}
	log.Info("consumer starting", "brokers", cfg.Brokers, "topic", cfg.Topic, "group", cfg.GroupID,
		"window", time.Duration(cfg.Window), "watermark_delay", time.Duration(cfg.WatermarkDelay),
		"interval", time.Duration(cfg.Interval), "campaigns", table.Len(), "output", cfg.OutputDir,
		"dead_letter_topic", deadLetterTopic(cfg))

	client, err := kafkaio.NewClient(cfg.ClientConfig(), log)
	if err != nil {
		return err
	}
	defer client.Close()
	if cfg.TLSInsecureSkipVerify {
		log.Warn(config.InsecureSkipVerifyWarning)
	}
	// The metrics endpoint serves from before the broker wait, so that a
	// consumer stuck on refused credentials or certificates shows it
	// (viewlog_kafka_connect_errors_total).
	reg := metrics.NewRegistry()
	reg.MustRegister(client.Metrics())
	g, gctx := errgroup.WithContext(ctx)
	runCtx, done := context.WithCancel(gctx)
	defer func() { done(); _ = g.Wait() }()
	if cfg.MetricsAddr != "" {
		g.Go(func() error { return metrics.Serve(runCtx, log, cfg.MetricsAddr, reg) })
	}
	if err := client.WaitForBroker(runCtx, 0, time.Second); err != nil {
		return startFailed(ctx, done, g, err)
	}
	// On a cluster that does not create topics on demand, a missing
	// dead-letter topic would stall the first batch with a rejected
	// record; creating it here, or failing here, says so at once.
	if cfg.DeadLetter {
		if err := client.EnsureTopic(runCtx, cfg.DeadLetterTopicSpec(), 0, time.Second); err != nil {
			return startFailed(ctx, done, g, err)
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
	}, log, group, table, sink, dead, consumer.NewMetrics(reg))

	g.Go(func() error {
		defer done()
		return c.Run(runCtx)
	})
	err = g.Wait()
	t := c.Totals()
	log.Info("consumer stopped", "total", t.LogValue())
	return err
}

// startFailed is what run returns when the start was cut short by err: the
// metrics server's own error if that is what stopped it, nothing on an
// interrupt, else err.
func startFailed(ctx context.Context, done context.CancelFunc, g *errgroup.Group, err error) error {
	done()
	if werr := g.Wait(); werr != nil {
		return werr
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func deadLetterTopic(cfg config.Consumer) string {
	if !cfg.DeadLetter {
		return "off"
	}
	return cfg.DeadLetterTopic
}
