// Package kafkaio is the pipeline's Kafka I/O, built on segmentio/kafka-go:
// waiting for the broker (and saying why it refuses: credentials,
// certificates, a security protocol it does not speak, or an address it
// advertises that cannot be reached), creating the
// topics a program needs, a producer-side writer tuned for small batches,
// and a consumer group that fetches each assigned partition directly and
// commits offsets together with a metadata string. One Client, made from one
// ClientConfig, builds every connection.
//
// The consumer side does not use kafka-go's Reader. The Reader offers no way
// to attach metadata to a commit, hides rebalances, and can hand out messages
// of a partition it no longer owns. Here a Generation owns its fetchers: when
// the generation ends, they stop, and nothing fetched under it survives.
package kafkaio

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// slogLogger bridges kafka-go's Printf-style logger to slog.
type slogLogger struct {
	log   *slog.Logger
	level slog.Level
}

func (l slogLogger) Printf(format string, args ...any) {
	l.log.Log(context.Background(), l.level, fmt.Sprintf(format, args...))
}

// WaitForBroker dials the bootstrap brokers until one answers a metadata
// request, logging each failed attempt with its Reason and counting it in
// viewlog_kafka_connect_errors_total, with exponential backoff from delay up
// to 30 s. It gives up after retries failed attempts (0 means try forever)
// or when ctx is done. Refused credentials and certificates are retried too:
// the fix is often on the cluster's side (a user or an ACL not created yet),
// and a supervisor would only restart a program that exited, in a loop.
// A broker that answers but advertises an address this client cannot
// reach is the exception: the wait gives up after advertisedAttempts such
// attempts in a row, with an *AdvertisedAddressError.
func (c *Client) WaitForBroker(ctx context.Context, retries int, delay time.Duration) error {
	log, brokers := c.log, c.cfg.Brokers
	delay = max(delay, 100*time.Millisecond)
	advertised := 0 // attempts in a row that failed on an advertised address
	for attempt := 1; ; attempt++ {
		err := c.probe(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("broker reachable", "brokers", brokers, "attempt", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason := Reason(err)
		c.connectErrors.WithLabelValues(reason).Inc()
		if reason == ReasonAdvertisedAddress {
			advertised++
		} else {
			advertised = 0
		}
		if retries > 0 && attempt >= retries || advertised >= advertisedAttempts {
			return fmt.Errorf("broker %v: giving up after attempt %d: %w", brokers, attempt, err)
		}
		log.Warn("connecting to the broker failed, retrying", "brokers", brokers, "attempt", attempt, "retry_in", delay, "reason", reason, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// probe returns nil if a broker answers and every address it advertises
// does too, an *AdvertisedAddressError if one of those does not, or the
// classified error of the last bootstrap broker tried.
func (c *Client) probe(ctx context.Context) error {
	var last error
	for _, b := range c.cfg.Brokers {
		brokers, reached, err := c.probeOne(ctx, b)
		if err == nil {
			return c.checkAdvertised(ctx, b, reached, brokers)
		}
		last = c.classify(ctx, b, err)
	}
	return last
}

// probeOne asks broker for the cluster's brokers, and returns them with
// the network address the connection reached.
func (c *Client) probeOne(ctx context.Context, broker string) ([]kafka.Broker, net.Addr, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := c.dialer.DialContext(dctx, "tcp", broker)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	brokers, err := conn.Brokers()
	return brokers, conn.RemoteAddr(), err
}
