package kafkaio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func testClient(t *testing.T, partitions int) (*Client, []string) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(partitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	c, err := NewClient(ClientConfig{Brokers: cluster.ListenAddrs()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, cluster.ListenAddrs()
}

// produceTo0 writes msgs to partition 0 of topic, in batches of batch.
func produceTo0(t *testing.T, c *Client, topic string, msgs []kafka.Message, batch int) {
	t.Helper()
	w := c.NewWriter(WriterConfig{Topic: topic, BatchSize: batch})
	w.Balancer = kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 })
	defer w.Close()
	for len(msgs) > 0 {
		n := min(batch, len(msgs))
		if err := w.WriteMessages(t.Context(), msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

// The reader delivers every record once, in order, with its value, across
// fetches that end mid-batch, values cut at the limit, empty fetches that
// report the log end, and a start in the middle of the log; and ReadRecords
// gives back keys, values and headers by offset.
func TestPartitionReader(t *testing.T) {
	c, _ := testClient(t, 1)
	const topic = "fetch"
	var msgs []kafka.Message
	for i := range 3000 {
		v := fmt.Sprintf("value-%05d-%s", i, strings.Repeat("x", i%50))
		if i%700 == 0 {
			v = strings.Repeat("L", 5000+i) // longer than the limit below
		}
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v),
			Headers: []kafka.Header{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	produceTo0(t, c, topic, msgs, 250)

	g, err := c.NewGroup(GroupConfig{Topic: topic, GroupID: "g", SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{-1, 1234} {
		cfg := FetchConfig{MaxBytes: 16 << 10, MaxWait: 50 * time.Millisecond, MaxValueBytes: 4096}
		r, start, logEnd, err := g.OpenPartition(t.Context(), 0, from, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(from, 0); start != want || logEnd != int64(len(msgs)) {
			t.Fatalf("opened at %d with log end %d, want %d and %d", start, logEnd, want, len(msgs))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		next := start
		sawEmpty := false
		err = r.Run(ctx, func(f *Fetch) error {
			if f.Partition != 0 || f.HighWatermark != int64(len(msgs)) {
				return fmt.Errorf("fetch of partition %d with log end %d", f.Partition, f.HighWatermark)
			}
			for _, rec := range f.Records {
				if rec.Offset != next {
					return fmt.Errorf("record at %d, want %d", rec.Offset, next)
				}
				want := msgs[rec.Offset].Value
				if rec.Size != len(want) || !bytes.Equal(rec.Value, want[:min(len(want), cfg.MaxValueBytes+1)]) {
					return fmt.Errorf("record %d: %d bytes of %d, want %d", rec.Offset, len(rec.Value), rec.Size, len(want))
				}
				next++
			}
			if f.Next != next {
				return fmt.Errorf("fetch says next %d, records end at %d", f.Next, next)
			}
			if len(f.Records) == 0 && next == int64(len(msgs)) {
				sawEmpty = true
				cancel()
			}
			return nil
		})
		cancel()
		if err != nil {
			t.Fatalf("from %d: %v", from, err)
		}
		if next != int64(len(msgs)) || !sawEmpty {
			t.Fatalf("from %d: read up to %d of %d; an empty fetch at the end: %v", from, next, len(msgs), sawEmpty)
		}
	}

	offsets := []int64{0, 5, 699, 700, 701, 2999}
	got, err := g.ReadRecords(t.Context(), 0, offsets)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range offsets {
		m, ok := got[off]
		want := msgs[off]
		if !ok || !bytes.Equal(m.Key, want.Key) || !bytes.Equal(m.Value, want.Value) || len(m.Headers) != 1 || !bytes.Equal(m.Headers[0].Value, want.Headers[0].Value) {
			t.Errorf("ReadRecords at %d = %q/%d bytes/%v", off, m.Key, len(m.Value), m.Headers)
		}
	}
	if len(got) != len(offsets) {
		t.Errorf("ReadRecords returned %d records, want %d", len(got), len(offsets))
	}
}
