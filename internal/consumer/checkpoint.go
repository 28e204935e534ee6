package consumer

import (
	"encoding/json"
	"fmt"

	"github.com/viewlog/viewlog/internal/window"
)

// checkpointMeta is what the consumer commits as offset metadata beside each
// partition's offset. Without the watermark, a restart would re-read
// stragglers of windows that were already written and, not knowing those
// windows were final, write them again with only the stragglers in them.
type checkpointMeta struct {
	Version int `json:"v"`
	// Watermark in Unix nanoseconds; absent if the partition has none yet.
	Watermark *int64 `json:"wm,omitempty"`
	// Processed is the offset after the last record handled.
	Processed int64 `json:"processed"`
}

const metaVersion = 1

func encodeCheckpoint(cp window.Checkpoint) string {
	m := checkpointMeta{Version: metaVersion, Processed: cp.Processed}
	if cp.HasWatermark {
		m.Watermark = &cp.Watermark
	}
	b, _ := json.Marshal(m) // cannot fail for this type
	return string(b)
}

// decodeCheckpoint reads metadata committed by encodeCheckpoint. Empty
// metadata (a group this consumer never committed for) is not an error.
func decodeCheckpoint(offset int64, meta string) (window.Checkpoint, error) {
	cp := window.Checkpoint{Offset: offset, Processed: offset}
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
	return cp, nil
}
