package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/childproc"
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
func waitAllRows(t *testing.T, out string, want int, timeout time.Duration, running ...*childproc.Proc) {
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

func stopAll(t *testing.T, procs ...*childproc.Proc) {
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
			var live []*childproc.Proc
			for range tt.start {
				live = append(live, start(t, "consumer", env))
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
				live = append(live, start(t, "consumer", env))
				time.Sleep(2 * time.Second)
			}
			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			waitAllRows(t, out, len(d.rows), 120*time.Second, live...)
			stopAll(t, live...)
			checkRows(t, readOutput(t, out), d)
			checkFiles(t, out)
			checkDeadLetters(t, broker, topic, d)
			for _, p := range live {
				checkBalanced(t, finalTotals(t, p.Output()))
			}
		})
	}
}

// TestSIGTERMDuringBatch stops the consumer while it drains a backlog: it
// exits 0 within 10 s, every window it wrote is complete, and a restart
// finishes the job exactly.
func TestSIGTERMDuringBatch(t *testing.T) {
	broker, _ := startBroker(t, 3)
	const topic = "views-sigterm"
	d := crashDataset(400)
	for _, phase := range d.phases {
		produceGo(t, broker, topic, phase)
	}
	env, out := consumerEnv(t, broker, topic)
	env["MAX_BATCH_RECORDS"] = "5000"
	c := start(t, "consumer", env)
	waitFor(t, 60*time.Second, "the first batch", func() bool { return strings.Contains(c.Output(), "msg=batch") })
	took, err := c.Stop(15 * time.Second)
	if err != nil || took > 10*time.Second {
		t.Fatalf("stop during a batch: %v after %v", err, took)
	}
	if !strings.Contains(c.Output(), `msg="consumer stopped"`) {
		t.Fatalf("no orderly stop")
	}
	// Whatever was written is final: each row already has its final value.
	partial := readOutput(t, out)
	t.Logf("%d of %d rows written before SIGTERM", len(partial), len(d.rows))
	if len(partial) == len(d.rows) {
		t.Log("the consumer finished before SIGTERM; the restart has nothing left to do")
	}
	checkSubset(t, partial, d)

	c = start(t, "consumer", env)
	waitAllRows(t, out, len(d.rows), 120*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
	checkFiles(t, out)
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
// consumer logs, retries and commits nothing it has not written; once it can
// write again, the output is complete and exact.
func TestOutputNotWritable(t *testing.T) {
	broker, _ := startBroker(t, 3)
	const topic = "views-unwritable"
	d := crashDataset(30)
	env, out := consumerEnv(t, broker, topic)
	// Root ignores permission bits, so block the directory with a file.
	if err := os.WriteFile(out, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t, "consumer", env)
	for _, phase := range d.phases {
		produceGo(t, broker, topic, phase)
	}
	waitFor(t, 60*time.Second, "a failed write", func() bool { return strings.Contains(c.Output(), "writing windows failed") })
	// A restart while blocked must not lose what was never written: the
	// offsets were not committed past it.
	c.Kill()
	c = start(t, "consumer", env)
	waitFor(t, 60*time.Second, "a failed write after restart", func() bool { return strings.Contains(c.Output(), "writing windows failed") })
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	waitAllRows(t, out, len(d.rows), 120*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
	checkFiles(t, out)
}

var producerStopped = regexp.MustCompile(`msg="producer stopped" sent=(\d+) failed=(\d+)`)

// TestBrokerRestart stops the broker under a running producer and consumer
// and starts it again. Neither crashes or spins; both log and resume; what
// the producer could not deliver is counted, and what it counted as sent is
// in the topic and in the output.
func TestBrokerRestart(t *testing.T) {
	addr := childproc.FreeAddr(t)
	dataDir := t.TempDir()
	broker := startBrokerAt(t, addr, 3, dataDir)
	const topic = "views-restart"
	env, out := consumerEnv(t, addr, topic)
	env["WINDOW_DURATION"] = "2 seconds"
	env["WATERMARK_DELAY"] = "1 second"
	c := start(t, "consumer", env)
	p := start(t, "producer", map[string]string{
		"KAFKA_SERVER": addr, "TOPIC_NAME": topic, "PRODUCER_INTERVAL": "100ms", "PRODUCER_BATCH_SIZE": "20",
	})
	waitFor(t, 60*time.Second, "output before the outage", func() bool { return len(readOutput(t, out)) > 0 })

	if _, err := broker.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	if p.Exited() || c.Exited() {
		t.Fatalf("a client exited while the broker was down")
	}
	broker = startBrokerAt(t, addr, 3, dataDir)
	before := len(readOutput(t, out))
	waitFor(t, 90*time.Second, "output after the outage", func() bool { return len(readOutput(t, out)) > before+14 })

	// Stop the producer, then let the consumer close the last windows it
	// can and stop it.
	if _, err := p.Stop(40 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	m := producerStopped.FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatal("producer did not report what it sent")
	}
	sent, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	t.Logf("producer: %d sent, %d failed during the outage", sent, failed)
	if !regexp.MustCompile(`level=(WARN|ERROR)`).MatchString(p.Output()) || !regexp.MustCompile(`level=(WARN|ERROR)`).MatchString(c.Output()) {
		t.Errorf("the outage was not logged")
	}
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
