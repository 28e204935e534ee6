package main

import (
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The catch-up is timed until the files the bench expects exist, so that
// set must be exactly what the consumer writes from the pre-loaded data:
// a file the bench expects but the consumer never writes would time every
// run out, and one it writes but the bench does not expect would end the
// clock early. The consumer binary of this tree, on its defaults, against a
// Kafka-protocol broker; every pre-loaded record must be aggregated.
func TestCatchupFilesMatchConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: builds and runs the consumer")
	}
	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", dir, "../../cmd/consumer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	const topic, records = "bench-test", 30_000
	spec := streamSpec{records: records, perMinute: 6000, partitions: 3, start: eventStart(), seed: 3}
	m, _, err := preload(t.Context(), addr, topic, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := m.closable()
	if len(want) < 3*4 {
		t.Fatalf("only %d files expected: the test data closes too few windows", len(want))
	}

	b := &bench{dir: dir, o: options{poll: 50 * time.Millisecond}}
	if err := os.WriteFile(b.campaignsPath(), []byte(campaignsCSV()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	metricsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	c, err := start("consumer", b.bin("consumer"), nil, childEnv(b.consumerEnv(addr, topic, out, metricsAddr, "test")), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop(30 * time.Second) //nolint:errcheck // checked below on the clean path
	w := newFileWatch(out, topic, want)
	deadline := time.Now().Add(time.Minute)
	for !w.poll() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d expected files missing after a minute\n%s", w.missing(), len(want), c.out.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// One more batch: nothing the bench does not expect may follow.
	time.Sleep((consumerPeriod + 1) * time.Second)
	read, err := scrapeRecordsRead(t.Context(), metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := scrape(t.Context(), metricsAddr, "viewlog_consumer_records_total")
	if err != nil {
		t.Fatal(err)
	}
	var aggregated float64
	for _, s := range lines["viewlog_consumer_records_total"] {
		if s.labels["outcome"] == "aggregated" {
			aggregated += s.value
		}
	}
	if read != records || aggregated != records {
		t.Errorf("consumer read %d and aggregated %.0f records, want %d", read, aggregated, records)
	}
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatalf("consumer: %v\n%s", err, c.out.tail())
	}

	got := map[string]bool{}
	_ = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".parquet") {
			got[path] = true
		}
		return nil
	})
	expected := map[string]bool{}
	for _, k := range want {
		expected[outputPath(out, topic, k)] = true
	}
	if !maps.Equal(got, expected) {
		t.Errorf("consumer wrote %d files, the bench expects %d:\nwritten %v\nexpected %v",
			len(got), len(expected), slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(expected)))
	}
}
