package consumer

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/producer"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// BenchmarkDecodeAggregate is the consumer's whole per-record path as one
// partition's goroutine runs it in a batch: decode, campaign lookup, window
// Add and the outcome counts (Consumer.process), one record per op on one
// goroutine, so records/s is per core. The records are what the producer
// sends, joined with the repository's campaigns.csv; event time advances one
// second every 1,000 records, so one-minute windows hold 60,000 views and
// close as the stream goes on. Fetch, batching, Parquet writes and commits
// are not included; the bench program measures the whole consumer.
func BenchmarkDecodeAggregate(b *testing.B) {
	const (
		pool      = 1 << 18 // records generated up front, about 4.4 minutes of event time
		perSecond = 1000
	)
	table, err := campaigns.LoadFile("../../data/log_data/input_data/campaigns.csv")
	if err != nil {
		b.Fatal(err)
	}
	gen := producer.NewGenerator(rand.New(rand.NewPCG(1, 2)))
	end := time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, pool)
	size := 0
	for i := range msgs {
		if i > 0 && i%perSecond == 0 {
			end = end.Add(time.Second)
		}
		v, err := record.Marshal(gen.View(end))
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = kafka.Message{Partition: 0, Offset: int64(i), Value: v}
		size += len(v)
	}
	b.SetBytes(int64(size / pool))
	b.ReportAllocs()

	cfg := window.Config{Size: time.Minute, WatermarkDelay: 10 * time.Second}
	c := &Consumer{campaigns: table}
	p := &partition{state: window.NewPartition(cfg, window.Checkpoint{})}
	var counts Counts
	i := 0
	for b.Loop() {
		k := i % pool
		if k == 0 && i > 0 {
			// Out of records: start over as a new consumer of the
			// partition would.
			p.state = window.NewPartition(cfg, window.Checkpoint{})
		}
		p.pending = append(p.pending, kafkaio.Fetched{Messages: msgs[k : k+1]})
		c.process(p)
		if k%1000 == 999 {
			// What a batch does with the windows that closed.
			p.closed = p.closed[:0]
			counts.add(p.counts)
			p.counts = Counts{}
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	counts.add(p.counts)
	if counts.Read != int64(b.N) || counts.Aggregated != counts.Read {
		b.Fatalf("counts %+v after %d records", counts, b.N)
	}
}
