// Package window is the event-time aggregation engine: tumbling windows per
// campaign, a watermark per Kafka partition, exactly-once finalization, late
// and duplicate detection, and the offset a partition may safely commit.
//
// It is pure: records and offsets in, finalized windows and checkpoints out. It
// does no I/O and reads no clock, so its behaviour is a function of its input
// alone. That is what makes replay after a crash reproduce the same windows.
//
// State is kept per Kafka partition because Kafka orders records only within a
// partition: a partition's watermark depends only on that partition's records,
// so re-reading a partition from a committed offset rebuilds exactly the state
// it had, whatever the other partitions did in between.
package window

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/viewlog/viewlog/internal/record"
)

// Config sets the window size and how long a partition waits for stragglers.
type Config struct {
	// Size is the length of each tumbling window; windows are aligned to the
	// Unix epoch.
	Size time.Duration
	// WatermarkDelay is how far behind the largest end_timestamp seen the
	// watermark trails.
	WatermarkDelay time.Duration
}

// Outcome says what became of a record handed to Partition.Add.
type Outcome uint8

// Outcomes of Partition.Add.
const (
	// Aggregated: the record was counted in its window.
	Aggregated Outcome = iota
	// Duplicate: its view_id was already counted in the same window.
	Duplicate
	// Late: its window had already been finalized.
	Late
)

// String names the outcome as it appears in logs and metrics.
func (o Outcome) String() string {
	switch o {
	case Aggregated:
		return "aggregated"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	}
	return "unknown"
}

// Aggregate is one finalized window of one campaign.
type Aggregate struct {
	CampaignID int32
	Start      time.Time
	End        time.Time
	// SumDuration is the sum of the view durations in whole seconds.
	SumDuration int64
	Count       int64
}

// AvgDuration is SumDuration/Count rounded half-up to two decimals, as
// Spark's round(avg(x), 2) does. It is computed in integers so that
// 2.675 rounds to 2.68 rather than to 2.67 as float rounding would.
func (a Aggregate) AvgDuration() float64 {
	if a.Count <= 0 || a.SumDuration < 0 {
		return 0
	}
	// floor((200*sum + count) / (2*count)) in 128 bits: sum can be large
	// enough for 200*sum to overflow int64.
	hi, lo := bits.Mul64(uint64(a.SumDuration), 200)
	lo, carry := bits.Add64(lo, uint64(a.Count), 0)
	hi += carry
	d := 2 * uint64(a.Count)
	if hi >= d {
		// The rounded value does not fit 64 bits; at that magnitude a
		// float64 has no decimals to round anyway.
		return float64(a.SumDuration) / float64(a.Count)
	}
	q, _ := bits.Div64(hi, lo, d)
	return float64(q) / 100
}

// Event is a valid view reduced to what the engine needs. It is small and
// holds no pointer for the usual canonical UUID, so that batches of events
// cost the garbage collector nothing to keep.
type Event struct {
	// End is end_timestamp in Unix nanoseconds: it places the view in
	// its window and moves the watermark.
	End int64
	// Duration is the view duration in whole seconds.
	Duration int64
	Campaign int32
	ID       ID
}

// EventOf reduces a decoded view to an Event. It copies what it keeps, so
// the bytes v was decoded from may be reused afterwards.
func EventOf(v *record.View) Event {
	return Event{
		End:      v.EndTimestamp.UnixNano(),
		Duration: v.DurationSeconds(),
		Campaign: v.CampaignID,
		ID:       IDOf(v),
	}
}

// Checkpoint is what a partition must remember across restarts. It travels
// with the committed offset.
type Checkpoint struct {
	// Offset is the next offset to read: the first record of the oldest
	// window not yet finalized, or past the last record if none is open.
	Offset int64
	// Watermark is the partition's watermark in Unix nanoseconds; every
	// window ending at or before it has been finalized. Valid only if
	// HasWatermark.
	Watermark    int64
	HasWatermark bool
	// Processed is the offset after the last record the partition handled.
	// Records replayed below it were already accounted for before.
	Processed int64
}

// Partition is the aggregation state of one Kafka partition. It is not safe
// for concurrent use.
type Partition struct {
	size, delay int64

	// watermark is valid once hasWatermark; windows with end <= watermark
	// are final.
	watermark    int64
	hasWatermark bool
	processed    int64
	restoredAt   int64

	open map[int64]*slot // by window start
	// last is the slot the previous record went to: consecutive records
	// nearly always share a window.
	last   *slot
	minEnd int64 // smallest end among open slots; MaxInt64 if none
	closed []Aggregate
	// spare holds the emptied id sets of finalized windows for new
	// windows to reuse: a set grown to a window's size would otherwise be
	// grown again, through every power of two, for every window.
	spare []uuidSet
}

// maxSpare is how many emptied id sets a partition keeps: about as many
// windows as are open at once.
const maxSpare = 2

// slot is one open window: every campaign's accumulator for that window and
// the view_ids already counted in it.
type slot struct {
	start       int64
	firstOffset int64
	campaigns   accumulators
	ids         idSet
}

