package output

import (
	"bytes"
	"math"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func TestEncodeRoundTrip(t *testing.T) {
	start := time.Date(2024, 9, 11, 10, 5, 0, 0, time.UTC)
	f := &File{NetworkID: 3, WindowStart: start, Topic: "view_log", Partition: 2, Rows: []Row{
		{CampaignID: 70, AvgDuration: 12.5, TotalCount: 2, SumDuration: 25, WindowStart: start, WindowEnd: start.Add(time.Minute)},
		{CampaignID: 60, AvgDuration: 1, TotalCount: 1, SumDuration: 1, WindowStart: start, WindowEnd: start.Add(time.Minute)},
	}}
	if got, want := Key(f), "network_id=3/minute_timestamp=2024-09-11_10-05-00/part-view_log-00002.parquet"; got != want {
		t.Fatalf("Key = %s, want %s", got, want)
	}
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[Row](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Rows come back sorted by campaign, timestamps in UTC; the input is
	// left as it was.
	wantRows := []Row{f.Rows[1], f.Rows[0]}
	if len(rows) != 2 || f.Rows[0].CampaignID != 70 {
		t.Fatalf("read %d rows; input reordered: %v", len(rows), f.Rows[0].CampaignID != 70)
	}
	for i := range rows {
		if rows[i].CampaignID != wantRows[i].CampaignID || rows[i].AvgDuration != wantRows[i].AvgDuration ||
			rows[i].TotalCount != wantRows[i].TotalCount || rows[i].SumDuration != wantRows[i].SumDuration ||
			!rows[i].WindowStart.Equal(start) || !rows[i].WindowEnd.Equal(start.Add(time.Minute)) {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], wantRows[i])
		}
	}

	// The schema analysts see: partition columns only in the path.
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
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
		ts, ok := c.Type().LogicalType().Value.(*format.TimestampType)
		if !ok || !ts.IsAdjustedToUTC {
			t.Errorf("%s is not a UTC timestamp: %v", c.Name(), c.Type().LogicalType())
		}
	}
}

// Key is three clean path elements, the first two Spark's partition
// directories, for any network, partition and window, and any topic name
// Kafka allows.
func TestKeyShape(t *testing.T) {
	topics := []string{"view_log", "a.b-c_d", "..a", "a..", "x", strings.Repeat("z", 249)}
	networks := []int32{1, 0, -1, math.MaxInt32, math.MinInt32}
	starts := []time.Time{time.Unix(0, 0), time.Date(2199, 12, 31, 23, 59, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("x", -3600))}
	for _, topic := range topics {
		for _, n := range networks {
			for _, st := range starts {
				for _, part := range []int{0, 5, 1 << 30} {
					k := Key(&File{NetworkID: n, WindowStart: st, Topic: topic, Partition: part})
					elems := strings.Split(k, "/")
					if len(elems) != 3 || path.Clean(k) != k || strings.HasPrefix(k, "/") ||
						!strings.HasPrefix(elems[0], "network_id=") || !strings.HasPrefix(elems[1], "minute_timestamp=") ||
						!strings.HasSuffix(elems[2], ".parquet") || slices.Contains(elems, "..") {
						t.Errorf("Key(%q, %d, %v, %d) = %s", topic, n, st, part, k)
					}
				}
			}
		}
	}
}
