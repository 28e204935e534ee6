package kafkaio

import (
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterConfig configures NewWriter.
type WriterConfig struct {
	Topic string
	// BatchSize is the number of messages the caller hands over at once; the
	// writer sends a batch as soon as it holds that many.
	BatchSize int
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
		Transport:    c.transport,
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
		Logger:                 slogLogger{log: log, level: slog.LevelDebug},
		ErrorLogger:            slogLogger{log: log, level: slog.LevelWarn},
	}
}
