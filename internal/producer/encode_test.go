package producer

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/viewlog/viewlog/internal/record"
)

// The fast encoder must write what record.Marshal writes, byte for byte:
// consumers of the topic, the dead-letter headers and the tests all see
// these bytes.
func TestAppendMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ends := []time.Time{
		time.Now(),
		time.Date(2024, 9, 11, 10, 5, 7, 999_999_999, time.UTC),
		time.Date(2024, 12, 31, 23, 59, 59, 0, time.FixedZone("CET", 3600)),
		time.Date(2025, 1, 1, 0, 2, 0, 1, time.UTC),  // starts fall in the previous year
		time.Date(2024, 3, 1, 0, 0, 30, 0, time.UTC), // and on 29 February
		time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC),  // and before the epoch
	}
	for range 200 {
		ends = append(ends, time.Unix(rng.Int64N(7_000_000_000), rng.Int64N(1e9)))
	}
	viewGen := NewGenerator(rand.New(rand.NewPCG(7, 8)))
	appendGen := NewGenerator(rand.New(rand.NewPCG(7, 8)))
	var buf []byte
	for _, end := range ends {
		for range 50 {
			v := viewGen.View(end)
			want, err := record.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var key []byte
			buf, key = appendGen.Append(buf[:0], end)
			if !bytes.Equal(buf, want) {
				t.Fatalf("end %v:\n got %s\nwant %s", end, buf, want)
			}
			if string(key) != string(want[bytes.LastIndexByte(want, ':')+1:len(want)-1]) {
				t.Fatalf("key %q for %s", key, want)
			}
		}
	}
}

// Every day of four centuries around now, at random seconds, formats as
// time.Format does: leap years, month ends and century rules included.
func TestAppendTimestampEveryDay(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	from := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	to := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	var (
		buf []byte
		s   stamper
	)
	for day := from; day < to; day++ {
		// A second of a new day, the same second again, and another of
		// the same day.
		first := day*86400 + rng.Int64N(86400)
		for _, sec := range []int64{first, first, day*86400 + rng.Int64N(86400)} {
			buf = s.append(buf[:0], sec)
			if want := time.Unix(sec, 0).UTC().Format(timestampLayout); string(buf) != want {
				t.Fatalf("%d: got %s, want %s", sec, buf, want)
			}
		}
	}
}

// FuzzAppendView holds the encoder to record.Marshal for any id, any
// timestamps (years far outside 0-9999 included) and any numbers.
func FuzzAppendView(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), int64(1726049107), int64(1726049407), int64(7), int32(10))
	f.Add([]byte{}, int64(-62167219200), int64(253402300799), int64(math.MinInt64), int32(math.MinInt32))
	f.Add([]byte{0xff}, int64(-62167219201), int64(253402300800), int64(math.MaxInt64), int32(math.MaxInt32))
	f.Fuzz(func(t *testing.T, idBytes []byte, start, end, bannerID int64, campaignID int32) {
		var id [16]byte
		copy(id[:], idBytes)
		// Most inputs are folded into the years the hand-written formatter
		// covers (0000-9999, and as far before 0000); the rest are only
		// kept within what time.Unix takes without overflowing.
		const years10k = 253402300800
		var s, e stamper
		checkAppendView(t, &s, &e, &id, start%years10k, end%years10k, bannerID, campaignID)
		checkAppendView(t, &s, &e, &id, start%(1<<60), end%(1<<60), bannerID, campaignID)
		// The same seconds and days again, remembered.
		checkAppendView(t, &s, &e, &id, start%(1<<60), end%(1<<60), bannerID, campaignID)
		checkAppendView(t, &s, &e, &id, start%(1<<60)+1, end%(1<<60)-1, bannerID, campaignID)
	})
}

func checkAppendView(t *testing.T, s, e *stamper, id *[16]byte, start, end, bannerID int64, campaignID int32) {
	t.Helper()
	got := appendView(nil, s, e, id, start, end, bannerID, strconv.AppendInt(nil, int64(campaignID), 10))
	want, err := record.Marshal(record.View{
		ViewID:         []byte(uuid.UUID(*id).String()),
		StartTimestamp: time.Unix(start, 0),
		EndTimestamp:   time.Unix(end, 0),
		BannerID:       bannerID,
		CampaignID:     campaignID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	g := NewGenerator(rand.New(rand.NewPCG(1, 2)))
	buf := make([]byte, 0, 512)
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { buf, _ = g.Append(buf[:0], now) }); n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}

func BenchmarkGenerate(b *testing.B) {
	now := time.Now()
	b.Run("append", func(b *testing.B) {
		g := NewGenerator(rand.New(rand.NewPCG(1, 2)))
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = g.Append(buf[:0], now)
		}
	})
	b.Run("view+marshal", func(b *testing.B) {
		g := NewGenerator(rand.New(rand.NewPCG(1, 2)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := record.Marshal(g.View(now)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
