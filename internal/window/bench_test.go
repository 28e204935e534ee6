package window_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/producer"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// Shape of the benchmark stream: views of the producer's 14 campaigns with
// random version 4 UUIDs, end times advancing one second every
// benchPerSecond records, so that a one-minute window holds 60,000 views
// and windows close (and are taken) as they would in a running consumer.
const (
	benchPool      = 1 << 18 // views generated up front, about 4.4 minutes of event time
	benchPerSecond = 1000
)

var benchConfig = window.Config{Size: time.Minute, WatermarkDelay: 10 * time.Second}

func benchViews(tb testing.TB) []window.Event {
	tb.Helper()
	gen := producer.NewGenerator(rand.New(rand.NewPCG(1, 2)))
	end := time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)
	views := make([]window.Event, benchPool)
	for i := range views {
		if i > 0 && i%benchPerSecond == 0 {
			end = end.Add(time.Second)
		}
		// Through the codec, as the consumer gets them.
		b, err := record.Marshal(gen.View(end))
		if err != nil {
			tb.Fatal(err)
		}
		v, reason := record.Decode(b)
		if reason != record.Valid {
			tb.Fatal(reason)
		}
		views[i] = window.EventOf(&v)
	}
	return views
}

// BenchmarkAdd is Partition.Add for one record per op, on one goroutine,
// closed windows taken every 1,000 records as the consumer takes them after
// each batch. When the pool of views runs out it is replayed later in event
// time, so the partition runs on as a long-lived consumer's does.
func BenchmarkAdd(b *testing.B) {
	views := benchViews(b)
	span := views[len(views)-1].End - views[0].End + int64(time.Second)
	b.ReportAllocs()
	p := window.NewPartition(benchConfig, window.Checkpoint{})
	var aggregated, closed int
	i := 0
	for b.Loop() {
		k := i % benchPool
		e := views[k]
		e.End += int64(i/benchPool) * span
		if p.Add(int64(i), &e) == window.Aggregated {
			aggregated++
		}
		if k%1000 == 999 {
			closed += len(p.TakeClosed())
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if aggregated != b.N {
		b.Fatalf("%d of %d records aggregated", aggregated, b.N)
	}
	_ = closed
}
