package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/childproc"
	"github.com/viewlog/viewlog/internal/consumer"
	"github.com/viewlog/viewlog/internal/kafkaio"
)

// bin holds the binaries built once for the package's tests.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here runs the binaries; they skip.
		os.Exit(m.Run())
	}
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "viewlog-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// The children are built with the race detector too: the
		// end-to-end runs are where the consumer's goroutines meet.
		cmd := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "./cmd/devbroker", "./cmd/producer", "./cmd/consumer")
		cmd.Dir = moduleRoot()
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build binaries:", err)
			return 1
		}
		bin = dir
		return m.Run()
	}())
}

func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// start runs one of the binaries built by TestMain with exactly env.
func start(t *testing.T, name string, env map[string]string, args ...string) *childproc.Proc {
	t.Helper()
	return childproc.Start(t, filepath.Join(bin, name), env, args...)
}

// startBroker runs the development broker as a child process.
func startBroker(t *testing.T, partitions int) (string, *childproc.Proc) {
	t.Helper()
	addr := childproc.FreeAddr(t)
	return addr, startBrokerAt(t, addr, partitions, "")
}

// startBrokerAt runs the development broker on addr, keeping its state in
// dataDir if not empty, so that it can be stopped and started again.
func startBrokerAt(t *testing.T, addr string, partitions int, dataDir string) *childproc.Proc {
	t.Helper()
	p := start(t, "devbroker", map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_PARTITIONS": strconv.Itoa(partitions), "DEVBROKER_DATA_DIR": dataDir})
	childproc.WaitTCP(t, addr, p, 20*time.Second)
	return p
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// message is a record to produce: key and value as bytes.
type message struct {
	key, value string
}

// produceKcat writes msgs with kcat, partitioned by key with murmur2 as the
// Java client (and the project's producer) does. It reports false if kcat is
// not installed and the environment does not require it.
func produceKcat(t *testing.T, broker, topic string, msgs []message) bool {
	t.Helper()
	ok, err := kcat(broker, topic, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Log("kcat not found (apt-get install kcat); writing its share with the project's writer instead")
	}
	return ok
}

func kcat(broker, topic string, msgs []message) (bool, error) {
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("VIEWLOG_REQUIRE_KCAT") != "" {
			return false, errors.New("kcat not found; install it (apt-get install kcat)")
		}
		return false, nil
	}
	var in bytes.Buffer
	for _, m := range msgs {
		if strings.ContainsAny(m.key+m.value, "\n\t") {
			return false, fmt.Errorf("kcat input cannot hold tab or newline: %q", m.value)
		}
		in.WriteString(m.key + "\t" + m.value + "\n")
	}
	cmd := exec.Command(path, "-P", "-b", broker, "-t", topic, "-K", "\t", "-X", "partitioner=murmur2_random", "-X", "acks=all")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("kcat: %v\n%s", err, out)
	}
	return true, nil
}

// produceGo writes msgs with the project's Kafka writer.
func produceGo(t *testing.T, broker, topic string, msgs []message) {
	t.Helper()
	if err := writeGo(broker, topic, msgs); err != nil {
		t.Fatal(err)
	}
}

func writeGo(broker, topic string, msgs []message) error {
	client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: []string{broker}}, discardLogger())
	if err != nil {
		return err
	}
	defer client.Close()
	w := client.NewWriter(kafkaio.WriterConfig{Topic: topic, BatchSize: 500})
	defer w.Close()
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Key: []byte(m.key), Value: []byte(m.value)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(km) > 0 {
		n := min(len(km), 500)
		if err := w.WriteMessages(ctx, km[:n]...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		km = km[n:]
	}
	return nil
}

// outRow is one output row as an analyst reads it: partition columns from the
// path, the rest from the file.
type outRow struct {
	Network     int64
	Minute      string
	Campaign    int64
	AvgDuration float64
	TotalCount  int64
	SumDuration int64
	WindowStart time.Time
	WindowEnd   time.Time
}

func (r outRow) key() string { return fmt.Sprintf("%d/%s/%d", r.Network, r.Minute, r.Campaign) }

