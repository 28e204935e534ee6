package deployment

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/childproc"
	"github.com/viewlog/viewlog/internal/consumer"
)

// TestRunLocalResumes runs scripts/run-local.sh as `make run-local` does,
// in a fresh copy of the repository's layout, stops it as Ctrl-C does
// (SIGINT to its process group), and runs it again: the development broker
// kept the topic and the committed offsets in data/devbroker, so the
// windows left open at the stop are written after the restart, with the
// records of both runs, exactly. Then FRESH=1 starts from an empty topic
// and keeps the output. Windows are 2 seconds long so that it takes
// seconds; everything else is as the script sets it.
func TestRunLocalResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker, producer and consumer")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reaps what a failed run leaves through /proc")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	for _, pkg := range []string{"./cmd/devbroker", "./cmd/producer", "./cmd/consumer"} {
		goBuild(t, bin, pkg)
	}
	work := t.TempDir()
	script := filepath.Join(work, "scripts", "run-local.sh")
	if err := copyFile(filepath.Join(repoRoot(t), "scripts", "run-local.sh"), script); err != nil {
		t.Fatal(err)
	}
	brokerPort := port(t, childproc.FreeAddr(t))
	consumerHTTP, producerHTTP := childproc.FreeAddr(t), childproc.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"BIN=" + bin,
		"KAFKA_SERVER=localhost:" + brokerPort,
		// The consumer follows METRICS_ADDR; the producer has its own.
		"METRICS_ADDR=" + consumerHTTP,
		"PRODUCER_METRICS_ADDR=" + producerHTTP,
		"WINDOW_DURATION=2 seconds",
		"WATERMARK_DELAY=1 second",
		"CONSUMER_INTERVAL=200ms",
		"PRODUCER_INTERVAL=100ms",
		"PRODUCER_BATCH_SIZE=5",
	}
	output := filepath.Join(work, "data", "output_data")
	dataDir := filepath.Join(work, "data", "devbroker")

	// First run: until a few windows are written, then Ctrl-C.
	run1 := startRunLocal(t, bash, script, env)
	waitUntil(t, run1, 60*time.Second, "three windows written", func() bool { return len(windowsIn(t, output)) >= 3 })
	if code, _, err := httpGet(producerHTTP, "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("producer's /healthz on PRODUCER_METRICS_ADDR: %d %v", code, err)
	}
	run1.interrupt(t)
	stopped := time.Now()
	before := readRows(t, output)
	if _, err := os.Stat(filepath.Join(dataDir, "topics.json")); err != nil {
		t.Fatalf("the development broker kept nothing in data/devbroker: %v", err)
	}

	// Second run, started at least a second later, so that event times
	// tell the runs apart; until every partition's watermark has passed
	// every window of the first run, then Ctrl-C.
	time.Sleep(1500 * time.Millisecond)
	run2 := startRunLocal(t, bash, script, env)
	waitUntil(t, run2, 60*time.Second, "the watermarks past the first run", func() bool {
		st, ok := consumerState(consumerHTTP)
		if !ok || len(st.Partitions) != 3 {
			return false
		}
		for _, p := range st.Partitions {
			if p.Watermark == nil || p.Watermark.Before(stopped.Add(4*time.Second)) {
				return false
			}
		}
		return true
	})
	run2.interrupt(t)
	after := readRows(t, output)

	// What the topic holds, as the broker kept it, against the output.
	records := readKeptTopic(t, bin, dataDir, "view_log")
	networks := readCampaigns(t, filepath.Join(work, "data", "log_data", "input_data", "campaigns.csv"))
	want := map[string]agg{}
	first := map[string]bool{} // windows with records of the first run
	for _, r := range records {
		k := fmt.Sprintf("network_id=%d/minute_timestamp=%s/%d", networks[r.campaign], r.end.Truncate(2*time.Second).UTC().Format("2006-01-02_15-04-05"), r.campaign)
		a := want[k]
		a.count++
		a.sum += r.end.Unix() - r.start.Unix()
		want[k] = a
		if r.end.Unix() <= stopped.Unix() {
			first[k] = true
		}
	}
	for k, got := range after {
		if got != want[k] {
			t.Errorf("row %s: count %d sum %d; the topic has %d and %d", k, got.count, got.sum, want[k].count, want[k].sum)
		}
	}
	var open []string
	for k := range first {
		if _, written := before[k]; !written {
			open = append(open, k)
			if _, ok := after[k]; !ok {
				t.Errorf("window %s, open when the first run stopped, was not written after the restart", k)
			}
		}
	}
	if len(open) == 0 {
		t.Fatalf("no window was open when the first run stopped (%d records of it in the topic): the case was not exercised", len(first))
	}
	t.Logf("%d records over two runs; %d windows written by the first run, %d left open by its stop and written by the second: %v",
		len(records), len(before), len(open), open)

	// FRESH=1: an empty topic; the output stays.
	freshAt := time.Now().Truncate(time.Second)
	run3 := startRunLocal(t, bash, script, append(env, "FRESH=1"))
	waitUntil(t, run3, 60*time.Second, "the consumer in its group, reading", func() bool {
		st, ok := consumerState(consumerHTTP)
		return ok && len(st.Partitions) == 3 && st.Totals.Read > 0
	})
	run3.interrupt(t)
	fresh := readKeptTopic(t, bin, dataDir, "view_log")
	for _, r := range fresh {
		if r.end.Before(freshAt) {
			t.Errorf("FRESH=1: the topic still holds a record of %v, before the run", r.end)
			break
		}
	}
	if len(fresh) == 0 {
		t.Error("FRESH=1: the run wrote no record")
	}
	if kept := readRows(t, output); len(kept) < len(after) {
		t.Errorf("FRESH=1 left %d rows of the %d written before", len(kept), len(after))
	}
}

