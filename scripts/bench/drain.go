package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// Fetch settings shared with the consumer's partition readers
// (internal/kafkaio/fetch.go), so that the bare drain asks the broker for
// the same fetches.
const (
	fetchMaxBytes = 1 << 20
	fetchMaxWait  = 250 * time.Millisecond
)

// drainResult is what the bare drain subprocess prints on stdout.
type drainResult struct {
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
	PeakRSS int64   `json:"peak_rss"` // VmHWM, bytes
}

// runBareDrain is the -bare-drain mode: read every record of topic from the
// start to the high watermark of each partition, one goroutine and one
// leader connection per partition, and count them. Nothing is decoded.
func runBareDrain(ctx context.Context, broker, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	parts, err := partitions(ctx, broker, topic)
	if err != nil {
		return err
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error {
			n, err := drainPartition(gctx, broker, topic, p)
			total.Add(n)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	took := time.Since(began)
	rss, err := procStatus("/proc/self/status", "VmHWM")
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(drainResult{Records: total.Load(), Seconds: took.Seconds(), PeakRSS: rss})
}

func drainPartition(ctx context.Context, broker, topic string, partition int) (int64, error) {
	conn, err := (&kafka.Dialer{Timeout: 10 * time.Second}).DialLeader(ctx, "tcp", broker, topic, partition)
	if err != nil {
		return 0, fmt.Errorf("partition %d: %w", partition, err)
	}
	defer conn.Close()
	// Closing the connection interrupts a fetch in flight on cancellation.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, err
	}
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return 0, fmt.Errorf("partition %d offsets: %w", partition, err)
	}
	// From here on only fetches, each with its own read deadline.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return 0, err
	}
	var n int64
	for offset := first; offset < last; {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			return n, err
		}
		if err := conn.SetReadDeadline(time.Now().Add(fetchMaxWait + 10*time.Second)); err != nil {
			return n, err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: fetchMaxWait})
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			if m.Offset < offset {
				continue
			}
			n++
			offset = m.Offset + 1
		}
		if err := batch.Close(); err != nil && !errors.Is(err, kafka.RequestTimedOut) {
			return n, fmt.Errorf("partition %d fetch at %d: %w", partition, offset, err)
		}
	}
	return n, nil
}

// partitions lists the partition ids of topic.
func partitions(ctx context.Context, broker, topic string) ([]int, error) {
	conn, err := (&kafka.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	ps, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids, nil
}

// topicEnd is the number of records in topic: the sum over its partitions
// of high watermark minus log start.
func topicEnd(ctx context.Context, broker, topic string) (int64, int, error) {
	parts, err := partitions(ctx, broker, topic)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, p := range parts {
		conn, err := (&kafka.Dialer{Timeout: 10 * time.Second}).DialLeader(ctx, "tcp", broker, topic, p)
		if err != nil {
			return 0, 0, err
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		first, last, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("partition %d offsets: %w", p, err)
		}
		total += last - first
	}
	return total, len(parts), nil
}
