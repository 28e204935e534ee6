package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

type producerResult struct {
	prod []sample // the product's producer, -count N
	ref  []sample // franz-go sending N pre-generated records
}

// producerRuns is measurement 5: per run, the producer binary and the
// franz-go reference, each against a fresh broker.
func (b *bench) producerRuns(ctx context.Context) (*producerResult, error) {
	res := &producerResult{}
	n := b.o.producerRecords
	for i := range b.o.runs {
		p, err := b.withBroker(ctx, func(addr, topic string) (sample, error) { return b.produce(ctx, addr, topic, n) })
		if err != nil {
			return nil, fmt.Errorf("producer run %d: %w", i+1, err)
		}
		state := "done"
		if !p.complete {
			state = fmt.Sprintf("STOPPED at the %v cap", b.o.producerCap)
		}
		b.logf("producer %d/%d: %s records in %.2fs, %s rec/s, %.2f CPU-s/M (%s)",
			i+1, b.o.runs, commas(p.records), p.wall, commas(int64(p.rate())), p.cpuPerM(), state)
		r, err := b.withBroker(ctx, func(addr, topic string) (sample, error) { return b.reference(ctx, addr, topic, n) })
		if err != nil {
			return nil, fmt.Errorf("reference producer run %d: %w", i+1, err)
		}
		b.logf("franz-go %d/%d: %s records in %.2fs, %s rec/s, %.2f CPU-s/M",
			i+1, b.o.runs, commas(r.records), r.wall, commas(int64(r.rate())), r.cpuPerM())
		res.prod = append(res.prod, p)
		res.ref = append(res.ref, r)
	}
	return res, nil
}

// withBroker runs f against a fresh broker with a fresh topic, and checks
// that the topic then holds the records f reports.
func (b *bench) withBroker(ctx context.Context, f func(addr, topic string) (sample, error)) (sample, error) {
	const topic = "bench-producer"
	broker, addr, err := b.startBroker(ctx)
	if err != nil {
		return sample{}, err
	}
	defer broker.stop(10 * time.Second) //nolint:errcheck // on error paths; the clean path checks below
	if err := createTopic(ctx, addr, topic, b.o.partitions); err != nil {
		return sample{}, err
	}
	s, err := f(addr, topic)
	if err != nil {
		return s, err
	}
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	n, err := logEnd(ctx, client, topic, b.o.partitions)
	if err != nil {
		return s, err
	}
	if n != s.records {
		return s, fmt.Errorf("topic holds %d records, the producer accounted for %d", n, s.records)
	}
	return s, stopBroker(broker)
}

// produce runs `producer -count n` on its defaults but PRODUCER_INTERVAL=0,
// timed from process start to exit; stopped with SIGTERM at the cap, when
// its rate is what the topic received by then.
func (b *bench) produce(ctx context.Context, addr, topic string, n int64) (sample, error) {
	p, err := start("producer", b.bin("producer"), []string{"-count", strconv.FormatInt(n, 10)}, childEnv(map[string]string{
		"KAFKA_SERVER":      addr,
		"TOPIC_NAME":        topic,
		"PRODUCER_INTERVAL": "0",
	}), nil, "")
	if err != nil {
		return sample{}, err
	}
	defer p.stop(30 * time.Second) //nolint:errcheck // on error paths only
	s := sample{records: n, complete: true}
	t := time.NewTimer(b.o.producerCap)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return s, fmt.Errorf("producer: %w\n%s", p.err, p.out.tail())
		}
	case <-t.C:
		s.complete = false
		if err := p.stop(30 * time.Second); err != nil {
			return s, fmt.Errorf("producer shutdown: %w\n%s", err, p.out.tail())
		}
		client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
		if s.records, err = logEnd(ctx, client, topic, b.o.partitions); err != nil {
			return s, err
		}
	case <-ctx.Done():
		return s, ctx.Err()
	}
	b.dump(p)
	s.wall, s.cpu = p.exited.Sub(p.started).Seconds(), p.cpuSeconds()
	return s, nil
}

// reference runs this program with -kgo-produce: franz-go sending n
// records it generated before its clock started.
func (b *bench) reference(ctx context.Context, addr, topic string, n int64) (sample, error) {
	var mu sync.Mutex
	var res *refResult
	onLine := func(line string) {
		if !strings.HasPrefix(line, "{") {
			return
		}
		var r refResult
		if json.Unmarshal([]byte(line), &r) == nil {
			mu.Lock()
			res = &r
			mu.Unlock()
		}
	}
	c, err := start("franz-go producer", b.self, []string{"-kgo-produce", "-broker", addr, "-topic", topic, "-count", strconv.FormatInt(n, 10)}, childEnv(nil), onLine, "")
	if err != nil {
		return sample{}, err
	}
	if err := c.wait(ctx, b.o.timeout); err != nil {
		_ = c.stop(5 * time.Second)
		return sample{}, err
	}
	b.dump(c)
	mu.Lock()
	defer mu.Unlock()
	if res == nil {
		return sample{}, fmt.Errorf("franz-go producer printed no result\n%s", c.out.tail())
	}
	return sample{records: res.Records, wall: res.Seconds, cpu: res.CPU, complete: true}, nil
}
