package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/record"
)

func TestGenerator(t *testing.T) {
	g := NewGenerator(rand.New(rand.NewPCG(1, 2)))
	now := time.Date(2024, 9, 11, 10, 5, 7, 999, time.UTC)
	ids := map[string]bool{}
	for range 1000 {
		v := g.View(now)
		b, err := record.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, reason := record.Decode(b)
		if reason != record.Valid {
			t.Fatalf("generated record rejected: %v: %s", reason, b)
		}
		// The view ends when it is sent, never in the future.
		if !got.EndTimestamp.Equal(now.Truncate(time.Second)) {
			t.Fatalf("end %v, want %v", got.EndTimestamp, now.Truncate(time.Second))
		}
		if d := got.DurationSeconds(); d < 1 || d > 300 {
			t.Fatalf("duration %d", d)
		}
		if got.CampaignID%10 != 0 || got.CampaignID < 10 || got.CampaignID > 140 || v.BannerID < 1 || v.BannerID > 100000 {
			t.Fatalf("generated %+v", v)
		}
		if ids[string(got.ViewID)] || !got.HasUUID || got.ViewID[14] != '4' {
			t.Fatalf("view_id %q repeated or not a UUIDv4", got.ViewID)
		}
		ids[string(got.ViewID)] = true
	}
}

// oversize makes every 30th message handed to it larger than the broker
// accepts. The messages handed again after kafka-go refused one (its
// MessageTooLargeError's Remaining) are not counted twice.
type oversize struct {
	Writer
	handed int
	retry  bool
}

func (o *oversize) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if !o.retry {
		for i := range msgs {
			if o.handed++; o.handed%30 == 0 {
				msgs[i].Value = bytes.Repeat([]byte("x"), 2<<20)
			}
		}
	}
	err := o.Writer.WriteMessages(ctx, msgs...)
	o.retry = errors.As(err, new(kafka.MessageTooLargeError))
	return err
}

// A message the broker cannot take is reported with its reason and counted;
// the producer carries on with the others, whether it sends without pause
// (the 90 records in one hand-over) or in batches of 10 per interval.
// Against a real Kafka-protocol broker (kfake, in process).
func TestRejectedMessageIsReportedAndProducerContinues(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		// latencies is how many batches are observed in the send latency:
		// those whose every record was acknowledged.
		latencies float64
	}{
		{"interval 0", Config{BatchSize: 10, Count: 90}, 0},
		{"interval 1ms", Config{Interval: time.Millisecond, BatchSize: 10, Count: 90}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			cluster, client := newBroker(t, log)
			newWriter := func(batchSize int, complete func([]kafka.Message, error)) Writer {
				return &oversize{Writer: KafkaWriter(client, "views")(batchSize, complete)}
			}
			reg := prometheus.NewRegistry()
			p := New(tc.cfg, log, newWriter, NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, reg)
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			// 90 records, of which the 30th, 60th and 90th were too large.
			if s := p.Stats(); s.Failed != 3 || s.Sent != 87 {
				t.Fatalf("stats %+v, want 87 sent and 3 failed", s)
			}
			if got := metricValues(t, reg, "viewlog_producer_records_total"); got["result=sent"] != 87 || got["result=failed"] != 3 {
				t.Fatalf("viewlog_producer_records_total %v, want 87 sent and 3 failed", got)
			}
			if got := metricValues(t, reg, "viewlog_producer_send_latency_seconds")[""]; got != tc.latencies {
				t.Fatalf("send latency observed %v batches, want %v", got, tc.latencies)
			}
			if !strings.Contains(logs.String(), "records not delivered") || !strings.Contains(strings.ToLower(logs.String()), "too large") {
				t.Fatalf("failure not reported with its reason:\n%s", logs.String())
			}
			if total := brokerRecords(t, cluster.ListenAddrs()[0], "views"); total != 87 {
				t.Fatalf("broker holds %d records, want 87", total)
			}
		})
	}
}

// counting counts the messages handed to it.
type counting struct {
	Writer
	handed atomic.Int64
}

func (c *counting) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	c.handed.Add(int64(len(msgs)))
	return c.Writer.WriteMessages(ctx, msgs...)
}

