package parquetsink

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func TestWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	start := time.Date(2024, 9, 11, 10, 5, 0, 0, time.UTC)
	f := File{NetworkID: 3, WindowStart: start, Topic: "view_log", Partition: 2, Rows: []Row{
		{CampaignID: 70, AvgDuration: 12.5, TotalCount: 2, SumDuration: 25, WindowStart: start, WindowEnd: start.Add(time.Minute)},
		{CampaignID: 60, AvgDuration: 1, TotalCount: 1, SumDuration: 1, WindowStart: start, WindowEnd: start.Add(time.Minute)},
	}}
	if err := s.Write(f); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "network_id=3", "minute_timestamp=2024-09-11_10-05-00", "part-view_log-00002.parquet")
	if got := s.Path(f); got != want {
		t.Fatalf("Path = %s, want %s", got, want)
	}
	rows, err := parquet.ReadFile[Row](want)
	if err != nil {
		t.Fatal(err)
	}
	// Rows come back sorted by campaign, timestamps in UTC.
	wantRows := []Row{f.Rows[1], f.Rows[0]}
	if len(rows) != 2 {
		t.Fatalf("read %d rows", len(rows))
	}
	for i := range rows {
		if rows[i].CampaignID != wantRows[i].CampaignID || rows[i].AvgDuration != wantRows[i].AvgDuration ||
			rows[i].TotalCount != wantRows[i].TotalCount || rows[i].SumDuration != wantRows[i].SumDuration ||
			!rows[i].WindowStart.Equal(start) || !rows[i].WindowEnd.Equal(start.Add(time.Minute)) {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], wantRows[i])
		}
	}

	// The schema analysts see: partition columns only in the path.
	pf, osf := openParquet(t, want)
	defer osf.Close()
	var cols []string
	for _, c := range pf.Schema().Fields() {
		cols = append(cols, c.Name())
	}
	if !slices.Equal(cols, []string{"campaign_id", "avg_duration", "total_count", "sum_duration", "window_start", "window_end"}) {
		t.Errorf("columns %v", cols)
	}
	for _, c := range pf.Schema().Fields() {
		if !strings.HasPrefix(c.Name(), "window_") {
			continue
		}
		lt := c.Type().LogicalType()
		ts, ok := lt.Value.(*format.TimestampType)
		if !ok || !ts.IsAdjustedToUTC {
			t.Errorf("%s is not a UTC timestamp: %v", c.Name(), lt)
		}
	}

	// Writing the same window again replaces the file: one file, new rows.
	f.Rows = f.Rows[:1]
	if err := s.Write(f); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(want))
	if len(entries) != 1 || entries[0].Name() != filepath.Base(want) {
		t.Fatalf("directory holds %v after a rewrite, want only the file", entries)
	}
	rows, err = parquet.ReadFile[Row](want)
	if err != nil || len(rows) != 1 {
		t.Fatalf("after rewrite: %d rows, %v", len(rows), err)
	}
}

func openParquet(t *testing.T, path string) (*parquet.File, *os.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf, f
}

// A directory that cannot be created (a file is in the way; directory
// permissions would not stop root) fails the write with nothing visible.
func TestWriteFailureLeavesNothingVisible(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	if err := os.WriteFile(filepath.Join(dir, "network_id=1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 9, 11, 10, 5, 0, 0, time.UTC)
	err := s.Write(File{NetworkID: 1, WindowStart: start, Topic: "t", Rows: []Row{{CampaignID: 10}}})
	if err == nil {
		t.Fatal("write into a file-as-directory succeeded")
	}
	if s.Check() != nil {
		t.Fatal("Check fails on a writable directory")
	}
	if New(filepath.Join(dir, "network_id=1", "x")).Check() == nil {
		t.Fatal("Check passes on a path under a file")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "**", "*.parquet"))
	if len(matches) != 0 {
		t.Fatalf("partial output visible: %v", matches)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	sub := filepath.Join(dir, "network_id=1", "minute_timestamp=2024-09-11_10-05-00")
	os.MkdirAll(sub, 0o755)
	old := filepath.Join(sub, ".part-t-00000.parquet.123.tmp")
	young := filepath.Join(sub, ".part-t-00001.parquet.456.tmp")
	keep := filepath.Join(sub, "part-t-00000.parquet")
	for _, p := range []string{old, young, keep} {
		os.WriteFile(p, nil, 0o644)
	}
	now := time.Now()
	os.Chtimes(old, now.Add(-time.Hour), now.Add(-time.Hour))
	n, err := s.RemoveStaleTemp(10*time.Minute, now)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want 1", n, err)
	}
	for p, exists := range map[string]bool{old: false, young: true, keep: true} {
		if _, err := os.Stat(p); (err == nil) != exists {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, exists)
		}
	}
}

// Path stays inside the output directory for any network, partition and
// window, and any topic name Kafka allows.
func TestPathStaysInside(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	topics := []string{"view_log", "a.b-c_d", "..a", "a..", "x", strings.Repeat("z", 249)}
	networks := []int32{1, 0, -1, math.MaxInt32, math.MinInt32}
	starts := []time.Time{time.Unix(0, 0), time.Date(2199, 12, 31, 23, 59, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("x", -3600))}
	for _, topic := range topics {
		for _, n := range networks {
			for _, st := range starts {
				for _, part := range []int{0, 5, 1 << 30} {
					p := s.Path(File{NetworkID: n, WindowStart: st, Topic: topic, Partition: part})
					rel, err := filepath.Rel(dir, p)
					if err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 2 {
						t.Errorf("Path(%q, %d, %v, %d) = %s, outside %s or not three levels deep", topic, n, st, part, p, dir)
					}
				}
			}
		}
	}
}
