package window

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/record"
)

var cfg = Config{Size: time.Minute, WatermarkDelay: 10 * time.Second}

// base is a minute boundary.
var base = time.Date(2024, 9, 11, 10, 5, 0, 0, time.UTC)

func view(id string, campaign int32, end time.Time, dur time.Duration) record.View {
	u, ok := record.ParseUUID([]byte(id))
	return record.View{ViewID: []byte(id), UUID: u, HasUUID: ok, CampaignID: campaign, EndTimestamp: end, StartTimestamp: end.Add(-dur)}
}

// ev is v as the engine takes it.
func ev(v record.View) *Event {
	e := EventOf(&v)
	return &e
}

func at(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }

func TestAggregateAndClose(t *testing.T) {
	p := NewPartition(cfg, Checkpoint{})
	steps := []struct {
		v    record.View
		want Outcome
	}{
		{view("a", 10, at(5), 10*time.Second), Aggregated},
		{view("b", 10, at(59), 20*time.Second), Aggregated},
		{view("c", 20, at(30), 7*time.Second), Aggregated},
		{view("a", 10, at(6), time.Second), Duplicate}, // same id, same window
		{view("d", 10, at(65), 4*time.Second), Aggregated},
		// Watermark is now 65-10 = 55 s: the first window [0,60) is open.
		{view("e", 20, at(50), 3*time.Second), Aggregated},
		// 70 s moves the watermark to 60: window [0,60) closes.
		{view("f", 10, at(70), 5*time.Second), Aggregated},
		{view("g", 10, at(59), 5*time.Second), Late},
		{view("a", 10, at(80), 2*time.Second), Aggregated}, // same id, other window: not a duplicate
	}
	for i, s := range steps {
		if got := p.Add(int64(i), ev(s.v)); got != s.want {
			t.Fatalf("step %d (%s at %v): %v, want %v", i, s.v.ViewID, s.v.EndTimestamp, got, s.want)
		}
		if i == 5 && len(p.closed) != 0 {
			t.Fatalf("window closed before the watermark reached its end")
		}
	}
	got := p.TakeClosed()
	want := []Aggregate{
		{CampaignID: 10, Start: at(0), End: at(60), SumDuration: 30, Count: 2},
		{CampaignID: 20, Start: at(0), End: at(60), SumDuration: 10, Count: 2},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("closed = %+v\nwant %+v", got, want)
	}
	if again := p.TakeClosed(); len(again) != 0 {
		t.Fatalf("TakeClosed returned %d windows twice", len(again))
	}
	// The open window [60,120) started at offset 4: the commit must not
	// pass it.
	if cp := p.Checkpoint(); cp.Offset != 4 || cp.Processed != int64(len(steps)) || !cp.HasWatermark || cp.Watermark != at(70).UnixNano() {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestWindowAlignment(t *testing.T) {
	tests := []struct {
		size time.Duration
		end  time.Time
		want time.Time
	}{
		{time.Minute, time.Date(2024, 1, 1, 0, 0, 59, 999, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Minute, time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC)},
		{10 * time.Second, time.Date(2024, 1, 1, 0, 0, 19, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 10, 0, time.UTC)},
		{time.Hour, time.Date(2024, 1, 1, 5, 59, 0, 0, time.UTC), time.Date(2024, 1, 1, 5, 0, 0, 0, time.UTC)},
		// 7-minute windows are aligned to the epoch, not to the hour.
		{7 * time.Minute, time.Unix(7*60*3+5, 0), time.Unix(7*60*3, 0)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size, tt.end), func(t *testing.T) {
			p := NewPartition(Config{Size: tt.size}, Checkpoint{})
			p.Add(0, ev(view("a", 1, tt.end, 0)))
			p.Add(1, ev(view("b", 1, tt.end.Add(2*tt.size), 0)))
			got := p.TakeClosed()
			if len(got) != 1 || !got[0].Start.Equal(tt.want) || !got[0].End.Equal(tt.want.Add(tt.size)) {
				t.Fatalf("closed %+v, want window starting %v", got, tt.want)
			}
		})
	}
}

func TestAvgDuration(t *testing.T) {
	tests := []struct {
		sum, count int64
		want       float64
	}{
		{107, 40, 2.68}, // 2.675 exactly: half-up, where float rounding gives 2.67
		{1, 3, 0.33},
		{2, 3, 0.67},
		{1, 200, 0.01}, // 0.005
		{1, 201, 0},
		{300, 1, 300},
		{0, 5, 0},
		{1 << 62, 1, float64(1<<62) / 1},
		{0, 0, 0},
	}
	for _, tt := range tests {
		got := Aggregate{SumDuration: tt.sum, Count: tt.count}.AvgDuration()
		if got != tt.want {
			t.Errorf("avg(%d/%d) = %v, want %v", tt.sum, tt.count, got, tt.want)
		}
	}
}

func TestRestoredWatermarkMakesReplayedStragglersLate(t *testing.T) {
	// Before the crash: window [0,60) was written and the commit was taken
	// with its stragglers still ahead of the committed offset.
	p := NewPartition(cfg, Checkpoint{})
	p.Add(0, ev(view("a", 10, at(10), time.Second)))
	p.Add(1, ev(view("b", 10, at(65), time.Second))) // opens [60,120) at offset 1
	p.Add(2, ev(view("c", 10, at(71), time.Second))) // closes [0,60)
	p.Add(3, ev(view("d", 10, at(55), time.Second))) // late
	if n := len(p.TakeClosed()); n != 1 {
		t.Fatalf("%d windows closed, want 1", n)
	}
	cp := p.Checkpoint()
	if cp.Offset != 1 {
		t.Fatalf("checkpoint offset %d, want 1", cp.Offset)
	}

	// After the restart, offsets 1.. are replayed.
	r := NewPartition(cfg, cp)
	if got := r.Add(1, ev(view("b", 10, at(65), time.Second))); got != Aggregated {
		t.Fatalf("replayed open-window record: %v", got)
	}
	if !r.Replayed(3) || r.Replayed(4) {
		t.Fatalf("Replayed: offsets below %d were handled before the checkpoint", cp.Processed)
	}
	r.Add(2, ev(view("c", 10, at(71), time.Second)))
	if got := r.Add(3, ev(view("d", 10, at(55), time.Second))); got != Late {
		t.Fatalf("replayed straggler of a written window: %v, want late", got)
	}
	if closed := r.TakeClosed(); len(closed) != 0 {
		t.Fatalf("replay rewrote windows %+v", closed)
	}
}

// TestCrashReplayIsExact is the guarantee the consumer's commit rule rests
// on: for any input and any crash point, restarting from the last checkpoint
// and replaying produces, for every window, exactly the aggregate an
// uninterrupted run produces, and never a window that run did not produce.
func TestCrashReplayIsExact(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		views := randomViews(rng, 200+rng.IntN(300))
		want := run(views, nil)

		// Crash after a random batch, with the checkpoint of an
		// earlier batch boundary being the last one committed; the
		// windows written between the two are written again.
		outputs := map[key]Aggregate{}
		p := NewPartition(cfg, Checkpoint{})
		batch := 1 + rng.IntN(40)
		var committed Checkpoint
		crashAt := rng.IntN(len(views))
		for off := range views {
			p.Add(int64(off), ev(views[off]))
			if off%batch == batch-1 || off == crashAt {
				for _, a := range p.TakeClosed() {
					outputs[keyOf(a)] = a
				}
				if off == crashAt {
					break
				}
				if rng.IntN(3) > 0 { // some commits fail
					committed = p.Checkpoint()
				}
			}
		}
		r := NewPartition(cfg, committed)
		for off := committed.Offset; off < int64(len(views)); off++ {
			r.Add(off, ev(views[off]))
		}
		for _, a := range r.TakeClosed() {
			if prev, ok := outputs[keyOf(a)]; ok && prev != a {
				t.Fatalf("seed %d: window %v rewritten as %+v, was %+v", seed, keyOf(a), a, prev)
			}
			outputs[keyOf(a)] = a
		}
		if !maps.Equal(outputs, want) {
			t.Fatalf("seed %d (batch %d, crash at %d, committed %+v): output differs from an uninterrupted run\n got %v\nwant %v",
				seed, batch, crashAt, committed, outputs, want)
		}
	}
}

