package config

import (
	"errors"
	"strconv"
	"time"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/location"
)

// Consumer is the consumer's configuration.
type Consumer struct {
	// Kafka holds KAFKA_SERVER (Brokers) and the security settings.
	Kafka
	Topic   string `env:"TOPIC_NAME" envDefault:"view_log"`
	GroupID string `env:"CONSUMER_GROUP_ID" envDefault:"view-log-aggregator"`
	// StartingOffsets applies when the group has no committed offset.
	StartingOffsets string   `env:"STARTING_OFFSETS" envDefault:"earliest"`
	Interval        Interval `env:"CONSUMER_INTERVAL" envDefault:"5" forms:"whole seconds (\"5\") or a Go duration (\"250ms\", \"1m30s\"), greater than 0"`
	Window          Duration `env:"WINDOW_DURATION" envDefault:"1 minute" forms:"\"<n> <unit>\" with unit millisecond(s), second(s), minute(s), hour(s) or day(s) (\"1 minute\"), or a Go duration (\"1m\"); a whole number of seconds"`
	WatermarkDelay  Duration `env:"WATERMARK_DELAY" envDefault:"10 seconds" forms:"\"<n> <unit>\" with unit millisecond(s), second(s), minute(s), hour(s) or day(s) (\"10 seconds\"), or a Go duration (\"10s\")"`
	CampaignsPath   string   `env:"CAMPAIGNS_CSV_PATH" envDefault:"data/log_data/input_data/campaigns.csv"`
	// OutputDir is a directory, file:///abs/path or s3://bucket/prefix.
	OutputDir string `env:"OUTPUT_DIR" envDefault:"data/output_data"`
	// S3PathStyle is how an s3:// OUTPUT_DIR names its bucket.
	S3PathStyle location.PathStyle `env:"S3_FORCE_PATH_STYLE" forms:"true or false; empty: true when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL sets a custom endpoint"`
	LogLevel    LogLevel           `env:"LOG_LEVEL" envDefault:"INFO" forms:"DEBUG, INFO, WARN, ERROR"`
	// LogFormat is text (key=value) or json (one object a line).
	LogFormat LogFormat `env:"LOG_FORMAT" envDefault:"text" forms:"text or json"`
	// MaxBatchRecords bounds one micro-batch, so memory stays bounded when
	// the consumer starts far behind.
	MaxBatchRecords int `env:"MAX_BATCH_RECORDS" envDefault:"200000" forms:"an integer from 1 to 10000000"`
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to others.
	SessionTimeout Interval `env:"CONSUMER_SESSION_TIMEOUT" envDefault:"10s" forms:"whole seconds or a Go duration, from 6s to 5m"`
	// MetricsAddr is where the HTTP server (metrics, probes, status,
	// dashboard) listens.
	MetricsAddr string `env:"METRICS_ADDR" envDefault:"127.0.0.1:8080" forms:"host:port to listen on (\":8080\"), or off"`
	// IdleTimeout is how long a caught-up partition goes without records
	// before its watermark follows the group's event time; 0 turns it off.
	IdleTimeout Interval `env:"PARTITION_IDLE_TIMEOUT" envDefault:"30s" forms:"whole seconds (\"30\") or a Go duration (\"30s\", \"2m\"); 0 turns idleness off"`
	// DeadLetter turns the dead-letter topic on or off.
	DeadLetter bool `env:"DLQ_ENABLED" envDefault:"true" forms:"true or false"`
	// DeadLetterTopic receives rejected, late and unknown-campaign records;
	// empty means TOPIC_NAME + ".dlq".
	DeadLetterTopic string `env:"DLQ_TOPIC"`
	// DeadLetterReplicationFactor and DeadLetterRetentionMs apply when the
	// consumer creates the dead-letter topic at start (it takes the input
	// topic's partition count); an existing topic is left as it is.
	DeadLetterReplicationFactor int `env:"DLQ_REPLICATION_FACTOR" envDefault:"-1" forms:"-1 (the broker's default.replication.factor) or 1 to 32767"`
	// DeadLetterRetentionMs is the topic's retention.ms: 0 leaves the
	// broker's default (log.retention.ms), -1 keeps records forever.
	DeadLetterRetentionMs int64 `env:"DLQ_RETENTION_MS" envDefault:"0" forms:"milliseconds (604800000 is 7 days), 0 for the broker's default, or -1 to keep dead letters forever"`
}

