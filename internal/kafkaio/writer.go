package kafkaio

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// WriterConfig configures NewWriter.
type WriterConfig struct {
	Topic string
	// BatchSize is the most messages in one produce request (one
	// partition's batch); the writer sends a batch as soon as it holds
	// that many, or 1 MiB, or after 5 ms.
	BatchSize int
	// Completion, if not nil, makes the writer asynchronous:
	// WriteMessages returns once the messages are queued, and the writer
	// calls Completion with every message once the broker has
	// acknowledged it or the writer has given up on it (err not nil),
	// from one goroutine per partition. Close waits for every call.
	Completion func(msgs []kafka.Message, err error)
}

// NewWriter returns a kafka-go Writer that waits for all in-sync replicas,
// partitions by key with the Java client's murmur2 hash (so keyed records
// land where Kafka Streams or any Java producer would put them), and sends a
// full batch at once instead of after kafka-go's default one-second
// BatchTimeout. The caller closes it, which flushes.
func (c *Client) NewWriter(cfg WriterConfig) *kafka.Writer {
	log := c.log
	return &kafka.Writer{
		Addr:         kafka.TCP(c.cfg.Brokers...),
		Transport:    &partitionCache{RoundTripper: c.transport, topic: cfg.Topic},
		Topic:        cfg.Topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    max(cfg.BatchSize, 1),
		// The broker default message.max.bytes: a larger message fails alone,
		// client-side, instead of failing the whole batch at the broker.
		BatchBytes:             1 << 20,
		BatchTimeout:           5 * time.Millisecond,
		MaxAttempts:            5,
		WriteBackoffMin:        100 * time.Millisecond,
		WriteBackoffMax:        2 * time.Second,
		AllowAutoTopicCreation: true,
		Async:                  cfg.Completion != nil,
		Completion:             cfg.Completion,
		Logger:                 slogLogger{log: log, level: slog.LevelDebug},
		ErrorLogger:            slogLogger{log: log, level: slog.LevelWarn},
	}
}

// partitionCache answers the Writer's lookups of its topic's partitions from
// a response it keeps for partitionCacheTTL, and passes every other request
// to the client's transport. kafka-go's Writer looks the partitions up once
// for every message it is handed (writer.go, WriteMessages, v0.4.51), and
// although the transport answers from its own metadata cache, it copies
// and filters that cache on every call: a third of the producer's CPU at
// full speed, and most of its allocations.
type partitionCache struct {
	kafka.RoundTripper
	topic string
	last  atomic.Pointer[cachedMetadata]
}

// partitionCacheTTL is how long a topic's partition count is reused: a
// partition added to the topic is written to at most this much later than
// the transport's own cache (6 s) would allow.
const partitionCacheTTL = time.Second

type cachedMetadata struct {
	res *metadata.Response
	at  time.Time
}

// RoundTrip implements kafka.RoundTripper.
func (c *partitionCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadata.Request)
	if !ok || len(m.TopicNames) != 1 || m.TopicNames[0] != c.topic {
		return c.RoundTripper.RoundTrip(ctx, addr, req)
	}
	if e := c.last.Load(); e != nil && time.Since(e.at) < partitionCacheTTL {
		return e.res, nil
	}
	res, err := c.RoundTripper.RoundTrip(ctx, addr, req)
	// Only a complete answer is kept: a missing topic (being created) or
	// an error is asked again next time.
	if r, ok := res.(*metadata.Response); ok && err == nil && len(r.Topics) == 1 &&
		r.Topics[0].Name == c.topic && r.Topics[0].ErrorCode == 0 && len(r.Topics[0].Partitions) > 0 {
		c.last.Store(&cachedMetadata{res: r, at: time.Now()})
	}
	return res, err
}
