package config

import (
	"errors"
	"strconv"
	"time"

	"github.com/viewlog/viewlog/internal/storage"
)

// Consumer is the consumer's configuration.
type Consumer struct {
	Brokers Brokers `env:"KAFKA_SERVER" envDefault:"localhost:9092" forms:"comma-separated host:port list (\"localhost:9092,other:9092\")"`
	Topic   string  `env:"TOPIC_NAME" envDefault:"view_log"`
	GroupID string  `env:"CONSUMER_GROUP_ID" envDefault:"view-log-aggregator"`
	// StartingOffsets applies when the group has no committed offset.
	StartingOffsets string   `env:"STARTING_OFFSETS" envDefault:"earliest"`
	Interval        Interval `env:"CONSUMER_INTERVAL" envDefault:"5" forms:"whole seconds (\"5\") or a Go duration (\"250ms\", \"1m30s\"), greater than 0"`
	Window          Duration `env:"WINDOW_DURATION" envDefault:"1 minute" forms:"\"<n> <unit>\" with unit millisecond(s), second(s), minute(s), hour(s) or day(s) (\"1 minute\"), or a Go duration (\"1m\"); a whole number of seconds"`
	WatermarkDelay  Duration `env:"WATERMARK_DELAY" envDefault:"10 seconds" forms:"\"<n> <unit>\" with unit millisecond(s), second(s), minute(s), hour(s) or day(s) (\"10 seconds\"), or a Go duration (\"10s\")"`
	CampaignsPath   string   `env:"CAMPAIGNS_CSV_PATH" envDefault:"data/log_data/input_data/campaigns.csv"`
	// OutputDir is a directory, file:///abs/path or s3://bucket/prefix.
	OutputDir string `env:"OUTPUT_DIR" envDefault:"data/output_data"`
	// S3PathStyle is how an s3:// OUTPUT_DIR names its bucket.
	S3PathStyle storage.PathStyle `env:"S3_FORCE_PATH_STYLE" forms:"true or false; empty: true when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL sets a custom endpoint"`
	LogLevel    LogLevel          `env:"LOG_LEVEL" envDefault:"INFO" forms:"DEBUG, INFO, WARN, ERROR"`
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
	return c, c.validate()
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
	if _, err := storage.ParseLocation(c.OutputDir); err != nil {
		var le *storage.LocationError
		if errors.As(err, &le) {
			err = &Error{Var: "OUTPUT_DIR", Value: le.Value, Reason: le.Reason, Forms: storage.LocationForms}
		}
		errs = append(errs, err)
	}
	check(&errs, c.MaxBatchRecords >= 1 && c.MaxBatchRecords <= 10_000_000, "MAX_BATCH_RECORDS", strconv.Itoa(c.MaxBatchRecords), "out of range", "an integer from 1 to 10000000")
	st := time.Duration(c.SessionTimeout)
	check(&errs, st >= 6*time.Second && st <= 5*time.Minute, "CONSUMER_SESSION_TIMEOUT", st.String(), "out of range", "whole seconds or a Go duration, from 6s to 5m")
	check(&errs, validListen(c.MetricsAddr), "METRICS_ADDR", c.MetricsAddr, "not host:port", "host:port to listen on (\":8080\"), or off")
	return errors.Join(errs...)
}
