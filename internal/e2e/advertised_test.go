package e2e

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/childproc"
)

// startAdvertisingBroker runs the development broker on a free loopback
// address, advertising advertised instead, and returns where it listens.
func startAdvertisingBroker(t *testing.T, advertised func(listen string) string) string {
	t.Helper()
	addr := childproc.FreeAddr(t)
	p := start(t, "devbroker", map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_ADVERTISED_ADDR": advertised(addr), "LOG_LEVEL": "INFO"})
	childproc.WaitTCP(t, addr, p, 20*time.Second)
	return addr
}

// TestAdvertisedAddressUnreachable: the broker answers on the bootstrap
// address but advertises one nothing listens on, as the seed's .env does
// inside Compose. The consumer, which otherwise waits for the broker for
// ever, counts each attempt under reason="advertised_address" (not as a
// network error) and stops with exit status 1 after a few; so does the
// producer, even with MAX_RETRIES=0. The same producer settings against a
// broker that advertises a different but reachable address run to the end.
func TestAdvertisedAddressUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the development broker, the consumer and the producer")
	}
	t.Parallel()
	// FreeAddr's port is closed once it returns.
	unreachable := startAdvertisingBroker(t, func(string) string {
		_, port, _ := net.SplitHostPort(childproc.FreeAddr(t))
		return "localhost:" + port
	})
	// The address it listens on, by another name.
	reachable := startAdvertisingBroker(t, func(listen string) string {
		_, port, _ := net.SplitHostPort(listen)
		return "localhost:" + port
	})

	t.Run("consumer", func(t *testing.T) {
		t.Parallel()
		env, _ := consumerEnv(t, unreachable, "views-advertised")
		env["METRICS_ADDR"] = childproc.FreeAddr(t)
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "consumer"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr, cmd.Env = &out, &out, environ(env)
		began := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read while it runs: its /metrics goes with it.
		var advertised, network float64
		for n := connectErrors(env["METRICS_ADDR"], "advertised_address"); n < 1; n = connectErrors(env["METRICS_ADDR"], "advertised_address") {
			if time.Since(began) > 30*time.Second {
				t.Fatalf("no advertised_address error counted after 30 s:\n%s", &out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for {
			n, nn := connectErrors(env["METRICS_ADDR"], "advertised_address"), connectErrors(env["METRICS_ADDR"], "network")
			if n < 0 || nn < 0 {
				break // stopped serving: exiting
			}
			advertised, network = n, nn
			time.Sleep(50 * time.Millisecond)
		}
		err := cmd.Wait()
		took := time.Since(began)
		var ee *exec.ExitError
		if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("consumer ended with %v after %v (context: %v), want exit status 1:\n%s", err, took, ctx.Err(), &out)
		}
		if advertised < 1 || network != 0 {
			t.Errorf("last counted %v advertised_address and %v network errors, want at least 1 and 0", advertised, network)
		}
		t.Logf("consumer stopped after %v, %v attempts counted", took.Round(time.Millisecond), advertised)
	})

	t.Run("producer", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"TOPIC_NAME": "views-advertised", "MAX_RETRIES": "0", "RETRY_DELAY": "100ms",
			"PRODUCER_INTERVAL": "0", "METRICS_ADDR": "off"}
		for _, tt := range []struct {
			broker string
			want   int
		}{
			{reachable, 0},
			{unreachable, 1},
		} {
			e := maps.Clone(env)
			e["KAFKA_SERVER"] = tt.broker
			if code, out := runToExit(t, "producer", e, 60*time.Second, "-count", "20"); code != tt.want {
				t.Errorf("producer against %s: exit status %d, want %d:\n%s", tt.broker, code, tt.want, out)
			}
		}
	})
}

// environ is env as a process environment.
func environ(env map[string]string) []string {
	out := []string{}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