// runLocal is a run of scripts/run-local.sh in its own process group, as a
// shell runs a foreground job.
type runLocal struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
}

func startRunLocal(t *testing.T, bash, script string, env []string) *runLocal {
	t.Helper()
	r := &runLocal{done: make(chan struct{})}
	r.cmd = exec.Command(bash, script)
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.reap()
		if t.Failed() {
			t.Logf("--- run-local output ---\n%s", r.out.String())
		}
	})
	return r
}

func (r *runLocal) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// interrupt sends SIGINT to the run's process group, as Ctrl-C in a
// terminal does, and waits for the script to stop its programs and exit 0.
func (r *runLocal) interrupt(t *testing.T) {
	t.Helper()
	if r.exited() {
		t.Fatalf("run-local had exited on its own: %v", r.err)
	}
	began := time.Now()
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("run-local still running 40 s after Ctrl-C")
	}
	if r.err != nil {
		t.Errorf("run-local after Ctrl-C: %v, want exit 0", r.err)
	}
	if left := childrenOf(r.cmd.Process.Pid); len(left) > 0 {
		t.Errorf("run-local exited leaving processes %v", left)
	}
	t.Logf("run-local stopped %v after Ctrl-C", time.Since(began).Round(time.Millisecond))
}

// reap stops what a failed test left running: the script's programs, each
// in its own process group, then the script.
func (r *runLocal) reap() {
	if r.exited() {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
		return
	case <-time.After(30 * time.Second):
	}
	for _, pid := range childrenOf(r.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, child)
		}
	}
	return out
}

func waitUntil(t *testing.T, r *runLocal, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if r.exited() {
			t.Fatalf("run-local exited while waiting for %s: %v", what, r.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpGet(addr, path string) (int, []byte, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func consumerState(addr string) (consumer.State, bool) {
	var st consumer.State
	code, b, err := httpGet(addr, "/api/state")
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// agg is one output row's count and total duration.
type agg struct{ count, sum int64 }

// windowsIn lists the window directories under output.
func windowsIn(t *testing.T, output string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(output, "network_id=*", "minute_timestamp=*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		if w := filepath.Base(d); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// readRows reads every output file, keyed network_id=N/minute_timestamp=T/campaign.
func readRows(t *testing.T, output string) map[string]agg {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(output, "network_id=*", "minute_timestamp=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		CampaignID  int32 `parquet:"campaign_id"`
		TotalCount  int64 `parquet:"total_count"`
		SumDuration int64 `parquet:"sum_duration"`
	}
	out := map[string]agg{}
	for _, f := range files {
		rows, err := parquet.ReadFile[row](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		dir, _ := filepath.Rel(output, filepath.Dir(f))
		for _, r := range rows {
			k := fmt.Sprintf("%s/%d", filepath.ToSlash(dir), r.CampaignID)
			if _, dup := out[k]; dup {
				t.Errorf("row %s in two files", k)
			}
			out[k] = agg{r.TotalCount, r.SumDuration}
		}
	}
	return out
}

// view is a record of the topic, as the producer wrote it.
type view struct {
	campaign   int
	start, end time.Time
}

// readKeptTopic starts the development broker on dataDir and reads every
// record of topic.
func readKeptTopic(t *testing.T, bin, dataDir, topic string) []view {
	t.Helper()
	addr := childproc.FreeAddr(t)
	broker := childproc.Start(t, filepath.Join(bin, "devbroker"), map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_DATA_DIR": dataDir})
	childproc.WaitTCP(t, addr, broker, 30*time.Second)
	defer func() {
		if _, err := broker.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
	}()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []view
	for _, p := range parts {
		c, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := c.ReadOffsets()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Seek(first, kafka.SeekAbsolute); err != nil {
			t.Fatal(err)
		}
		for off := first; off < last; {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := c.ReadBatch(1, 10<<20)
			for {
				m, err := b.ReadMessage()
				if err != nil {
					break
				}
				off = m.Offset + 1
				var v struct {
					Start    string `json:"start_timestamp"`
					End      string `json:"end_timestamp"`
					Campaign int    `json:"campaign_id"`
				}
				if err := json.Unmarshal(m.Value, &v); err != nil {
					t.Fatalf("%s/%d@%d: %v", topic, p.ID, m.Offset, err)
				}
				start, err1 := time.Parse(time.RFC3339, v.Start)
				end, err2 := time.Parse(time.RFC3339, v.End)
				if err := errors.Join(err1, err2); err != nil {
					t.Fatal(err)
				}
				out = append(out, view{v.Campaign, start, end})
			}
			if err := b.Close(); err != nil {
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
		}
		c.Close()
	}
	return out
}

// readCampaigns maps campaign_id to network_id.
func readCampaigns(t *testing.T, path string) map[int]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, r := range recs[1:] {
		network, err1 := strconv.Atoi(r[0])
		campaign, err2 := strconv.Atoi(r[1])
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[campaign] = network
	}
	return out
}

// lockedBuffer is a bytes.Buffer the script writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
