package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/childproc"
	"github.com/viewlog/viewlog/internal/consumer"
)

// producePhases writes the phases in order in the background, alternating
// kcat and the project's writer, pausing between phases.
func producePhases(broker, topic string, phases [][]message, pause func() time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i, phase := range phases {
				sent := false
				if i%3 == 1 {
					var err error
					if sent, err = kcat(broker, topic, phase); err != nil {
						return err
					}
				}
				if !sent {
					if err := writeGo(broker, topic, phase); err != nil {
						return err
					}
				}
				time.Sleep(pause())
			}
			return nil
		}()
	}()
	return done
}

// waitAllRows waits until the output holds want rows, failing early if a
// consumer that should be running exits.
func waitAllRows(t *testing.T, out string, want int, timeout time.Duration, running ...*consumerProc) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d rows", want), func() bool {
		for _, p := range running {
			if p.Exited() {
				t.Fatalf("a consumer exited on its own")
			}
		}
		return len(readOutput(t, out)) >= want
	})
	// Time for a wrong extra write to show.
	time.Sleep(time.Second)
}

func stopAll(t *testing.T, procs ...*consumerProc) {
	t.Helper()
	for _, p := range procs {
		if took, err := p.Stop(15 * time.Second); err != nil || took > 10*time.Second {
			t.Errorf("%s: stop returned %v after %v", p.Name(), err, took)
		}
	}
}

// TestScaleOut runs several consumers in one group over six partitions,
// kills one or adds more while records arrive, and checks that the
// survivors take over and the output is exact.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 6)
	tests := []struct {
		name        string
		start, kill int
		add         int
	}{
		{"two instances, one killed", 2, 1, 0},
		{"three instances, one killed", 3, 1, 0},
		{"instances added", 1, 0, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("views-scale-%d", i)
			d := crashDataset(60)
			env, out := consumerEnv(t, broker, topic)
			var live []*consumerProc
			for range tt.start {
				live = append(live, startConsumer(t, env))
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			produced := producePhases(broker, topic, d.phases, func() time.Duration {
				return time.Duration(600+rng.IntN(600)) * time.Millisecond
			})
			waitSettled(t, 6, 60*time.Second, live...)
			time.Sleep(time.Duration(500+rand.IntN(2000)) * time.Millisecond)
			for range tt.kill {
				live[0].Kill()
				live = live[1:]
			}
			for range tt.add {
				live = append(live, startConsumer(t, env))
				time.Sleep(2 * time.Second)
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			keepAlive(t, broker, topic, 12)
			waitAllRows(t, out, len(d.rows), 120*time.Second, live...)
			stopAll(t, live...)
			checkRows(t, readOutput(t, out), d)
			checkFiles(t, out)
			checkDeadLetters(t, broker, topic, d)
			for _, p := range live {
				checkBalanced(t, exitTotals(t, p.Proc))
			}
		})
	}
}

// TestSIGTERMDuringBatch stops the consumer while it drains a backlog: it
// exits 0 within 10 s, every window it wrote is complete, and a restart
// finishes the job exactly. The signal is sent only while the consumer has
// read part of the backlog and is behind on the rest; a run that finished
// too early is done again with more records.
func TestSIGTERMDuringBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	for attempt, perCampaign := range []int{400, 1200, 3000} {
		topic := fmt.Sprintf("views-sigterm-%d", attempt)
		d := crashDataset(perCampaign)
		for _, phase := range d.phases {
			produceGo(t, broker, topic, phase)
		}
		env, out := consumerEnv(t, broker, topic)
		env["MAX_BATCH_RECORDS"] = "5000"
		c := startConsumer(t, env)
		var st consumer.State
		waitFor(t, 60*time.Second, "the first batch", func() bool {
			var ok bool
			st, ok = c.state(t)
			return ok && st.Totals.Read > 0
		})
		var lag int64
		for _, p := range st.Partitions {
			lag += p.Lag
		}
		took, err := c.Stop(15 * time.Second)
		if err != nil || took > 10*time.Second {
			t.Fatalf("stop during a batch: %v after %v", err, took)
		}
		stopped := exitTotals(t, c.Proc)
		if lag == 0 || stopped["read"] >= d.read {
			t.Logf("attempt %d: the consumer was not behind when signalled (lag %d, read %d of %d); again with more records", attempt, lag, stopped["read"], d.read)
			continue
		}
		checkBalanced(t, stopped)
		// Whatever was written is final: each row already has its final value.
		partial := readOutput(t, out)
		t.Logf("SIGTERM after %d of %d records; %d of %d rows written", stopped["read"], d.read, len(partial), len(d.rows))
		checkSubset(t, partial, d)

		c = startConsumer(t, env)
		keepAlive(t, broker, topic, 12)
		waitAllRows(t, out, len(d.rows), 120*time.Second, c)
		stopAll(t, c)
		checkRows(t, readOutput(t, out), d)
		checkFiles(t, out)
		return
	}
	t.Fatal("the consumer finished every backlog before SIGTERM reached it")
}

// checkSubset: every row present has its final value.
func checkSubset(t *testing.T, rows []outRow, d *dataset) {
	t.Helper()
	for _, r := range rows {
		e, ok := d.rows[r.key()]
		if !ok || e.count != r.TotalCount || e.sum != r.SumDuration {
			t.Errorf("row %s written incomplete or wrong: count %d sum %d, want %+v", r.key(), r.TotalCount, r.SumDuration, e)
		}
	}
}

