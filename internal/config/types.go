package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Brokers is a comma-separated list of host:port bootstrap addresses.
type Brokers []string

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Brokers) UnmarshalText(text []byte) error {
	var out Brokers
	for _, s := range strings.Split(string(text), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not host:port", s)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%q has no valid port", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return errors.New("empty broker list")
	}
	*b = out
	return nil
}

// Interval is a pause: whole seconds as the original accepted ("5"), or a Go
// duration ("250ms", "1m30s"). Zero is allowed.
type Interval time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Interval) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(24*time.Hour/time.Second) {
			return errors.New("out of range")
		}
		*d = Interval(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a number of seconds or a Go duration")
	}
	if v < 0 {
		return errors.New("negative")
	}
	*d = Interval(v)
	return nil
}

// IntervalForms describes what Interval accepts.
const IntervalForms = `whole seconds ("5") or a Go duration ("250ms", "1m30s"), not negative`

// Duration is a span written the way Spark's configuration writes it
// ("1 minute", "10 seconds", "2 hours"), or as a Go duration ("1m", "10s").
type Duration time.Duration

// DurationForms describes what Duration accepts.
const DurationForms = `"<n> <unit>" with unit millisecond(s), second(s), minute(s), hour(s) or day(s) ("1 minute", "10 seconds"), or a Go duration ("1m", "10s")`

var sparkUnits = map[string]time.Duration{
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond, "ms": time.Millisecond,
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "secs": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute, "mins": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "h": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour, "d": 24 * time.Hour,
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if fields := strings.Fields(s); len(fields) == 2 {
		n, err := strconv.ParseInt(fields[0], 10, 64)
		unit, ok := sparkUnits[strings.ToLower(fields[1])]
		if err != nil || !ok {
			return errors.New("not a duration")
		}
		if n < 0 || n > int64(365*24*time.Hour/unit) {
			return errors.New("out of range")
		}
		*d = Duration(time.Duration(n) * unit)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration")
	}
	if v < 0 {
		return errors.New("negative")
	}
	*d = Duration(v)
	return nil
}

// LogLevel is DEBUG, INFO, WARN (or WARNING) or ERROR, in any case.
type LogLevel slog.Level

// LogLevelForms describes what LogLevel accepts.
const LogLevelForms = "DEBUG, INFO, WARN, ERROR"

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LogLevel) UnmarshalText(text []byte) error {
	switch strings.ToUpper(strings.TrimSpace(string(text))) {
	case "DEBUG":
		*l = LogLevel(slog.LevelDebug)
	case "INFO":
		*l = LogLevel(slog.LevelInfo)
	case "WARN", "WARNING":
		*l = LogLevel(slog.LevelWarn)
	case "ERROR":
		*l = LogLevel(slog.LevelError)
	default:
		return errors.New("unknown level")
	}
	return nil
}

// Level is the slog level.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// LogFormat is how log lines are written: text (key=value) or json (one
// object per line, for log shippers).
type LogFormat string

// LogFormatForms describes what LogFormat accepts.
const LogFormatForms = "text or json"

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *LogFormat) UnmarshalText(text []byte) error {
	switch v := LogFormat(strings.ToLower(strings.TrimSpace(string(text)))); v {
	case "text", "json":
		*f = v
		return nil
	}
	return errors.New("unknown format")
}

// Logger returns a logger writing to w in format f at level.
func (f LogFormat) Logger(w io.Writer, level LogLevel) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level.Level()}
	if f == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// validTopic reports whether name follows Kafka's topic naming rules, which
// also make it a safe file name: 1 to 249 of [a-zA-Z0-9._-], not "." or "..".
func validTopic(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

const topicForms = "1 to 249 characters of a-z A-Z 0-9 . _ -, not \".\" or \"..\""

// validListen accepts "off" (no server) or a host:port to listen on.
func validListen(addr string) bool {
	if addr == MetricsOff {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// MetricsOff is the METRICS_ADDR that turns the HTTP server off.
const MetricsOff = "off"

const replicationForms = "-1 (the broker's default.replication.factor) or 1 to 32767"

// validReplicationFactor accepts -1 (the broker's default) or a count that
// fits Kafka's int16.
func validReplicationFactor(n int) bool { return n == -1 || n >= 1 && n <= 32767 }
