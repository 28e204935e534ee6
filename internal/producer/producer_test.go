package producer

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// oversize makes every third full batch carry one message larger than the
// broker accepts (the producer's retry of the rest has 9).
type oversize struct {
	w       *kafka.Writer
	batches atomic.Int64
}

func (o *oversize) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 10 && o.batches.Add(1)%3 == 0 {
		msgs[0].Value = bytes.Repeat([]byte("x"), 2<<20)
	}
	return o.w.WriteMessages(ctx, msgs...)
}

// A message the broker cannot take is reported with its reason and counted;
// the producer carries on with the next batches. Against a real
// Kafka-protocol broker (kfake, in process).
func TestRejectedMessageIsReportedAndProducerContinues(t *testing.T) {
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
	w := client.NewWriter(kafkaio.WriterConfig{Topic: "views", BatchSize: 10})
	defer w.Close()

	p := New(Config{BatchSize: 10, Count: 90}, log, &oversize{w: w}, NewGenerator(rand.New(rand.NewPCG(3, 4))), time.Now, nil)
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	// 9 batches of 10; batches 3, 6 and 9 each had one message too large.
	if s.Failed != 3 || s.Sent != 87 {
		t.Fatalf("stats %+v, want 87 sent and 3 failed", s)
	}
	if !strings.Contains(logs.String(), "records not delivered") || !strings.Contains(strings.ToLower(logs.String()), "too large") {
		t.Fatalf("failure not reported with its reason:\n%s", logs.String())
	}
	var total int64
	for part := range 3 {
		c, err := kafka.DialLeader(t.Context(), "tcp", cluster.ListenAddrs()[0], "views", part)
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
	if total != 87 {
		t.Fatalf("broker holds %d records, want 87", total)
	}
}