// TestOutputNotWritable: while the output directory cannot be written, the
// consumer retries, says it is not ready and why, stays live, and commits
// nothing it has not written; once it can write again, the output is
// complete and exact.
func TestOutputNotWritable(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	const topic = "views-unwritable"
	d := crashDataset(30)
	env, out := consumerEnv(t, broker, topic)
	// Root ignores permission bits, so block the directory with a file.
	if err := os.WriteFile(out, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, env)
	for _, phase := range d.phases {
		produceGo(t, broker, topic, phase)
	}
	failing := func(c *consumerProc) func() bool {
		return func() bool {
			n, _ := c.metric(t, "viewlog_consumer_write_errors_total", nil)
			return n > 0
		}
	}
	waitFor(t, 60*time.Second, "a failed write", failing(c))
	code, body, err := c.get("/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(string(body), "not a directory") {
		t.Errorf("/readyz while the output is blocked: %d %q %v; want 503 with the reason", code, body, err)
	}
	if code, _, err := c.get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz while the output is blocked: %d %v; want 200 (an outage is not a wedge)", code, err)
	}
	if n, _ := c.metric(t, "viewlog_consumer_uncommitted_records", nil); n == 0 {
		t.Errorf("nothing uncommitted while no window could be written")
	}
	// A restart while blocked must not lose what was never written: the
	// offsets were not committed past it.
	c.Kill()
	c = startConsumer(t, env)
	waitFor(t, 60*time.Second, "a failed write after restart", failing(c))
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	keepAlive(t, broker, topic, 12)
	waitAllRows(t, out, len(d.rows), 120*time.Second, c)
	waitFor(t, 30*time.Second, "readiness once writable", func() bool {
		code, _, err := c.get("/readyz")
		return err == nil && code == http.StatusOK
	})
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
	checkFiles(t, out)
}

// TestBrokerRestart stops the broker under a running producer and consumer
// and starts it again. Neither crashes or spins; both log and resume; what
// the producer could not deliver is counted, and what it counted as sent is
// in the topic and in the output.
func TestBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	addr := childproc.FreeAddr(t)
	dataDir := t.TempDir()
	broker := startBrokerAt(t, addr, 3, dataDir)
	const topic = "views-restart"
	env, out := consumerEnv(t, addr, topic)
	env["WINDOW_DURATION"] = "2 seconds"
	env["WATERMARK_DELAY"] = "1 second"
	c := startConsumer(t, env)
	p := start(t, "producer", map[string]string{
		"KAFKA_SERVER": addr, "TOPIC_NAME": topic, "PRODUCER_INTERVAL": "100ms", "PRODUCER_BATCH_SIZE": "20",
		"METRICS_ADDR": childproc.FreeAddr(t),
	})
	waitFor(t, 60*time.Second, "output before the outage", func() bool { return len(readOutput(t, out)) > 0 })

	if _, err := broker.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The consumer notices: it leaves its group and says it is not ready,
	// while it stays live (restarting it would not bring the broker back).
	waitFor(t, 30*time.Second, "the consumer to report the outage", func() bool {
		code, _, err := c.get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	})
	if code, _, err := c.get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz during the outage: %d %v; want 200", code, err)
	}
	time.Sleep(3 * time.Second)
	if p.Exited() || c.Exited() {
		t.Fatalf("a client exited while the broker was down")
	}
	startBrokerAt(t, addr, 3, dataDir)
	before := len(readOutput(t, out))
	waitFor(t, 90*time.Second, "output after the outage", func() bool { return len(readOutput(t, out)) > before+14 })

	// Stop the producer, then let the consumer close the last windows it
	// can and stop it.
	if _, err := p.Stop(40 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	var stats struct{ Sent, Failed int }
	if err := json.Unmarshal([]byte(p.Stdout()), &stats); err != nil {
		t.Fatalf("producer did not report what it sent: %v: %q", err, p.Stdout())
	}
	sent := stats.Sent
	t.Logf("producer: %d sent, %d failed during the outage", stats.Sent, stats.Failed)
	time.Sleep(3 * time.Second)
	stopAll(t, c)

	// Every record the producer counted as sent is in the topic.
	records := readTopic(t, addr, topic)
	if len(records) != sent {
		t.Errorf("topic holds %d records, producer counted %d sent", len(records), sent)
	}
	// Every window written matches the topic exactly (the producer's
	// records are valid and in order per campaign, so none is late).
	type agg struct{ count, sum int64 }
	want := map[string]agg{}
	for _, r := range records {
		var v struct {
			Start    string `json:"start_timestamp"`
			End      string `json:"end_timestamp"`
			Campaign int    `json:"campaign_id"`
		}
		if err := jsonUnmarshal(r.value, &v); err != nil {
			t.Fatal(err)
		}
		start, err1 := time.Parse(time.RFC3339, v.Start)
		end, err2 := time.Parse(time.RFC3339, v.End)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		win := end.Truncate(2 * time.Second)
		k := fmt.Sprintf("%d/%s/%d", networks[v.Campaign], win.UTC().Format("2006-01-02_15-04-05"), v.Campaign)
		a := want[k]
		a.count++
		a.sum += end.Unix() - start.Unix()
		want[k] = a
	}
	rows := readOutput(t, out)
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.key()] {
			t.Errorf("row %s twice", r.key())
		}
		seen[r.key()] = true
		if w := want[r.key()]; w.count != r.TotalCount || w.sum != r.SumDuration {
			t.Errorf("row %s: count %d sum %d, topic has %d and %d", r.key(), r.TotalCount, r.SumDuration, w.count, w.sum)
		}
	}
	checkFiles(t, out)
}
