package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// createTopic creates topic with the given number of partitions, so that
// every run starts from a known layout instead of the broker's
// auto-creation.
func createTopic(ctx context.Context, addr, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// kgoOpts are the producer settings the bench's own producers share with
// the product's: acks from all in-sync replicas, no compression (kafka-go's
// Writer default, which the product keeps), 1 MiB batches.
func kgoOpts(addr, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(1 << 18),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
}

// arena hands out record values from large chunks, so that the pre-load
// does not allocate once per record; a chunk is freed once every record in
// it has been acknowledged and dropped.
type arena struct {
	chunk []byte
}

const arenaChunk = 4 << 20

// tail is an empty slice to append one value to.
func (a *arena) tail() []byte {
	if cap(a.chunk)-len(a.chunk) < 4096 {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	return a.chunk[len(a.chunk):]
}

// keep claims v, appended to the last tail, and returns it capped so that
// nothing appended later overwrites it.
func (a *arena) keep(v []byte) []byte {
	if cap(v) == cap(a.chunk)-len(a.chunk) {
		a.chunk = a.chunk[:len(a.chunk)+len(v)]
	}
	return v[:len(v):len(v)]
}

// preload writes spec's stream to topic with franz-go, each record to the
// partition the product's partitioner gives its key, and returns the model
// of what the consumer must make of it.
func preload(ctx context.Context, addr, topic string, spec streamSpec) (*model, time.Duration, error) {
	began := time.Now()
	if err := createTopic(ctx, addr, topic, spec.partitions); err != nil {
		return nil, 0, err
	}
	cl, err := kgo.NewClient(append(kgoOpts(addr, topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, 0, fmt.Errorf("pre-load client: %w", err)
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	g := newGenerator(spec)
	m := newModel(spec.partitions)
	var a arena
	for i := int64(0); i < spec.records; i++ {
		if i%65536 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		val, v := g.next(a.tail())
		val = a.keep(val)
		m.add(v, g.table[v.campaign].network)
		cl.Produce(ctx, &kgo.Record{Key: g.key(v), Value: val, Partition: v.partition}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, 0, fmt.Errorf("pre-load flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return nil, 0, fmt.Errorf("pre-load: %w", firstErr)
	}
	return m, time.Since(began), nil
}