type key struct {
	start    int64
	campaign int32
}

func keyOf(a Aggregate) key { return key{a.Start.UnixNano(), a.CampaignID} }

func run(views []record.View, p *Partition) map[key]Aggregate {
	if p == nil {
		p = NewPartition(cfg, Checkpoint{})
	}
	out := map[key]Aggregate{}
	for off, v := range views {
		p.Add(int64(off), ev(v))
	}
	for _, a := range p.TakeClosed() {
		out[keyOf(a)] = a
	}
	return out
}

// randomViews is a stream with mostly increasing end times, stragglers up to
// 90 s behind, and duplicates.
func randomViews(rng *rand.Rand, n int) []record.View {
	views := make([]record.View, 0, n)
	clock := at(0)
	for i := range n {
		clock = clock.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		end := clock.Add(-time.Duration(rng.IntN(90)) * time.Second * time.Duration(rng.IntN(2)))
		id := fmt.Sprintf("v%d", i)
		if i > 0 && rng.IntN(10) == 0 {
			prev := views[rng.IntN(len(views))]
			views = append(views, prev)
			continue
		}
		views = append(views, view(id, int32(10*(1+rng.IntN(3))), end, time.Duration(1+rng.IntN(300))*time.Second))
	}
	return views
}

func TestIDSet(t *testing.T) {
	var s idSet
	ids := []string{
		"0f8fad5b-d9cb-469f-a165-70867728950e",
		"0F8FAD5B-D9CB-469F-A165-70867728950E", // different bytes: a different id
		"0f8fad5bd9cb469fa16570867728950e",
		"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
		"not-a-uuid",
	}
	for _, id := range ids {
		if key := IDOf(ptr(view(id, 1, base, 0))); !s.add(&key) {
			t.Errorf("add(%q) on first sight reported a duplicate", id)
		}
	}
	for _, id := range ids {
		if key := IDOf(ptr(view(id, 1, base, 0))); s.add(&key) {
			t.Errorf("add(%q) twice reported new", id)
		}
	}
	if s.uuids.n != 1 {
		t.Errorf("%d canonical UUIDs stored compactly, want 1", s.uuids.n)
	}
}