// NewPartition returns the state of a partition that resumes at cp. For a
// partition with no checkpoint, pass Checkpoint{Offset: first offset to read}.
func NewPartition(cfg Config, cp Checkpoint) *Partition {
	return &Partition{
		size:         int64(cfg.Size),
		delay:        int64(cfg.WatermarkDelay),
		watermark:    cp.Watermark,
		hasWatermark: cp.HasWatermark,
		processed:    cp.Offset,
		restoredAt:   max(cp.Processed, cp.Offset),
		open:         make(map[int64]*slot),
		minEnd:       math.MaxInt64,
	}
}

// Replayed reports whether the record at offset had already been handled
// before the checkpoint this partition resumed from was taken. A late record
// that was replayed was counted (or dead-lettered) the first time round.
func (p *Partition) Replayed(offset int64) bool { return offset < p.restoredAt }

// Skip records that the record at offset was consumed without being
// aggregated (rejected, or of an unknown campaign), so that the checkpoint
// can move past it.
func (p *Partition) Skip(offset int64) {
	p.processed = max(p.processed, offset+1)
}

// Add hands the event at offset to its window and reports what became of it.
// Events must be added in offset order.
func (p *Partition) Add(offset int64, e *Event) Outcome {
	p.processed = max(p.processed, offset+1)
	start := floorDiv(e.End, p.size) * p.size

	// A late record cannot move the watermark: its end is before its
	// window's end, which is already at or below the watermark.
	if p.hasWatermark && start+p.size <= p.watermark {
		return Late
	}
	s := p.last
	if s == nil || s.start != start {
		s = p.open[start]
		if s == nil {
			s = &slot{start: start, firstOffset: offset}
			if n := len(p.spare); n > 0 {
				s.ids.uuids, p.spare = p.spare[n-1], p.spare[:n-1]
			}
			p.open[start] = s
			p.minEnd = min(p.minEnd, start+p.size)
		}
		p.last = s
	}
	outcome := Duplicate
	if s.ids.add(&e.ID) {
		s.campaigns.add(e.Campaign, e.Duration)
		outcome = Aggregated
	}
	if wm := e.End - p.delay; !p.hasWatermark || wm > p.watermark {
		p.advance(wm)
	}
	return outcome
}

// AdvanceTo moves the watermark to wm, if that is past it, and finalizes
// the windows wm passes, as a record ending at wm+WatermarkDelay would. The
// consumer calls it for a partition that has gone quiet, with the event
// time of the others; a replay must call it at the same offset, after the
// same records, to finalize the same windows with the same content.
func (p *Partition) AdvanceTo(wm int64) {
	if !p.hasWatermark || wm > p.watermark {
		p.advance(wm)
	}
}

// Watermark returns the partition's watermark; ok is false if it has none.
func (p *Partition) Watermark() (wm int64, ok bool) { return p.watermark, p.hasWatermark }

// advance moves the watermark to wm, which is past the current one, and
// finalizes the windows it passes.
func (p *Partition) advance(wm int64) {
	p.watermark, p.hasWatermark = wm, true
	if wm < p.minEnd {
		return
	}
	p.minEnd = math.MaxInt64
	var done []*slot
	for start, s := range p.open {
		if start+p.size <= wm {
			done = append(done, s)
			delete(p.open, start)
			continue
		}
		p.minEnd = min(p.minEnd, start+p.size)
	}
	p.last = nil
	slices.SortFunc(done, func(a, b *slot) int { return cmp.Compare(a.start, b.start) })
	for _, s := range done {
		if s.ids.uuids.slots != nil && len(p.spare) < maxSpare {
			s.ids.uuids.reset()
			p.spare = append(p.spare, s.ids.uuids)
		}
		first := len(p.closed)
		for _, acc := range s.campaigns.list {
			p.closed = append(p.closed, Aggregate{
				CampaignID:  acc.campaign,
				Start:       time.Unix(0, s.start).UTC(),
				End:         time.Unix(0, s.start+p.size).UTC(),
				SumDuration: acc.sum,
				Count:       acc.count,
			})
		}
		slices.SortFunc(p.closed[first:], func(a, b Aggregate) int { return cmp.Compare(a.CampaignID, b.CampaignID) })
	}
}

// TakeClosed returns the windows finalized since the last call, oldest first
// and by campaign within a window, and forgets them. The caller must make
// them durable before committing Checkpoint().
func (p *Partition) TakeClosed() []Aggregate {
	c := p.closed
	p.closed = nil
	return c
}

// Checkpoint is the state to commit once the windows returned by TakeClosed
// are durable. Committing its Offset never skips a record of a window that is
// still open, so a restart from it rebuilds every open window in full.
func (p *Partition) Checkpoint() Checkpoint {
	off := p.processed
	for _, s := range p.open {
		off = min(off, s.firstOffset)
	}
	return Checkpoint{
		Offset:       off,
		Watermark:    p.watermark,
		HasWatermark: p.hasWatermark,
		Processed:    max(p.processed, p.restoredAt),
	}
}

// OpenWindows is the number of windows not yet finalized.
func (p *Partition) OpenWindows() int { return len(p.open) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
