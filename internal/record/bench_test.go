package record_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/producer"
	"github.com/viewlog/viewlog/internal/record"
)

// benchValues returns n record values exactly as the producer sends them:
// generated views, encoded with record.Marshal, end times advancing one
// second every perSecond records.
func benchValues(tb testing.TB, n, perSecond int) [][]byte {
	tb.Helper()
	gen := producer.NewGenerator(rand.New(rand.NewPCG(1, 2)))
	end := time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)
	vals := make([][]byte, n)
	for i := range vals {
		if i > 0 && i%perSecond == 0 {
			end = end.Add(time.Second)
		}
		b, err := record.Marshal(gen.View(end))
		if err != nil {
			tb.Fatal(err)
		}
		vals[i] = b
	}
	return vals
}

// BenchmarkDecode is the consumer's per-record parse and validation, one
// record per op, on one goroutine.
func BenchmarkDecode(b *testing.B) {
	const n = 4096 // a power of two
	vals := benchValues(b, n, 1000)
	total := 0
	for _, v := range vals {
		total += len(v)
	}
	b.SetBytes(int64(total / n))
	b.ReportAllocs()
	var sink int64
	i := 0
	for b.Loop() {
		v, r := record.Decode(vals[i&(n-1)])
		if r != record.Valid {
			b.Fatalf("record %d rejected: %v", i&(n-1), r)
		}
		sink += v.DurationSeconds()
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if sink == 0 {
		b.Fatal("no durations")
	}
}
