package producer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
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
		if ids[got.ViewID] || len(got.ViewID) != 36 || got.ViewID[14] != '4' {
			t.Fatalf("view_id %q repeated or not a UUIDv4", got.ViewID)
		}
		ids[got.ViewID] = true
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
	}{
		{"interval 0", Config{BatchSize: 10, Count: 90}},
		{"interval 1ms", Config{Interval: time.Millisecond, BatchSize: 10, Count: 90}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: cluster.ListenAddrs()}, log)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			newWriter := func(complete func([]kafka.Message, error)) Writer {
				return &oversize{Writer: KafkaWriter(client, "views")(complete)}
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
			if !strings.Contains(logs.String(), "records not delivered") || !strings.Contains(strings.ToLower(logs.String()), "too large") {
				t.Fatalf("failure not reported with its reason:\n%s", logs.String())
			}
			if total := brokerRecords(t, cluster.ListenAddrs()[0], "views"); total != 87 {
				t.Fatalf("broker holds %d records, want 87", total)
			}
		})
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
