package consumer

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/viewlog/viewlog/internal/window"
)

// checkpoint is what the consumer commits for a partition: the engine's
// checkpoint (offset, watermark, processed) and what the group needs to
// know beyond it.
type checkpoint struct {
	window.Checkpoint
	// Idle says the partition is caught up and has had no record for
	// PARTITION_IDLE_TIMEOUT: the others leave its watermark out when they
	// work out the group's event time.
	Idle bool
	// Advance, when set, is an idle advance committed before the windows
	// it finalizes are written: a replay applies it at the same offset, so
	// that it finalizes the same windows with the same records.
	Advance *advance
	// Campaigns is the campaign ids known at Processed
	// (campaigns.EncodeIDs), empty if not carried; Additions the reloads
	// a replay from Offset meets. See campaigns.go.
	Campaigns string
	Additions []addition
}

// same reports whether a and b commit the same thing.
func (a checkpoint) same(b checkpoint) bool {
	return a.Checkpoint == b.Checkpoint && a.Idle == b.Idle && (a.Advance == nil) == (b.Advance == nil) &&
		(a.Advance == nil || *a.Advance == *b.Advance) && a.Campaigns == b.Campaigns &&
		slices.EqualFunc(a.Additions, b.Additions, func(x, y addition) bool { return x.From == y.From && x.IDs == y.IDs })
}

// advance is "watermark Watermark from offset At": once every record below
// At is aggregated, the partition's watermark moves to Watermark.
type advance struct {
	Watermark int64
	At        int64
}

// checkpointMeta is the offset metadata. Without the watermark, a restart
// would re-read stragglers of windows that were already written and, not
// knowing those windows were final, write them again with only the
// stragglers in them.
//
// The format only grows: fields are added, never changed, and the version
// stays 1, so that a consumer of the previous version, which ignores fields
// it does not know, reads the watermark and the processed offset during a
// rolling upgrade. Kafka limits metadata to offset.metadata.max.bytes (4096
// by default): without campaign ids a checkpoint takes under 150 bytes, and
// the ids carried are bounded (maxEncodedCampaigns).
type checkpointMeta struct {
	Version int `json:"v"`
	// Watermark in Unix nanoseconds; absent if the partition has none yet.
	Watermark *int64 `json:"wm,omitempty"`
	// Processed is the offset after the last record handled.
	Processed int64 `json:"processed"`
	Idle      bool  `json:"idle,omitempty"`
	// AdvanceWatermark and AdvanceAt are Advance.
	AdvanceWatermark *int64 `json:"adv_wm,omitempty"`
	AdvanceAt        *int64 `json:"adv_at,omitempty"`
	// Campaigns and Additions are checkpoint's: the ids, and
	// [from, ids] pairs.
	Campaigns string            `json:"camps,omitempty"`
	Additions []json.RawMessage `json:"adds,omitempty"`
}

const metaVersion = 1

func encodeCheckpoint(cp checkpoint) string {
	m := checkpointMeta{Version: metaVersion, Processed: cp.Processed, Idle: cp.Idle}
	if cp.HasWatermark {
		m.Watermark = &cp.Watermark
	}
	if a := cp.Advance; a != nil {
		m.AdvanceWatermark, m.AdvanceAt = &a.Watermark, &a.At
	}
	m.Campaigns = cp.Campaigns
	for _, a := range cp.Additions {
		pair, _ := json.Marshal([]any{a.From, a.IDs}) // cannot fail for these types
		m.Additions = append(m.Additions, pair)
	}
	b, _ := json.Marshal(m) // cannot fail for this type
	return string(b)
}

// decodeCheckpoint reads metadata committed by encodeCheckpoint, of this
// version or an earlier one. Empty metadata (a group this consumer never
// committed for) is not an error.
func decodeCheckpoint(offset int64, meta string) (checkpoint, error) {
	cp := checkpoint{Checkpoint: window.Checkpoint{Offset: offset, Processed: offset}}
	if meta == "" {
		return cp, nil
	}
	var m checkpointMeta
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return cp, fmt.Errorf("offset metadata %q: %w", meta, err)
	}
	if m.Version != metaVersion {
		return cp, fmt.Errorf("offset metadata %q: version %d, want %d", meta, m.Version, metaVersion)
	}
	if m.Watermark != nil {
		cp.Watermark, cp.HasWatermark = *m.Watermark, true
	}
	cp.Processed = max(m.Processed, offset)
	cp.Idle = m.Idle
	if m.AdvanceWatermark != nil && m.AdvanceAt != nil {
		cp.Advance = &advance{Watermark: *m.AdvanceWatermark, At: *m.AdvanceAt}
	}
	cp.Campaigns = m.Campaigns
	for _, raw := range m.Additions {
		var a addition
		pair := []any{&a.From, &a.IDs}
		if err := json.Unmarshal(raw, &pair); err != nil {
			return cp, fmt.Errorf("offset metadata %q: campaign additions: %w", meta, err)
		}
		cp.Additions = append(cp.Additions, a)
	}
	return cp, nil
}
