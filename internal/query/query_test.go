package query_test

import (
	"bytes"
	"cmp"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/viewlog/viewlog/internal/output"
	"github.com/viewlog/viewlog/internal/query"
	"github.com/viewlog/viewlog/internal/storage"
)

// writeOutput lays out 20 minutes of output as the consumer writes it (the
// consumer's own Parquet writer, hive layout), with a campaign that has gaps
// and one window of campaign 70 written from two partitions.
func writeOutput(t *testing.T, dir string) {
	t.Helper()
	sink, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	newest := time.Date(2026, 11, 25, 12, 19, 0, 0, time.UTC)
	network := map[int32]int32{10: 1, 20: 1, 40: 2, 60: 3, 70: 3}
	for m := range 20 {
		start := newest.Add(time.Duration(m-19) * time.Minute)
		files := map[[2]int32]*output.File{} // network, partition
		add := func(campaign int32, partition int, count int64, avg float64) {
			k := [2]int32{network[campaign], int32(partition)}
			if files[k] == nil {
				files[k] = &output.File{NetworkID: network[campaign], WindowStart: start, Topic: "view_log", Partition: partition}
			}
			files[k].Rows = append(files[k].Rows, output.Row{
				CampaignID: campaign, AvgDuration: avg, TotalCount: count,
				SumDuration: int64(avg * float64(count)), WindowStart: start, WindowEnd: start.Add(time.Minute),
			})
		}
		for _, c := range []int32{10, 20, 40, 60, 70} {
			if c == 40 && m%4 == 1 {
				continue // no views in these minutes
			}
			add(c, int(c/10)%3, int64(20+m+int(c)/10), 100+float64(m)*1.25+float64(c)/100)
		}
		if m == 18 {
			add(70, 0, 3, 88.33) // unkeyed records of campaign 70 on another partition
		}
		for _, f := range files {
			data, err := output.Encode(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Put(t.Context(), output.Key(f), data); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A writer's temporary file, which no reader may see.
	tmp := filepath.Join(dir, "network_id=1", "minute_timestamp=2026-11-25_12-19-00", ".part-view_log-00001.parquet.123.tmp")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reference is a row as DuckDB itself reads it, with its window start.
type reference struct {
	query.Row
	start time.Time
}

// duckRead reads dir with DuckDB as the README shows analysts, partition
// columns as the directory's text.
func duckRead(t *testing.T, dir string) []reference {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(fmt.Sprintf(`SELECT network_id, minute_timestamp, campaign_id, avg_duration, total_count, window_start
		FROM read_parquet('%s/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)`, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []reference
	for rows.Next() {
		var r reference
		var network string
		if err := rows.Scan(&network, &r.MinuteTimestamp, &r.CampaignID, &r.AvgDuration, &r.TotalCount, &r.start); err != nil {
			t.Fatal(err)
		}
		if r.NetworkID, err = strconv.ParseInt(network, 10, 64); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expect applies the filter to DuckDB's rows, in the promised order.
func expect(all []reference, f query.Filter) []query.Row {
	top := slices.MaxFunc(all, func(a, b reference) int { return a.start.Compare(b.start) }).start
	var keep []reference
	for _, r := range all {
		if (f.Since == 0 || top.Sub(r.start) < f.Since) && (f.Campaign == 0 || r.CampaignID == f.Campaign) {
			keep = append(keep, r)
		}
	}
	slices.SortFunc(keep, func(a, b reference) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.NetworkID, b.NetworkID), cmp.Compare(a.CampaignID, b.CampaignID),
			cmp.Compare(a.TotalCount, b.TotalCount), cmp.Compare(a.AvgDuration, b.AvgDuration))
	})
	rows := make([]query.Row, len(keep))
	for i, r := range keep {
		rows[i] = r.Row
	}
	return rows
}

func TestQueryPrintsWhatDuckDBReads(t *testing.T) {
	dir := t.TempDir()
	writeOutput(t, dir)
	all := duckRead(t, dir)
	if len(all) != 20*5-5+1 {
		t.Fatalf("fixture: DuckDB reads %d rows", len(all))
	}
	for _, tc := range []struct {
		name   string
		args   []string
		filter query.Filter
		rows   int
	}{
		{"default is the newest 10 minutes", nil, query.Filter{Since: 10 * time.Minute}, 10*5 - 2 + 1},
		{"all", []string{"-since", "0"}, query.Filter{}, 96},
		{"90s is two windows", []string{"-since", "90s"}, query.Filter{Since: 90 * time.Second}, 2*5 + 1},
		{"one campaign, rows of two partitions", []string{"-since", "3m", "-campaign", "70"}, query.Filter{Since: 3 * time.Minute, Campaign: 70}, 4},
		{"campaign with gaps", []string{"-since", "1h", "-campaign", "40"}, query.Filter{Since: time.Hour, Campaign: 40}, 15},
		{"unknown campaign", []string{"-campaign", "999"}, query.Filter{Since: 10 * time.Minute, Campaign: 999}, 0},
	} {
		want := expect(all, tc.filter)
		if len(want) != tc.rows {
			t.Fatalf("%s: fixture gives %d rows, test expects %d", tc.name, len(want), tc.rows)
		}
		for _, format := range []string{"table", "csv", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				args := append(slices.Clone(tc.args), "-format", format)
				err := query.Run(t.Context(), args, map[string]string{"OUTPUT_DIR": dir}, &stdout, &stderr)
				if err != nil {
					t.Fatalf("Run: %v\nstderr: %s", err, stderr.Bytes())
				}
				got := parse(t, format, stdout.Bytes())
				if format == "table" {
					for i := range want {
						want[i].AvgDuration = roundTo2(want[i].AvgDuration)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("printed %d rows:\n%+v\nDuckDB reads %d:\n%+v\noutput:\n%s", len(got), got, len(want), want, stdout.Bytes())
				}
			})
		}
	}
}

// parse reads the printed rows back.
func parse(t *testing.T, format string, out []byte) []query.Row {
	t.Helper()
	var rows []query.Row
	switch format {
	case "json":
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
	case "csv":
		records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV: %v\n%s", err, out)
		}
		if len(records) == 0 || strings.Join(records[0], ",") != "network_id,minute_timestamp,campaign_id,avg_duration,total_count" {
			t.Fatalf("CSV header: %q", records)
		}
		for _, rec := range records[1:] {
			rows = append(rows, row(t, rec))
		}
	case "table":
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(out) == 0 {
			return nil
		}
		if len(lines) < 3 || strings.Join(strings.Fields(lines[0]), ",") != "network_id,minute_timestamp,campaign_id,avg_duration,total_count" ||
			strings.Trim(lines[1], "- ") != "" || lines[len(lines)-1] != fmt.Sprintf("(%d rows)", len(lines)-3) {
			t.Fatalf("table layout:\n%s", out)
		}
		for _, l := range lines[2 : len(lines)-1] {
			rows = append(rows, row(t, strings.Fields(l)))
			if len(l) != len(lines[0]) {
				t.Errorf("line %q is not as wide as the header %q", l, lines[0])
			}
		}
	}
	return rows
}

func row(t *testing.T, f []string) query.Row {
	t.Helper()
	if len(f) != 5 {
		t.Fatalf("row %q: %d fields", f, len(f))
	}
	var r query.Row
	var errs [4]error
	r.NetworkID, errs[0] = strconv.ParseInt(f[0], 10, 64)
	r.MinuteTimestamp = f[1]
	r.CampaignID, errs[1] = strconv.ParseInt(f[2], 10, 64)
	r.AvgDuration, errs[2] = strconv.ParseFloat(f[3], 64)
	r.TotalCount, errs[3] = strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("row %q: %v", f, err)
	}
	return r
}

func roundTo2(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 2, 64), 64)
	return r
}

