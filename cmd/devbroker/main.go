// Command devbroker runs a single-node Kafka-protocol broker for development
// and tests (franz-go's kfake). Topics are created on first use with
// DEVBROKER_PARTITIONS partitions. Unless DEVBROKER_DATA_DIR is set it keeps
// everything in memory: stopping it loses every record and committed offset.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/viewlog/viewlog/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, nil, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ map[string]string, stderr io.Writer) error {
	cfg, err := config.LoadDevBroker(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel.Level()}))
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		// kfake binds 127.0.0.1:<port>; listen where asked instead. The
		// address it advertises is the one it listens on.
		kfake.Ports(0),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.Addr) }),
		kfake.WithLogger(kfakeLogger{log}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	storage := "in memory only: stopping the broker loses every record and committed offset"
	if cfg.DataDir != "" {
		storage = "persisted in " + cfg.DataDir
	}
	log.Info("development broker listening", "addr", cluster.ListenAddrs()[0], "default_partitions", cfg.Partitions, "storage", storage)
	<-ctx.Done()
	cluster.Close()
	log.Info("development broker stopped")
	return nil
}

// kfakeLogger bridges kfake's logger to slog at debug level: kfake logs
// every request, which is noise unless one is debugging the protocol.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	lv := slog.LevelDebug
	if level == kfake.LogLevelError {
		lv = slog.LevelWarn
	}
	l.log.Log(context.Background(), lv, fmt.Sprintf(msg, args...))
}
