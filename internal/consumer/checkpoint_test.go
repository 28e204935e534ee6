package consumer

import (
	"testing"

	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

func TestCheckpointMetadataRoundTrip(t *testing.T) {
	for _, cp := range []window.Checkpoint{
		{Offset: 42, Processed: 42},
		{Offset: 10, Watermark: 1726049100000000000, HasWatermark: true, Processed: 57},
		{Offset: 0, Watermark: -5, HasWatermark: true, Processed: 0},
	} {
		meta := encodeCheckpoint(cp)
		if len(meta) > 4096 {
			t.Errorf("metadata %d bytes, over Kafka's default limit", len(meta))
		}
		got, err := decodeCheckpoint(cp.Offset, meta)
		if err != nil || got != cp {
			t.Errorf("decode(encode(%+v)) = %+v, %v (metadata %q)", cp, got, err, meta)
		}
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
