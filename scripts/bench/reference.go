package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// refResult is what the reference producer subprocess prints on stdout.
type refResult struct {
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"`
}

// runReferenceProducer is the -kgo-produce mode: generate count records in
// memory first (the product's format, keyed by campaign), then time a
// franz-go producer sending them to topic, acks=all, partitioned by the
// Java client's murmur2 (franz-go's default key partitioner), uncompressed
// like the product's writer. It prints the time and CPU of the sending
// alone, client start included.
func runReferenceProducer(ctx context.Context, broker, topic string, count int64) error {
	g := newGenerator(streamSpec{records: count, perMinute: 1 << 40, partitions: 1, start: time.Now(), seed: uint64(time.Now().UnixNano())})
	recs := make([]kgo.Record, count)
	var a arena
	for i := range recs {
		val, v := g.next(a.tail())
		recs[i] = kgo.Record{Key: g.key(v), Value: a.keep(val)}
	}
	runtime.GC()

	cpu0, err := selfCPU()
	if err != nil {
		return err
	}
	began := time.Now()
	cl, err := kgo.NewClient(append(kgoOpts(broker, topic), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	var failed atomic.Int64
	var firstErr atomic.Value
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
	}
	for i := range recs {
		cl.Produce(ctx, &recs[i], done)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	took := time.Since(began)
	cpu1, err := selfCPU()
	if err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d records failed: %v", n, count, firstErr.Load())
	}
	return json.NewEncoder(os.Stdout).Encode(refResult{Records: count, Seconds: took.Seconds(), CPU: cpu1 - cpu0})
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), nil
}