// readOutput reads every Parquet file under dir with DuckDB and hive
// partitioning, exactly as the README tells analysts to.
func readOutput(t *testing.T, dir string) []outRow {
	t.Helper()
	if files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet")); len(files) == 0 {
		return nil
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := fmt.Sprintf(`SELECT network_id, CAST(minute_timestamp AS VARCHAR), campaign_id, avg_duration, total_count, sum_duration,
		window_start, window_end
		FROM read_parquet('%s/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)
		ORDER BY minute_timestamp, campaign_id`, dir)
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	defer rows.Close()
	var out []outRow
	for rows.Next() {
		var r outRow
		var network string
		if err := rows.Scan(&network, &r.Minute, &r.Campaign, &r.AvgDuration, &r.TotalCount, &r.SumDuration, &r.WindowStart, &r.WindowEnd); err != nil {
			t.Fatal(err)
		}
		r.Network, _ = strconv.ParseInt(network, 10, 64)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkBalanced asserts the accounting identity on a consumer's totals:
// every record read is in exactly one category.
func checkBalanced(t *testing.T, tot map[string]int64) {
	t.Helper()
	if tot["read"] != tot["aggregated"]+tot["duplicate"]+tot["late"]+tot["unknown_campaign"]+tot["rejected"] {
		t.Errorf("totals do not add up: %v", tot)
	}
}

// totalsMap is a consumer's totals as name -> count, rejections as
// rejected.<reason>.
func totalsMap(tot consumer.TotalsState) map[string]int64 {
	m := map[string]int64{
		"read": tot.Read, "aggregated": tot.Aggregated, "duplicate": tot.Duplicate, "late": tot.Late,
		"unknown_campaign": tot.UnknownCampaign, "rejected": tot.Rejected,
	}
	for r, n := range tot.RejectedBy {
		m["rejected."+r] = n
	}
	return m
}

// exitTotals is what a consumer that has stopped printed on stdout: its
// totals since start.
func exitTotals(t *testing.T, p *childproc.Proc) map[string]int64 {
	t.Helper()
	var out struct {
		Totals *consumer.TotalsState `json:"totals"`
	}
	if err := json.Unmarshal([]byte(p.Stdout()), &out); err != nil || out.Totals == nil {
		t.Fatalf("consumer printed no totals on exit (%v): %q", err, p.Stdout())
	}
	return totalsMap(*out.Totals)
}

// consumerProc is a consumer child process and the address of its HTTP
// server, through which the tests watch it.
type consumerProc struct {
	*childproc.Proc
	http string
}

// startConsumer runs a consumer with env and an HTTP server of its own.
func startConsumer(t *testing.T, env map[string]string) *consumerProc {
	t.Helper()
	env = maps.Clone(env)
	env["METRICS_ADDR"] = childproc.FreeAddr(t)
	return &consumerProc{Proc: start(t, "consumer", env), http: env["METRICS_ADDR"]}
}

func (c *consumerProc) get(path string) (int, []byte, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + c.http + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// state is the consumer's /api/state; ok is false while it does not answer.
func (c *consumerProc) state(t *testing.T) (st consumer.State, ok bool) {
	t.Helper()
	code, b, err := c.get("/api/state")
	if err != nil || code != http.StatusOK {
		return st, false
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("/api/state: %v\n%s", err, b)
	}
	return st, true
}

// metric is the value of the consumer's metric name with the given labels
// (all of them), summed over the series that match; ok is false while it
// does not answer.
func (c *consumerProc) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	code, b, err := c.get("/metrics")
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	return metricValue(t, b, name, labels), true
}

// metricValue sums the samples of name in a Prometheus text exposition whose
// labels include labels.
func metricValue(t *testing.T, exposition []byte, name string, labels map[string]string) float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(exposition))
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var sum float64
	for _, m := range families[name].GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// deadLetter is a record read back from the dead-letter topic.
type deadLetter struct {
	key, value string
	headers    map[string]string
}

// readTopic reads every record of topic with kafka-go, partition by
// partition, up to the high watermark.
func readTopic(t *testing.T, broker, topic string) []deadLetter {
	t.Helper()
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []deadLetter
	for _, p := range parts {
		c, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := c.ReadOffsets()
		if err != nil {
			t.Fatal(err)
		}
		c.Seek(first, kafka.SeekAbsolute)
		for off := first; off < last; {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := c.ReadBatch(1, 10<<20)
			for {
				m, err := b.ReadMessage()
				if err != nil {
					break
				}
				off = m.Offset + 1
				h := map[string]string{}
				for _, x := range m.Headers {
					h[x.Key] = string(x.Value)
				}
				out = append(out, deadLetter{key: string(m.Key), value: string(m.Value), headers: h})
			}
			if err := b.Close(); err != nil {
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
		}
		c.Close()
	}
	return out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// waitSettled waits until the running consumers agree on one generation
// whose assignments cover all partitions: the group has no member left to
// drop and no rebalance under way. Kills are timed after this because a
// member killed while its JoinGroup is parked at the development broker can
// stay in the group with partitions assigned and never expire (the broker
// stops its pending-sync timer when the leader syncs, and a reply to a dead
// connection arms no session timer); real Kafka expires such members.
func waitSettled(t *testing.T, partitions int, timeout time.Duration, running ...*consumerProc) {
	t.Helper()
	waitFor(t, timeout, "the group to settle", func() bool {
		gen0 := int32(-1)
		covered := map[int]bool{}
		for _, p := range running {
			if p.Exited() {
				t.Fatalf("%s exited on its own", p.Name())
			}
			st, ok := p.state(t)
			if !ok || st.Generation == 0 || (gen0 >= 0 && st.Generation != gen0) || !st.Ready.OK {
				return false
			}
			gen0 = st.Generation
			for _, ps := range st.Partitions {
				covered[ps.Partition] = true
			}
		}
		return len(covered) == partitions
	})
}

// groupCheckpoint is a partition's committed offset and the checkpoint the
// consumer commits with it as offset metadata.
type groupCheckpoint struct {
	Offset           int64  `json:"-"`
	Watermark        *int64 `json:"wm"`
	Idle             bool   `json:"idle"`
	AdvanceWatermark *int64 `json:"adv_wm"`
	AdvanceAt        *int64 `json:"adv_at"`
	// Additions are the campaign table reloads that apply from an offset
	// of the partition.
	Additions []json.RawMessage `json:"adds"`
}

// groupCheckpoints reads the group's committed checkpoints of topic's
// partitions with one OffsetFetch, as the consumers do.
func groupCheckpoints(t *testing.T, broker, group, topic string, partitions int) map[int]groupCheckpoint {
	t.Helper()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int]groupCheckpoint{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch, partition %d: %v", p.Partition, p.Error)
		}
		if p.CommittedOffset < 0 {
			continue
		}
		cp := groupCheckpoint{Offset: p.CommittedOffset}
		if p.Metadata != "" {
			if err := json.Unmarshal([]byte(p.Metadata), &cp); err != nil {
				t.Fatalf("partition %d: metadata %q: %v", p.Partition, p.Metadata, err)
			}
		}
		out[p.Partition] = cp
	}
	return out
}
