package config

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConsumerDefaults(t *testing.T) {
	c, err := LoadConsumer(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Brokers, Brokers{"localhost:9092"}) || c.Topic != "view_log" || c.GroupID != "view-log-aggregator" ||
		c.StartingOffsets != "earliest" || time.Duration(c.Interval) != 5*time.Second ||
		time.Duration(c.Window) != time.Minute || time.Duration(c.WatermarkDelay) != 10*time.Second ||
		c.CampaignsPath != "data/log_data/input_data/campaigns.csv" || c.OutputDir != "data/output_data" ||
		c.LogLevel.Level() != slog.LevelInfo {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestProducerDefaults(t *testing.T) {
	c, err := LoadProducer(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Brokers, Brokers{"localhost:9092"}) || c.Topic != "view_log" || c.IntervalDuration() != time.Second || c.BatchSize != 10 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestForms(t *testing.T) {
	c, err := LoadConsumer(map[string]string{
		"KAFKA_SERVER":      " a:1, b:2 ,",
		"CONSUMER_INTERVAL": "250ms",
		"WINDOW_DURATION":   "10 seconds",
		"WATERMARK_DELAY":   "2 Minutes",
		"LOG_LEVEL":         "warning",
		"STARTING_OFFSETS":  "latest",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Brokers, Brokers{"a:1", "b:2"}) || time.Duration(c.Interval) != 250*time.Millisecond ||
		time.Duration(c.Window) != 10*time.Second || time.Duration(c.WatermarkDelay) != 2*time.Minute ||
		c.LogLevel.Level() != slog.LevelWarn {
		t.Fatalf("parsed %+v", c)
	}
	p, err := LoadProducer(map[string]string{"PRODUCER_INTERVAL": "0", "RETRY_DELAY": "1m"})
	if err != nil || p.IntervalDuration() != 0 || time.Duration(p.RetryDelay) != time.Minute {
		t.Fatalf("producer %+v, %v", p, err)
	}
}

func TestDevBrokerAdvertisedAddr(t *testing.T) {
	d, err := LoadDevBroker(map[string]string{"DEVBROKER_ADDR": ":9092", "DEVBROKER_ADVERTISED_ADDR": "devbroker:9092"})
	if err != nil || d.Addr != ":9092" || d.AdvertisedAddr != "devbroker:9092" {
		t.Fatalf("parsed %+v, %v", d, err)
	}
	if d, err := LoadDevBroker(map[string]string{}); err != nil || d.AdvertisedAddr != "" {
		t.Fatalf("default %q, %v; want empty: the listen address", d.AdvertisedAddr, err)
	}
}

// Every bad value stops the program with the variable, the value and the
// accepted forms. (An empty value means the default, as if unset.)
func TestInvalidValues(t *testing.T) {
	tests := []struct {
		load  func(map[string]string) error
		name  string
		value string
		forms string
	}{
		{consumer, "KAFKA_SERVER", "localhost", "host:port"},
		{consumer, "KAFKA_SERVER", ",", "host:port"},
		{consumer, "TOPIC_NAME", "view log", "a-z"},
		{consumer, "TOPIC_NAME", "..", "a-z"},
		{consumer, "STARTING_OFFSETS", "beginning", "earliest, latest"},
		{consumer, "CONSUMER_INTERVAL", "five", "whole seconds"},
		{consumer, "CONSUMER_INTERVAL", "-1", "whole seconds"},
		{consumer, "CONSUMER_INTERVAL", "0", "whole seconds"},
		{consumer, "WINDOW_DURATION", "1 fortnight", "minute(s)"},
		{consumer, "WINDOW_DURATION", "500ms", "whole number of seconds"},
		{consumer, "WINDOW_DURATION", "0s", "whole number of seconds"},
		{consumer, "WATERMARK_DELAY", "-5s", "second(s)"},
		{consumer, "WATERMARK_DELAY", "ten seconds", "second(s)"},
		{consumer, "LOG_LEVEL", "verbose", "DEBUG, INFO, WARN, ERROR"},
		{consumer, "MAX_BATCH_RECORDS", "0", "integer"},
		{consumer, "MAX_BATCH_RECORDS", "lots", "integer"},
		{consumer, "CONSUMER_SESSION_TIMEOUT", "1s", "6s to 5m"},
		{consumer, "METRICS_ADDR", "nine", "host:port"},
		{consumer, "DLQ_ENABLED", "maybe", "true or false"},
		{consumer, "DLQ_TOPIC", "dead letters", "a-z"},
		{consumer, "DLQ_TOPIC", "view_log", "a-z"}, // the input topic itself
		{consumer, "OUTPUT_DIR", "ftp://host/dir", "s3://bucket"},
		{consumer, "OUTPUT_DIR", "s3://", "s3://bucket"},
		{consumer, "OUTPUT_DIR", "file:relative/dir", "file:///absolute/path"},
		{consumer, "S3_FORCE_PATH_STYLE", "sometimes", "true or false"},
		{consumer, "METRICS_ADDR", "on", "or off"},
		{consumer, "PARTITION_IDLE_TIMEOUT", "soon", "0 turns idleness off"},
		{consumer, "LOG_FORMAT", "xml", "text or json"},
		{producer, "LOG_FORMAT", "yaml", "text or json"},
		{devbroker, "LOG_FORMAT", "logfmt", "text or json"},
		{consumer, "PARTITION_IDLE_TIMEOUT", "-5s", "0 turns idleness off"},
		{producer, "KAFKA_SERVER", "host:notaport", "host:port"},
		{producer, "TOPIC_NAME", "a/b", "a-z"},
		{producer, "PRODUCER_INTERVAL", "1.5", "whole seconds"},
		{producer, "PRODUCER_BATCH_SIZE", "0", "1 to 1000000"},
		{producer, "PRODUCER_BATCH_SIZE", "ten", "1 to 1000000"},
		{producer, "MAX_RETRIES", "-1", "0 to 1000"},
		{producer, "RETRY_DELAY", "soon", "Go duration"},
		{producer, "LOG_LEVEL", "trace", "DEBUG"},
		{devbroker, "DEVBROKER_ADDR", "nowhere", "host:port"},
		{devbroker, "DEVBROKER_PARTITIONS", "0", "1 to 1000"},
		{devbroker, "DEVBROKER_ADVERTISED_ADDR", "devbroker", "host:port"},
		{devbroker, "DEVBROKER_ADVERTISED_ADDR", ":9092", "host:port"}, // a wildcard tells clients nothing
		{devbroker, "DEVBROKER_ADVERTISED_ADDR", "devbroker:0", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			err := tt.load(map[string]string{tt.name: tt.value})
			if err == nil {
				t.Fatal("accepted")
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.name+"=") || !strings.Contains(msg, tt.forms) {
				t.Fatalf("message %q lacks the variable or the forms %q", msg, tt.forms)
			}
			if tt.value != "" && cerr.Value == "" {
				t.Fatalf("message %q does not repeat the value", msg)
			}
		})
	}
}

func consumer(m map[string]string) error  { _, err := LoadConsumer(m); return err }
func producer(m map[string]string) error  { _, err := LoadProducer(m); return err }
func devbroker(m map[string]string) error { _, err := LoadDevBroker(m); return err }
