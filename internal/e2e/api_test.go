package e2e

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/viewlog/viewlog/internal/childproc"
)

// TestEndpoints checks what the consumer's HTTP server says against what
// happens, end to end: /readyz is 503 while the consumer waits for a broker
// that is not there yet and 200 once it has joined its group, while /healthz
// and `consumer healthcheck` say it is live throughout; the lag, in /metrics
// and /api/state, rises above 0 behind a backlog and falls to 0 once it is
// caught up; /api/state's totals and the records counters equal what was
// produced, by outcome and rejection reason; and `consumer healthcheck`
// exits 1 once the consumer has stopped.
func TestEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const topic = "views-endpoints"
	addr := childproc.FreeAddr(t)
	dataDir := t.TempDir()

	// The backlog: half a million valid records half an hour of event
	// time before the data set, then the data set with every kind of
	// record but its closers. It is loaded into a broker that keeps its
	// state on disk and is stopped, so that the consumer can start first.
	broker := startBrokerAt(t, addr, 3, dataDir)
	bulk := produceBacklog(t, addr, topic, backlogSpec{from: base.Add(-30 * time.Minute), records: 500_000, perMinute: 100_000})
	d := crashDataset(20)
	data, closers := d.phases[:len(d.phases)-1], d.phases[len(d.phases)-1]
	for _, phase := range data {
		produceGo(t, addr, topic, phase)
	}
	if _, err := broker.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"read": d.read + bulk.produced, "aggregated": d.aggregated + bulk.produced,
		"duplicate": d.duplicate, "late": d.late, "unknown_campaign": d.unknown,
	}
	var rejected int64
	for r, n := range d.rejected {
		want["rejected."+r] = n
		rejected += n
	}
	want["rejected"] = rejected
	rows := maps.Clone(d.rows)
	maps.Copy(rows, bulk.rows)

	// No broker yet: live, not ready, with the reason.
	env, out := consumerEnv(t, addr, topic)
	c := startConsumer(t, env)
	waitFor(t, 30*time.Second, "the consumer's HTTP server", func() bool {
		code, _, err := c.get("/healthz")
		return err == nil && code == http.StatusOK
	})
	time.Sleep(time.Second)
	code, body, err := c.get("/readyz")
	reason := strings.TrimSpace(string(body))
	if err != nil || code != http.StatusServiceUnavailable || reason == "" {
		t.Errorf("/readyz with no broker: %d %q %v; want 503 with a reason", code, body, err)
	}
	st, ok := c.state(t)
	if !ok || st.Ready.OK || strings.ReplaceAll(st.Ready.Reason, "\n", "; ") != reason || st.Generation != 0 || len(st.Partitions) != 0 {
		t.Errorf("/api/state with no broker: ready %+v, generation %d, %d partitions; want not ready for the reason /readyz gave (%q), no generation, no partitions",
			st.Ready, st.Generation, len(st.Partitions), reason)
	}
	if code, _, err := c.get("/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz with no broker: %d %v; want 200 (waiting for the broker is no wedge)", code, err)
	}
	if code := healthcheck(t, c); code != 0 {
		t.Errorf("consumer healthcheck with no broker: exit %d, want 0", code)
	}

	// The broker comes, with the backlog.
	brokerBack := time.Now()
	startBrokerAt(t, addr, 3, dataDir)
	var (
		readyAt             time.Time
		maxMetric, maxAPI   float64
		lastMetric, lastAPI float64
		sawPartitions       bool
		joinedWhenReady     = true
	)
	waitFor(t, 3*time.Minute, "the backlog caught up", func() bool {
		if c.Exited() {
			t.Fatal("the consumer exited on its own")
		}
		code, _, err := c.get("/readyz")
		ready := err == nil && code == http.StatusOK
		st, ok := c.state(t)
		if !ok {
			return false
		}
		if ready && readyAt.IsZero() {
			readyAt = time.Now()
			// The broker, asked after the probe said ready, has the
			// consumer in the group with every partition assigned.
			joinedWhenReady = groupAssigned(t, addr, env["CONSUMER_GROUP_ID"], topic) == 3
		}
		lastAPI = 0
		for _, p := range st.Partitions {
			lastAPI += float64(p.Lag)
		}
		sawPartitions = sawPartitions || len(st.Partitions) == 3
		lastMetric, _ = c.metric(t, "viewlog_consumer_lag_records", map[string]string{"topic": topic})
		maxMetric, maxAPI = max(maxMetric, lastMetric), max(maxAPI, lastAPI)
		return ready && st.Totals.Read == want["read"]-int64(len(closers)) && len(st.Partitions) == 3 && lastAPI == 0 && lastMetric == 0
	})
	t.Logf("ready %v after the broker came back, caught up %v after; highest lag seen: %v in /metrics, %v in /api/state",
		readyAt.Sub(brokerBack).Round(time.Millisecond), time.Since(brokerBack).Round(time.Millisecond), maxMetric, maxAPI)
	if !joinedWhenReady {
		t.Error("/readyz answered 200 before the broker had the consumer in its group")
	}
	if maxMetric == 0 || maxAPI == 0 || !sawPartitions {
		t.Errorf("lag never above 0 behind a backlog of %d records: /metrics %v, /api/state %v", want["read"], maxMetric, maxAPI)
	}

	// The closers come once the rest is read, as records of a campaign
	// still running after the others have stopped: the idle partitions'
	// watermarks follow it, and every window of the data closes. Once
	// every window is written, the totals are final.
	produceGo(t, addr, topic, closers)
	waitAllRows(t, out, len(rows), 90*time.Second, c)
	st, ok = c.state(t)
	if !ok {
		t.Fatal("no /api/state")
	}
	if got := totalsMap(st.Totals); !maps.Equal(got, want) {
		t.Errorf("/api/state totals %v\nwant %v", got, want)
	}
	// The records counters agree, outcome by outcome and reason by reason.
	for k, n := range want {
		if k == "read" || k == "rejected" {
			continue
		}
		outcome, reason, _ := strings.Cut(k, ".")
		got, _ := c.metric(t, "viewlog_consumer_records_total", map[string]string{"outcome": outcome, "reason": reason})
		if int64(got) != n {
			t.Errorf("viewlog_consumer_records_total{outcome=%q,reason=%q} = %v, want %d", outcome, reason, got, n)
		}
	}
	if all, _ := c.metric(t, "viewlog_consumer_records_total", nil); int64(all) != want["read"] {
		t.Errorf("viewlog_consumer_records_total sums to %v, want %d records read", all, want["read"])
	}
	if code, _, err := c.get("/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("/readyz caught up: %d %v; want 200", code, err)
	}
	if code := healthcheck(t, c); code != 0 {
		t.Errorf("consumer healthcheck while it runs: exit %d, want 0", code)
	}

	stopAll(t, c)
	if got := exitTotals(t, c.Proc); !maps.Equal(got, totalsMap(st.Totals)) {
		t.Errorf("exit totals %v, /api/state said %v", got, totalsMap(st.Totals))
	}
	if code := healthcheck(t, c); code != 1 {
		t.Errorf("consumer healthcheck after the consumer stopped: exit %d, want 1", code)
	}
	checkRows(t, readOutput(t, out), &dataset{rows: rows})
}

// groupAssigned is how many partitions of topic the broker has assigned to
// the members of group, as a stable group; 0 if it is not stable.
func groupAssigned(t *testing.T, broker, group, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	g := groups[group]
	if g.Err != nil || g.State != "Stable" {
		t.Logf("group %s: state %q, %v", group, g.State, g.Err)
		return 0
	}
	return len(g.AssignedPartitions()[topic])
}

// healthcheck runs `consumer healthcheck` against c's server, as a
// container healthcheck would, and returns its exit code.
func healthcheck(t *testing.T, c *consumerProc) int {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "consumer"), "healthcheck")
	cmd.Env = []string{"METRICS_ADDR=" + c.http}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		t.Logf("consumer healthcheck: exit %d: %s", exit.ExitCode(), strings.TrimSpace(string(out)))
		return exit.ExitCode()
	default:
		t.Fatalf("consumer healthcheck: %v", err)
		return -1
	}
}
