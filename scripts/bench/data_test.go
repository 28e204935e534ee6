package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The pre-load places each record itself, from kafka-go's Murmur2Balancer;
// the reference producer leaves it to franz-go's default key partitioner.
// Both must put every campaign where the product's producer does, or the
// reference would spread its load differently and the expected files would
// name the wrong partitions.
func TestKeyPartitionsMatchFranzGo(t *testing.T) {
	for n := 1; n <= 8; n++ {
		tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		for i, c := range campaignTable() {
			key := []byte(jsonInt(c.id))
			if got, want := tp.Partition(&kgo.Record{Key: key}, n), int(keyPartitions(n)[i]); got != want {
				t.Errorf("%d partitions, key %s: franz-go %d, kafka-go %d", n, key, got, want)
			}
		}
	}
}

func jsonInt(v int32) string { b, _ := json.Marshal(v); return string(b) }

func TestGeneratedRecords(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	g := newGenerator(streamSpec{records: 1 << 20, perMinute: 600, partitions: 3, start: start, seed: 1})
	parts := keyPartitions(3)
	ids := map[string]bool{}
	for i := range 2000 {
		b, v := g.next(nil)
		var r struct {
			ViewID     string `json:"view_id"`
			Start      string `json:"start_timestamp"`
			End        string `json:"end_timestamp"`
			BannerID   int64  `json:"banner_id"`
			CampaignID int32  `json:"campaign_id"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("record %d %s: %v", i, b, err)
		}
		id, err := uuid.Parse(r.ViewID)
		if err != nil || id.Version() != 4 || id.Variant() != uuid.RFC4122 || ids[r.ViewID] {
			t.Fatalf("record %d: view_id %q not a fresh UUIDv4 (%v)", i, r.ViewID, err)
		}
		ids[r.ViewID] = true
		s, err1 := time.Parse(time.RFC3339, r.Start)
		e, err2 := time.Parse(time.RFC3339, r.End)
		if err1 != nil || err2 != nil {
			t.Fatalf("record %d: timestamps %q %q", i, r.Start, r.End)
		}
		// 600 records per minute: ten a second, from start on.
		if want := start.Add(time.Duration(i/10) * time.Second); !e.Equal(want) || e.Unix() != v.end {
			t.Fatalf("record %d: end %v, want %v", i, e, want)
		}
		if d := e.Sub(s); d < time.Second || d > 300*time.Second {
			t.Fatalf("record %d: duration %v", i, d)
		}
		c := campaignTable()[v.campaign]
		if r.CampaignID != c.id || r.BannerID < 1 || r.BannerID > 100000 || v.partition != parts[v.campaign] {
			t.Fatalf("record %d: %+v, view %+v", i, r, v)
		}
		if got := string(g.key(v)); got != jsonInt(r.CampaignID) {
			t.Fatalf("record %d: key %q for campaign %d", i, got, r.CampaignID)
		}
	}
}

// One partition, one record a second from a minute boundary for 200 s:
// the watermark ends at 189 s, so the windows ending at 60, 120 and 180 s
// close and the one from 180 s stays open. A window closes when the record
// at its end + 10 s arrives, so the open windows peak at its 60 records
// plus the next window's 11.
func TestModel(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	g := newGenerator(streamSpec{records: 200, perMinute: 60, partitions: 1, start: start, seed: 1})
	m := newModel(1)
	for range 200 {
		_, v := g.next(nil)
		m.add(v, g.table[v.campaign].network)
	}
	if got := m.peakIDs(); got != 71 {
		t.Errorf("peak ids %d, want 71", got)
	}
	windows := map[int64]bool{}
	networks := map[int32]bool{}
	for _, k := range m.closable() {
		windows[k.start-start.Unix()] = true
		networks[k.network] = true
	}
	if len(windows) != 3 || !windows[0] || !windows[60] || !windows[120] {
		t.Errorf("closable windows %v, want 0, 60, 120", windows)
	}
	if len(networks) != 4 {
		t.Errorf("networks %v, want all four", networks)
	}
	k := fileKey{partition: 2, start: start.Unix() + 60, network: 3}
	if got, want := outputPath("/o", "view_log", k), "/o/network_id=3/minute_timestamp=2026-01-05_00-01-00/part-view_log-00002.parquet"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
}

func TestFitLine(t *testing.T) {
	a, b, ok := fitLine([]float64{1, 1, 3, 3}, []float64{11, 13, 31, 33})
	if !ok || a != 2 || b != 10 {
		t.Errorf("fit %v + %v x (%v), want 2 + 10 x", a, b, ok)
	}
	if _, _, ok := fitLine([]float64{5, 5}, []float64{1, 2}); ok {
		t.Error("fit through one x value")
	}
}

func TestBenchMetrics(t *testing.T) {
	m := benchMetrics("BenchmarkHotPath \t 5000000\t 220.5 ns/op\t 4535147 records/s\t 0 B/op\t 0 allocs/op")
	if m["records/s"] != 4535147 || m["allocs/op"] != 0 || m["ns/op"] != 220.5 || !hasKey(m, "B/op") {
		t.Errorf("parsed %v", m)
	}
}

func TestParseSeries(t *testing.T) {
	s, err := parseSeries(`{partition="2",topic="view_log"} 1234`)
	if err != nil || s.value != 1234 || s.labels["topic"] != "view_log" || s.labels["partition"] != "2" {
		t.Errorf("parsed %+v, %v", s, err)
	}
}
