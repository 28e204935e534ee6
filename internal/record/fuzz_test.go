package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that no input makes the decoder panic, and that whatever
// it accepts is a record the pipeline can use: an id, a campaign in range,
// timestamps in range and in order, and a value that re-encodes and decodes
// to the same view.
func FuzzDecode(f *testing.F) {
	addRecordSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, r := Decode(b)
		if r != Valid {
			if !sameView(v, View{}) {
				t.Fatalf("rejected (%v) but returned %+v", r, v)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if len(v.ViewID) == 0 || v.CampaignID <= 0 {
			t.Fatalf("accepted %+v", v)
		}
		if v.EndTimestamp.Before(v.StartTimestamp) || v.StartTimestamp.Before(minTime) || !v.EndTimestamp.Before(maxTime) {
			t.Fatalf("accepted out-of-order or out-of-range timestamps %+v", v)
		}
		if v.DurationSeconds() < 0 {
			t.Fatalf("negative duration %+v", v)
		}
		// Whatever is accepted must survive the producer's encoding:
		// second-truncated timestamps keep the same duration.
		b2, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		v2, r2 := Decode(b2)
		if r2 != Valid || !bytes.Equal(v2.ViewID, v.ViewID) || v2.CampaignID != v.CampaignID || v2.DurationSeconds() != v.DurationSeconds() {
			t.Fatalf("re-encoded %q decodes to %+v (%v), want %+v", b2, v2, r2, v)
		}
	})
}

// addRecordSeeds adds the records under testdata/records to f's corpus.
func addRecordSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "records", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
