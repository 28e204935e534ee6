// Command devbroker runs a single-node Kafka-protocol broker for development
// and tests (franz-go's kfake). Topics are created on first use with
// DEVBROKER_PARTITIONS partitions, unless DEVBROKER_AUTO_CREATE_TOPICS=false.
// Unless DEVBROKER_DATA_DIR is set it keeps everything in memory: stopping it
// loses every record and committed offset. It tells clients to connect to
// DEVBROKER_ADVERTISED_ADDR, if set, as Kafka's advertised.listeners does,
// and otherwise to the address it listens on. The DEVBROKER_SASL_* and
// DEVBROKER_TLS_* settings make it a secured cluster, as managed ones are.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	log := cfg.LogFormat.Logger(stderr, cfg.LogLevel)
	var listening string
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
		// kfake binds 127.0.0.1:<port>; listen where asked instead. The
		// address it advertises is the one its listener reports.
		kfake.Ports(0),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, cfg.Addr)
			if err != nil {
				return nil, err
			}
			listening = ln.Addr().String()
			if cfg.AdvertisedAddr == "" {
				return ln, nil
			}
			return advertisedListener{Listener: ln, addr: cfg.AdvertisedAddr}, nil
		}),
		kfake.WithLogger(kfakeLogger{log}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, securityOpts(cfg)...)
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	storage := "in memory only: stopping the broker loses every record and committed offset"
	if cfg.DataDir != "" {
		storage = "persisted in " + cfg.DataDir
	}
	log.Info("development broker listening", "addr", listening, "advertised", cluster.ListenAddrs()[0], "default_partitions", cfg.Partitions, "storage", storage,
		"auto_create_topics", cfg.AutoCreateTopics, "security", security(cfg))
	<-ctx.Done()
	cluster.Close()
	log.Info("development broker stopped")
	return nil
}

// securityOpts are the kfake options for TLS, SASL users and ACLs, and
// topic auto-creation.
func securityOpts(cfg config.DevBroker) []kfake.Opt {
	var opts []kfake.Opt
	if cfg.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if t := cfg.TLS(); t != nil {
		opts = append(opts, kfake.TLS(t))
	}
	if !cfg.SASL() {
		return opts
	}
	opts = append(opts, kfake.EnableSASL())
	if len(cfg.SuperUsers) > 0 {
		opts = append(opts, kfake.EnableACLs())
	}
	for _, m := range cfg.SASLMechanisms {
		for _, u := range cfg.SASLUsers {
			if len(cfg.SuperUsers) == 0 || slices.Contains(cfg.SuperUsers, u.Name) {
				opts = append(opts, kfake.Superuser(string(m), u.Name, u.Password.Reveal()))
			} else {
				opts = append(opts, kfake.User(string(m), u.Name, u.Password.Reveal(), applicationACLs...))
			}
		}
	}
	return opts
}

// applicationACLs are what a managed cluster typically grants an
// application's account: every topic and group, but no topic creation.
// A DENY wins over any ALLOW.
var applicationACLs = []kfake.ACL{
	{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true},
	{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationCreate, Allow: false},
	{Resource: kmsg.ACLResourceTypeGroup, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true},
	{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationDescribe, Allow: true},
	{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationIdempotentWrite, Allow: true},
}

// security describes the listener for the start-up log line.
func security(cfg config.DevBroker) string {
	var parts []string
	switch {
	case cfg.TLS() != nil && cfg.TLS().ClientCAs != nil:
		parts = append(parts, "TLS with client certificates")
	case cfg.TLS() != nil:
		parts = append(parts, "TLS")
	default:
		parts = append(parts, "plaintext")
	}
	if cfg.SASL() {
		names := make([]string, len(cfg.SASLUsers))
		for i, u := range cfg.SASLUsers {
			names[i] = u.Name
		}
		parts = append(parts, fmt.Sprintf("SASL %v for %v", cfg.SASLMechanisms, names))
		if len(cfg.SuperUsers) > 0 {
			parts = append(parts, fmt.Sprintf("ACLs: only %v may create topics", cfg.SuperUsers))
		}
	}
	return strings.Join(parts, "; ")
}

// advertisedListener reports addr as its address, which kfake advertises
// to clients in its metadata, as Kafka does its advertised.listeners.
type advertisedListener struct {
	net.Listener
	addr string
}

func (l advertisedListener) Addr() net.Addr { return hostPort(l.addr) }

// hostPort is a host:port whose host may be a name.
type hostPort string

func (a hostPort) Network() string { return "tcp" }
func (a hostPort) String() string  { return string(a) }

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
