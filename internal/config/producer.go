package config

import (
	"errors"
	"strconv"
	"time"

	"github.com/viewlog/viewlog/internal/kafkaio"
)

// Producer is the producer's configuration.
type Producer struct {
	// Kafka holds KAFKA_SERVER (Brokers) and the security settings.
	Kafka
	Topic     string   `env:"TOPIC_NAME" envDefault:"view_log"`
	Interval  Interval `env:"PRODUCER_INTERVAL" envDefault:"1" forms:"whole seconds (\"5\") or a Go duration (\"250ms\", \"1m30s\"), not negative; 0 sends as fast as possible"`
	BatchSize int      `env:"PRODUCER_BATCH_SIZE" envDefault:"10" forms:"an integer from 1 to 1000000"`
	// MaxRetries bounds the attempts to reach the broker at start.
	MaxRetries int      `env:"MAX_RETRIES" envDefault:"10" forms:"an integer from 0 to 1000"`
	RetryDelay Interval `env:"RETRY_DELAY" envDefault:"2" forms:"whole seconds (\"5\") or a Go duration (\"250ms\"), not negative"`
	LogLevel   LogLevel `env:"LOG_LEVEL" envDefault:"INFO" forms:"DEBUG, INFO, WARN, ERROR"`
	// LogFormat is text (key=value) or json (one object a line).
	LogFormat LogFormat `env:"LOG_FORMAT" envDefault:"text" forms:"text or json"`
	// MetricsAddr is where the HTTP server (metrics, probes) listens.
	MetricsAddr string `env:"METRICS_ADDR" envDefault:"127.0.0.1:8081" forms:"host:port to listen on (\":8080\"), or off"`
	// TopicPartitions and TopicReplicationFactor apply when the producer
	// creates its topic at start; an existing topic is left as it is.
	TopicPartitions        int `env:"TOPIC_PARTITIONS" envDefault:"-1" forms:"-1 (the broker's num.partitions) or 1 to 100000"`
	TopicReplicationFactor int `env:"TOPIC_REPLICATION_FACTOR" envDefault:"-1" forms:"-1 (the broker's default.replication.factor) or 1 to 32767"`
}

// LoadProducer reads the producer's configuration from environ, or from the
// process environment if environ is nil.
func LoadProducer(environ map[string]string) (Producer, error) {
	c, err := parse[Producer](environ)
	if err != nil {
		return c, err
	}
	return c, errors.Join(c.validate(), c.Kafka.resolve())
}

// TopicSpec is the topic as the producer creates it when it is missing.
func (c Producer) TopicSpec() kafkaio.TopicSpec {
	return kafkaio.TopicSpec{
		Name:              c.Topic,
		Partitions:        c.TopicPartitions,
		ReplicationFactor: c.TopicReplicationFactor,
		Settings:          "TOPIC_PARTITIONS or TOPIC_REPLICATION_FACTOR",
	}
}

func (c Producer) validate() error {
	var errs []error
	check(&errs, validTopic(c.Topic), "TOPIC_NAME", c.Topic, "not a Kafka topic name", topicForms)
	check(&errs, c.BatchSize >= 1 && c.BatchSize <= 1_000_000, "PRODUCER_BATCH_SIZE", strconv.Itoa(c.BatchSize), "out of range", "an integer from 1 to 1000000")
	check(&errs, c.MaxRetries >= 0 && c.MaxRetries <= 1000, "MAX_RETRIES", strconv.Itoa(c.MaxRetries), "out of range", "an integer from 0 to 1000")
	check(&errs, validListen(c.MetricsAddr), "METRICS_ADDR", c.MetricsAddr, "not host:port", "host:port to listen on (\":8080\"), or off")
	check(&errs, c.TopicPartitions == -1 || c.TopicPartitions >= 1 && c.TopicPartitions <= 100_000, "TOPIC_PARTITIONS", strconv.Itoa(c.TopicPartitions), "out of range", "-1 (the broker's num.partitions) or 1 to 100000")
	check(&errs, validReplicationFactor(c.TopicReplicationFactor), "TOPIC_REPLICATION_FACTOR", strconv.Itoa(c.TopicReplicationFactor), "out of range", replicationForms)
	return errors.Join(errs...)
}

// IntervalDuration is the pause between batches.
func (c Producer) IntervalDuration() time.Duration { return time.Duration(c.Interval) }