// Stopping the producer (Ctrl-C, SIGTERM) while it sends at full speed
// loses nothing: the records in flight are delivered before Run returns,
// and every record generated is counted as sent or failed.
func TestStopDeliversWhatIsInFlight(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, client := newBroker(t, log)
	var w *counting
	newWriter := func(batchSize int, complete func([]kafka.Message, error)) Writer {
		w = &counting{Writer: KafkaWriter(client, "views")(batchSize, complete)}
		return w
	}
	p := New(Config{BatchSize: 10}, log, newWriter, NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, nil)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Sent < 10_000 {
		if time.Now().After(deadline) {
			t.Fatalf("only %+v after 30s", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	atStop := p.Stats()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if handed := w.handed.Load(); s.Sent+s.Failed != handed || s.Failed != 0 {
		t.Fatalf("handed %d records to the writer, counted %+v", handed, s)
	}
	if s.Sent <= atStop.Sent {
		t.Fatalf("nothing was in flight when stopped (%+v then, %+v at the end): the case was not exercised", atStop, s)
	}
	if total := brokerRecords(t, cluster.ListenAddrs()[0], "views"); total != s.Sent {
		t.Fatalf("broker holds %d records, producer counted %d sent", total, s.Sent)
	}
}

// Ready says whether the broker takes the records: not before the first
// acknowledgement, yes while they are acknowledged, no once the broker is
// gone, with the reason.
func TestReadyFollowsTheBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 6 s for kafka-go to give up on a broker that is gone")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, client := newBroker(t, log)
	p := New(Config{Interval: 10 * time.Millisecond, BatchSize: 5}, log, KafkaWriter(client, "views"), NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, nil)
	if err := p.Ready(); err == nil {
		t.Fatal("ready before anything was sent")
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitUntil(t, "ready", func() bool { return p.Ready() == nil })
	if err := p.Live(); err != nil {
		t.Fatalf("running, yet %v", err)
	}
	cluster.Close()
	waitUntil(t, "not ready once the broker is gone", func() bool { return p.Ready() != nil })
	if err := p.Ready(); !strings.Contains(err.Error(), "last send failed") {
		t.Fatalf("reason %q", err)
	}
	// Stopping does not wait for the broker much longer than it takes
	// the writer to give up on a batch or two.
	stopped := time.Now()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopped); took > drainTimeout {
		t.Fatalf("stopping took %v", took)
	}
	if s := p.Stats(); s.Failed == 0 || s.Sent == 0 {
		t.Fatalf("stats %+v, want some sent and some failed", s)
	}
}

// At an interval the producer sends PRODUCER_BATCH_SIZE records per
// interval, batches larger than its chunks included: never faster.
func TestPaced(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, client := newBroker(t, log)
	for i, cfg := range []Config{
		{Interval: 40 * time.Millisecond, BatchSize: 10, Count: 100},     // 10 batches
		{Interval: 200 * time.Millisecond, BatchSize: 2500, Count: 5000}, // 2 batches of 3 chunks
	} {
		topic := fmt.Sprintf("paced-%d", i)
		p := New(cfg, log, KafkaWriter(client, topic), NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, nil)
		began := time.Now()
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		batches := cfg.Count / int64(cfg.BatchSize)
		if took, least := time.Since(began), time.Duration(batches-1)*cfg.Interval; took < least {
			t.Errorf("%+v: %d batches in %v, want at least %v", cfg, batches, took, least)
		}
		if s := p.Stats(); s.Sent != cfg.Count || s.Failed != 0 {
			t.Errorf("%+v: stats %+v", cfg, s)
		}
		if total := brokerRecords(t, cluster.ListenAddrs()[0], topic); total != cfg.Count {
			t.Errorf("%+v: broker holds %d records", cfg, total)
		}
	}
}

// silent takes messages and never completes them, as a writer stuck on a
// broker that accepts connections but never answers.
type silent struct{}

func (silent) WriteMessages(context.Context, ...kafka.Message) error { return nil }
func (silent) Close() error                                          { panic("Close would wait for the broker forever") }

// A producer stopped while the broker does not answer returns after
// drainTimeout, with the records in flight counted as failed.
func TestStopGivesUpOnASilentBroker(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := New(Config{BatchSize: 10, Count: 5000}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(int, func([]kafka.Message, error)) Writer { return silent{} }, NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, reg)
	p.drainTimeout = 50 * time.Millisecond
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Sent != 0 || s.Failed != 5000 {
		t.Fatalf("stats %+v, want 5000 failed", s)
	}
	if got := metricValues(t, reg, "viewlog_producer_records_total"); got["result=failed"] != 5000 {
		t.Fatalf("viewlog_producer_records_total %v, want 5000 failed", got)
	}
	if err := p.Ready(); err == nil {
		t.Fatal("ready, though nothing was acknowledged")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// brokerRecords is how many records topic's three partitions hold.
func brokerRecords(t *testing.T, addr, topic string) int64 {
	t.Helper()
	var total int64
	for part := range 3 {
		c, err := kafka.DialLeader(t.Context(), "tcp", addr, topic, part)
		if err != nil {
			t.Fatal(err)
		}
		_, last, err := c.ReadOffsets()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		total += last
	}
	return total
}

// metricValues gathers the series of the counter or gauge name from reg, by
// their labels ("result=sent"); a histogram's series give their count.
func metricValues(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			switch {
			case m.GetCounter() != nil:
				vals[strings.Join(labels, ",")] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				vals[strings.Join(labels, ",")] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return vals
}

// newBroker starts an in-process broker that creates topics of 3
// partitions on demand, and a client of it; both close when the test ends.
func newBroker(t *testing.T, log *slog.Logger) (*kfake.Cluster, *kafkaio.Client) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: cluster.ListenAddrs()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return cluster, client
}
