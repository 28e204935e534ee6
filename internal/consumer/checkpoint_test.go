package consumer

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

func TestCheckpointMetadataRoundTrip(t *testing.T) {
	for _, cp := range []checkpoint{
		{Checkpoint: window.Checkpoint{Offset: 42, Processed: 42}},
		{Checkpoint: window.Checkpoint{Offset: 10, Watermark: 1726049100000000000, HasWatermark: true, Processed: 57}},
		{Checkpoint: window.Checkpoint{Offset: 0, Watermark: -5, HasWatermark: true, Processed: 0}},
		{Checkpoint: window.Checkpoint{Offset: 3, Processed: 9}, Idle: true},
		{Checkpoint: window.Checkpoint{Offset: 3, Watermark: 7, HasWatermark: true, Processed: 9}, Idle: true, Advance: &advance{Watermark: 99, At: 9}},
	} {
		meta := encodeCheckpoint(cp)
		got, err := decodeCheckpoint(cp.Offset, meta)
		if err != nil || got.Checkpoint != cp.Checkpoint || got.Idle != cp.Idle || (got.Advance == nil) != (cp.Advance == nil) ||
			(cp.Advance != nil && *got.Advance != *cp.Advance) {
			t.Errorf("decode(encode(%+v)) = %+v, %v (metadata %q)", cp, got, err, meta)
		}
	}
}

// The largest checkpoint, every field at its widest, stays far under
// Kafka's default offset.metadata.max.bytes (4096); kfake does not check.
func TestCheckpointMetadataSize(t *testing.T) {
	wide := int64(math.MinInt64)
	cp := checkpoint{
		Checkpoint: window.Checkpoint{Offset: math.MaxInt64, Watermark: wide, HasWatermark: true, Processed: math.MaxInt64},
		Idle:       true,
		Advance:    &advance{Watermark: wide, At: math.MaxInt64},
	}
	if n := len(encodeCheckpoint(cp)); n > 150 {
		t.Errorf("largest metadata is %d bytes", n)
	}
}

// A checkpoint the previous version wrote (version 1, watermark and
// processed only) resumes with its watermark and processed offset, so that
// an upgrade neither loses watermarks nor rewrites windows with fewer rows:
// replayed stragglers of written windows are still late.
func TestResumeFromPreviousVersionCheckpoint(t *testing.T) {
	const meta = `{"v":1,"wm":1726049160000000000,"processed":57}`
	cp, err := decodeCheckpoint(40, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.HasWatermark || cp.Watermark != 1726049160000000000 || cp.Processed != 57 || cp.Idle || cp.Advance != nil {
		t.Fatalf("decoded %+v", cp)
	}
	p := window.NewPartition(window.Config{Size: time.Minute, WatermarkDelay: 10 * time.Second}, cp.Checkpoint)
	v := record.View{ViewID: []byte("x"), CampaignID: 10, StartTimestamp: time.Unix(1726049100, 0), EndTimestamp: time.Unix(1726049130, 0)}
	e := window.EventOf(&v)
	if got := p.Add(41, &e); got != window.Late || !p.Replayed(41) {
		t.Fatalf("a replayed straggler of a written window: %v, replayed %v", got, p.Replayed(41))
	}
	// And what this version writes, the previous one reads: the fields it
	// knows keep their names and the version stays 1.
	var old struct {
		V         int    `json:"v"`
		Watermark *int64 `json:"wm"`
		Processed int64  `json:"processed"`
	}
	newMeta := encodeCheckpoint(checkpoint{Checkpoint: window.Checkpoint{Offset: 40, Watermark: 5, HasWatermark: true, Processed: 57}, Idle: true,
		Advance: &advance{Watermark: 9, At: 57}})
	if err := json.Unmarshal([]byte(newMeta), &old); err != nil || old.V != 1 || old.Watermark == nil || *old.Watermark != 5 || old.Processed != 57 {
		t.Fatalf("the previous version would read %q as %+v (%v)", newMeta, old, err)
	}
}

func TestDecodeCheckpointForeignMetadata(t *testing.T) {
	tests := []struct {
		meta    string
		wantErr bool
	}{
		{"", false}, // committed by a tool or another client: no watermark
		{"not json", true},
		{`{"v":2,"wm":1}`, true},
		{`{"v":1,"processed":3}`, false},
	}
	for _, tt := range tests {
		cp, err := decodeCheckpoint(7, tt.meta)
		if (err != nil) != tt.wantErr {
			t.Errorf("decodeCheckpoint(%q) err = %v", tt.meta, err)
		}
		// Whatever the metadata, resuming starts at the committed
		// offset and never treats records below it as unseen.
		if cp.Offset != 7 || cp.Processed < 7 || (err != nil && cp.HasWatermark) {
			t.Errorf("decodeCheckpoint(%q) = %+v", tt.meta, cp)
		}
	}
}

func TestCountsBalance(t *testing.T) {
	var c Counts
	c.Read = 10
	c.Aggregated, c.Duplicate, c.Late, c.Unknown = 4, 2, 1, 1
	c.reject(record.InvalidJSON)
	if c.Balanced() {
		t.Fatal("9 of 10 records accounted for, reported balanced")
	}
	c.reject(record.EndBeforeStart)
	if !c.Balanced() || c.RejectedTotal() != 2 {
		t.Fatalf("balanced=%v rejected=%d", c.Balanced(), c.RejectedTotal())
	}
	var total Counts
	total.add(c)
	total.add(c)
	if total.Read != 20 || total.Rejected[record.InvalidJSON] != 2 || !total.Balanced() {
		t.Fatalf("sum %+v", total)
	}
}

// FuzzDecodeCheckpoint: offset metadata is whatever any client committed;
// decoding never panics, resumes at the committed offset, and what decodes
// encodes back to the same checkpoint.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(int64(7), "")
	f.Add(int64(40), `{"v":1,"wm":1726049160000000000,"processed":57}`)
	f.Add(int64(3), encodeCheckpoint(checkpoint{Checkpoint: window.Checkpoint{Offset: 3, Watermark: 7, HasWatermark: true, Processed: 9},
		Idle: true, Advance: &advance{Watermark: 99, At: 9}, Campaigns: "ChQKFA", Additions: []addition{{From: 5, IDs: "lgE"}}}))
	f.Fuzz(func(t *testing.T, offset int64, meta string) {
		cp, err := decodeCheckpoint(offset, meta)
		if cp.Offset != offset || cp.Processed < offset {
			t.Fatalf("decodeCheckpoint(%d, %q) = %+v: not resuming at the committed offset", offset, meta, cp)
		}
		if err != nil {
			return
		}
		again, err := decodeCheckpoint(offset, encodeCheckpoint(cp))
		if err != nil || !again.same(cp) {
			t.Fatalf("%q: decode(encode(%+v)) = %+v, %v", meta, cp, again, err)
		}
	})
}
