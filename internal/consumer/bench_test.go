package consumer

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/producer"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// BenchmarkHotPath is the consumer's whole per-record path but for the
// fetch itself: the fetcher goroutine's decode and validation of a fetch
// (generation.decoder), and the batch loop's campaign lookup, duplicate
// check and window aggregation of it (generation.process), as the two run
// in the consumer, on one goroutine, so records/s is per core. The records
// are what the producer sends, joined with the repository's campaigns.csv;
// event time advances one second every 1,000 records, so one-minute windows
// hold 60,000 views and close as the stream goes on, and their sums are
// taken as a batch cut would. Writing files and committing happen per
// batch, not per record, and are not included; `make bench` measures the
// whole consumer.
func BenchmarkHotPath(b *testing.B) {
	const (
		pool      = 256_000 // records generated up front, about 4.3 minutes of event time; a multiple of perFetch
		perSecond = 1000
		perFetch  = 1000
	)
	table, err := campaigns.LoadFile("../../data/log_data/input_data/campaigns.csv")
	if err != nil {
		b.Fatal(err)
	}
	gen := producer.NewGenerator(rand.New(rand.NewPCG(1, 2)))
	end := time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)
	records := make([]kafkaio.Record, pool)
	size := 0
	for i := range records {
		if i > 0 && i%perSecond == 0 {
			end = end.Add(time.Second)
		}
		v, err := record.Marshal(gen.View(end))
		if err != nil {
			b.Fatal(err)
		}
		records[i] = kafkaio.Record{Offset: int64(i), Value: v, Size: len(v)}
		size += len(v)
	}
	b.SetBytes(int64(size / pool))
	b.ReportAllocs()

	cfg := window.Config{Size: time.Minute, WatermarkDelay: 10 * time.Second}
	c := &Consumer{tables: NewTables("", table, time.Now)}
	p := &partition{state: window.NewPartition(cfg, window.Checkpoint{})}
	g := &generation{c: c, in: make(chan *chunk, 1), free: make(chan *chunk, 2)}
	handle := g.decoder(b.Context(), p)
	var counts Counts
	f := kafkaio.Fetch{}
	n := 0
	for b.Loop() {
		// One record per op; a fetch of perFetch records every
		// perFetch ops.
		n++
		if n%perFetch != 0 {
			continue
		}
		k := (n - perFetch) % pool
		if k == 0 && n > perFetch {
			// Out of records: start over as a new consumer of the
			// partition would.
			p.state = window.NewPartition(cfg, window.Checkpoint{})
		}
		f.Records = records[k : k+perFetch]
		f.Next = int64(k + perFetch)
		if err := handle(&f); err != nil {
			b.Fatal(err)
		}
		ch := <-g.in
		g.process(ch)
		g.recycle(ch)
		// What a batch cut does with the windows that closed.
		p.state.TakeClosed()
		counts.add(p.counts)
		p.counts = Counts{}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if counts.Read != int64(n/perFetch*perFetch) || counts.Aggregated != counts.Read {
		b.Fatalf("counts %+v after %d records", counts, n)
	}
}
