package e2e

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// consumerEnv is the consumer's environment for a test: fast batches, a
// short session timeout so restarts rejoin quickly, and the original's
// one-minute windows with a ten-second watermark delay.
func consumerEnv(t *testing.T, broker, topic string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	csv := filepath.Join(dir, "campaigns.csv")
	if err := os.WriteFile(csv, []byte(campaignsCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "output_data")
	return map[string]string{
		"KAFKA_SERVER":             broker,
		"TOPIC_NAME":               topic,
		"CONSUMER_GROUP_ID":        "e2e-" + topic,
		"CONSUMER_INTERVAL":        "200ms",
		"CONSUMER_SESSION_TIMEOUT": "6s",
		// Longer than any pause between the phases the tests produce: a
		// partition idle between two phases would follow the others
		// past the stragglers its next phase brings, which would then be
		// late (as they would in production after such a pause).
		"PARTITION_IDLE_TIMEOUT": "5s",
		"CAMPAIGNS_CSV_PATH":     csv,
		"OUTPUT_DIR":             out,
		"LOG_LEVEL":              "INFO",
	}, out
}

// TestPipeline: valid, invalid, duplicate, late and unknown-campaign records,
// written by kcat and by the project's writer, come out as exactly the
// expected rows, and every record read is accounted for.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	const topic = "views"

	d := newDataset()
	d.addMinute(0, 1)
	d.badRecords("m0")
	m1 := d.addMinute(1, 1)
	// Duplicates: the same records again while their window is open.
	d.appendTo("duplicate", m1[0].message(0), m1[3].message(2), m1[3].message(4))
	d.addMinute(2, 1)
	d.badRecords("m2")
	m3 := d.addMinute(3, 1)
	// Stragglers of minute 1 after their campaign's partition saw
	// minute 3: that window is final, so they are late. Same campaigns
	// as records of minute 3, hence the same partitions.
	for i, v := range m3[:5] {
		late := view{id: fmt.Sprintf("late-%d", i), campaign: v.campaign, start: base.Add(time.Minute), end: base.Add(time.Minute + 30*time.Second)}
		d.appendTo("late", late.message(i))
	}
	d.closers(5)

	// Phases alternate between kcat and the project's writer; each phase
	// is complete before the next starts, so order within a partition is
	// the phase order. The closers come once the consumer has read the
	// rest, as records of a campaign still running after the others have
	// stopped.
	data, closers := d.phases[:len(d.phases)-1], d.phases[len(d.phases)-1]
	for i, phase := range data {
		if i%2 == 0 && produceKcat(t, broker, topic, phase) {
			continue
		}
		produceGo(t, broker, topic, phase)
	}

	env, out := consumerEnv(t, broker, topic)
	c := startConsumer(t, env)
	waitFor(t, 60*time.Second, "the data read", func() bool {
		st, ok := c.state(t)
		return ok && st.Totals.Read == d.read-int64(len(closers))
	})
	produceGo(t, broker, topic, closers)
	waitAllRows(t, out, len(d.rows), 90*time.Second, c)
	// What the consumer reports while it runs and what it prints when it
	// stops agree, and both account for every record.
	st, ok := c.state(t)
	if !ok {
		t.Fatal("no /api/state")
	}
	stopAll(t, c)

	checkRows(t, readOutput(t, out), d)

	got := exitTotals(t, c.Proc)
	if live := totalsMap(st.Totals); !maps.Equal(live, got) {
		t.Errorf("/api/state totals %v, exit totals %v", live, got)
	}
	want := map[string]int64{
		"read": d.read, "aggregated": d.aggregated, "duplicate": d.duplicate,
		"late": d.late, "unknown_campaign": d.unknown,
	}
	var rejected int64
	for r, n := range d.rejected {
		want["rejected."+r] = n
		rejected += n
	}
	want["rejected"] = rejected
	for k, v := range want {
		if got[k] != v {
			t.Errorf("consumer total %s = %d, want %d", k, got[k], v)
		}
	}
	checkBalanced(t, got)
	checkFiles(t, out)

	// Every rejected, late and unknown-campaign record is in the
	// dead-letter topic, once, with its reason and source.
	dead := readTopic(t, broker, topic+".dlq")
	byOutcome := map[string]int64{}
	for _, m := range dead {
		o := m.headers["viewlog.outcome"]
		if o == "rejected" {
			o += "." + m.headers["viewlog.reason"]
		}
		byOutcome[o]++
		if m.headers["viewlog.source.topic"] != topic || m.headers["viewlog.source.partition"] == "" || m.headers["viewlog.source.offset"] == "" {
			t.Errorf("dead letter without its source: %v", m.headers)
		}
	}
	wantDead := map[string]int64{"late": d.late, "unknown_campaign": d.unknown}
	for r, n := range d.rejected {
		wantDead["rejected."+r] = n
	}
	if !maps.Equal(byOutcome, wantDead) {
		t.Errorf("dead letters by outcome %v, want %v", byOutcome, wantDead)
	}
}

// checkRows compares the output row by row with the dataset's expectation.
func checkRows(t *testing.T, rows []outRow, d *dataset) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		k := r.key()
		if seen[k] {
			t.Errorf("row %s appears twice", k)
			continue
		}
		seen[k] = true
		e, ok := d.rows[k]
		if !ok {
			t.Errorf("unexpected row %+v", r)
			continue
		}
		if r.TotalCount != e.count || r.SumDuration != e.sum || math.Abs(r.AvgDuration-roundHalfUp2(e.sum, e.count)) > 1e-9 {
			t.Errorf("row %s: count %d sum %d avg %v; want count %d sum %d avg %v", k, r.TotalCount, r.SumDuration, r.AvgDuration, e.count, e.sum, roundHalfUp2(e.sum, e.count))
		}
		minute, _ := time.Parse("2006-01-02_15-04-05", r.Minute)
		if !r.WindowStart.Equal(minute) || !r.WindowEnd.Equal(minute.Add(time.Minute)) {
			t.Errorf("row %s: window %v..%v", k, r.WindowStart, r.WindowEnd)
		}
	}
	var missing []string
	for k := range d.rows {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d rows missing: %v", len(missing), missing)
	}
}

// checkFiles: no temporary file is visible to a *.parquet glob, every file
// sits at network_id=<n>/minute_timestamp=<ts>/, and no directory holds two
// files for one partition.
func checkFiles(t *testing.T, out string) {
	t.Helper()
	err := filepath.WalkDir(out, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		parts := strings.Split(rel, string(filepath.Separator))
		if strings.HasSuffix(path, ".parquet") && strings.HasPrefix(de.Name(), ".") {
			t.Errorf("hidden file with a .parquet suffix: %s", rel)
		}
		if strings.HasSuffix(path, ".parquet") && (len(parts) != 3 || !strings.HasPrefix(parts[0], "network_id=") || !strings.HasPrefix(parts[1], "minute_timestamp=")) {
			t.Errorf("file outside the partition layout: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.parquet"))
	names := map[string]int{}
	for _, f := range files {
		names[filepath.Base(f)+"@"+filepath.Dir(f)]++
	}
	for k, n := range names {
		if n > 1 {
			t.Errorf("%s: %d files", k, n)
		}
	}
}