func TestQueryWithoutOutput(t *testing.T) {
	empty := t.TempDir()
	// A directory the consumer created but has not finished a file in.
	if err := os.MkdirAll(filepath.Join(empty, "network_id=1", "minute_timestamp=2026-11-25_12-19-00"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "network_id=1", "minute_timestamp=2026-11-25_12-19-00", ".part-view_log-00000.parquet.1.tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, format, stdout string
		err                       error
	}{
		{"empty", empty, "table", "", nil},
		{"empty", empty, "csv", "network_id,minute_timestamp,campaign_id,avg_duration,total_count\n", nil},
		{"empty", empty, "json", "[]\n", nil},
		{"missing", filepath.Join(empty, "missing"), "table", "", fs.ErrNotExist},
	} {
		t.Run(tc.name+"/"+tc.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := query.Run(t.Context(), []string{"-format", tc.format}, map[string]string{"OUTPUT_DIR": tc.dir}, &stdout, &stderr)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Run: %v, want %v", err, tc.err)
			}
			if stdout.String() != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.stdout)
			}
		})
	}
	if _, err := query.Read(t.Context(), empty, query.Filter{}); !errors.Is(err, query.ErrNoFiles) {
		t.Errorf("Read of a directory without Parquet: %v, want ErrNoFiles", err)
	}
}

func TestQueryUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-format", "xml"},
		{"-since", "-5m"},
		{"-since", "ten"},
		{"-campaign", "-1"},
		{"-nope"},
		{"extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := query.Run(t.Context(), args, map[string]string{"OUTPUT_DIR": t.TempDir()}, &stdout, &stderr)
			if !errors.Is(err, query.ErrUsage) {
				t.Fatalf("Run(%q): %v, want ErrUsage", args, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestQueryReadsOutputDirFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeOutput(t, dir)
	t.Chdir(t.TempDir()) // the default, data/output_data, does not exist here
	var stdout, stderr bytes.Buffer
	if err := query.Run(t.Context(), []string{"-format", "json"}, map[string]string{}, &stdout, &stderr); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("without OUTPUT_DIR: %v, want the default directory missing", err)
	}
	if err := os.MkdirAll("data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join("data", "output_data")); err != nil {
		t.Fatal(err)
	}
	if err := query.Run(t.Context(), []string{"-format", "json", "-since", "0"}, map[string]string{}, &stdout, &stderr); err != nil {
		t.Fatalf("default OUTPUT_DIR: %v\n%s", err, stderr.Bytes())
	}
	if got := parse(t, "json", stdout.Bytes()); len(got) != 96 {
		t.Errorf("default OUTPUT_DIR: %d rows, want 96", len(got))
	}
}