// LoadConsumer reads the consumer's configuration from environ, or from the
// process environment if environ is nil.
func LoadConsumer(environ map[string]string) (Consumer, error) {
	c, err := parse[Consumer](environ)
	if err != nil {
		return c, err
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = c.Topic + ".dlq"
	}
	return c, errors.Join(c.validate(), c.Kafka.resolve())
}

// DeadLetterTopicSpec is the dead-letter topic as the consumer creates it
// when it is missing: as many partitions as the input topic, and the
// DLQ_REPLICATION_FACTOR and DLQ_RETENTION_MS settings.
func (c Consumer) DeadLetterTopicSpec() kafkaio.TopicSpec {
	spec := kafkaio.TopicSpec{
		Name:              c.DeadLetterTopic,
		PartitionsOf:      c.Topic,
		ReplicationFactor: c.DeadLetterReplicationFactor,
		Settings:          "DLQ_REPLICATION_FACTOR or DLQ_RETENTION_MS",
	}
	if c.DeadLetterRetentionMs != 0 {
		spec.Configs = map[string]string{"retention.ms": strconv.FormatInt(c.DeadLetterRetentionMs, 10)}
	}
	return spec
}

func (c Consumer) validate() error {
	var errs []error
	check(&errs, validTopic(c.Topic), "TOPIC_NAME", c.Topic, "not a Kafka topic name", topicForms)
	check(&errs, validTopic(c.DeadLetterTopic), "DLQ_TOPIC", c.DeadLetterTopic, "not a Kafka topic name", topicForms)
	check(&errs, !c.DeadLetter || c.DeadLetterTopic != c.Topic, "DLQ_TOPIC", c.DeadLetterTopic, "must differ from TOPIC_NAME", topicForms)
	check(&errs, c.GroupID != "", "CONSUMER_GROUP_ID", c.GroupID, "empty", "a non-empty consumer group name")
	check(&errs, c.StartingOffsets == "earliest" || c.StartingOffsets == "latest", "STARTING_OFFSETS", c.StartingOffsets, "unknown", "earliest, latest")
	check(&errs, c.Interval > 0, "CONSUMER_INTERVAL", time.Duration(c.Interval).String(), "must be greater than 0", IntervalForms)
	w := time.Duration(c.Window)
	// minute_timestamp has second precision: shorter or fractional windows
	// would put two windows in one directory.
	check(&errs, w >= time.Second && w%time.Second == 0, "WINDOW_DURATION", w.String(), "must be a whole number of seconds, at least 1", DurationForms)
	check(&errs, c.CampaignsPath != "", "CAMPAIGNS_CSV_PATH", c.CampaignsPath, "empty", "a path to a CSV file")
	if _, err := location.ParseLocation(c.OutputDir); err != nil {
		var le *location.LocationError
		if errors.As(err, &le) {
			err = &Error{Var: "OUTPUT_DIR", Value: le.Value, Reason: le.Reason, Forms: location.LocationForms}
		}
		errs = append(errs, err)
	}
	check(&errs, c.MaxBatchRecords >= 1 && c.MaxBatchRecords <= 10_000_000, "MAX_BATCH_RECORDS", strconv.Itoa(c.MaxBatchRecords), "out of range", "an integer from 1 to 10000000")
	st := time.Duration(c.SessionTimeout)
	check(&errs, st >= 6*time.Second && st <= 5*time.Minute, "CONSUMER_SESSION_TIMEOUT", st.String(), "out of range", "whole seconds or a Go duration, from 6s to 5m")
	check(&errs, validListen(c.MetricsAddr), "METRICS_ADDR", c.MetricsAddr, "not host:port", "host:port to listen on (\":8080\"), or off")
	check(&errs, validReplicationFactor(c.DeadLetterReplicationFactor), "DLQ_REPLICATION_FACTOR", strconv.Itoa(c.DeadLetterReplicationFactor), "out of range", replicationForms)
	check(&errs, c.DeadLetterRetentionMs >= -1, "DLQ_RETENTION_MS", strconv.FormatInt(c.DeadLetterRetentionMs, 10), "out of range", "milliseconds (604800000 is 7 days), 0 for the broker's default, or -1 to keep dead letters forever")
	return errors.Join(errs...)
}