// uuidSet agrees with a map on random streams with repeats, through table
// growth, with the all-zero UUID, and after a reset for reuse.
func TestUUIDSetMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var s uuidSet
	for round := range 3 {
		want := map[[16]byte]bool{}
		var seen [][16]byte
		for i := range 20000 {
			var u [16]byte
			switch {
			case i%97 == 0:
				// the zero UUID
			case len(seen) > 0 && rng.IntN(4) == 0:
				u = seen[rng.IntN(len(seen))]
			default:
				for j := range u {
					u[j] = byte(rng.Uint32())
				}
				// Ids sharing all but the last byte, as sequential ids do.
				if rng.IntN(3) == 0 {
					u = [16]byte{15: byte(i)}
				}
			}
			seen = append(seen, u)
			if got := s.add(u); got != !want[u] {
				t.Fatalf("round %d, insert %d: add(%x) = %v, want %v", round, i, u, got, !want[u])
			}
			want[u] = true
		}
		n := len(want)
		if want[[16]byte{}] {
			n--
		}
		if s.n != n {
			t.Fatalf("round %d: %d ids held, want %d", round, s.n, n)
		}
		slots := len(s.slots)
		s.reset()
		if len(s.slots) != slots || s.n != 0 || s.zero {
			t.Fatalf("reset: %d slots (was %d), n=%d zero=%v", len(s.slots), slots, s.n, s.zero)
		}
	}
}

func ptr[T any](v T) *T { return &v }
