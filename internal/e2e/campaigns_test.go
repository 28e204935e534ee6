package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCampaignReload: a campaign added to campaigns.csv while the consumer
// runs is joined from then on, and not before, including after a SIGKILL
// right after the reload, whose replay re-reads records of the campaign
// from before it; a broken file and one that changes a campaign, written
// mid-run, change nothing and are reported.
func TestCampaignReload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	const topic = "views-reload"
	const added, addedNetwork = 150, 5
	env, out := consumerEnv(t, broker, topic)
	csv := env["CAMPAIGNS_CSV_PATH"]

	d := newDataset()
	// Minutes 0 and 1 with views of the campaign not yet in the file:
	// unknown, dead-lettered. Minute 1's window is still open when the
	// file changes, so the committed offset stays below those records.
	var before []string
	for m := range 2 {
		d.addMinute(m, 1)
		for i := range 3 {
			end := base.Add(time.Duration(m)*time.Minute + time.Duration(10+10*i)*time.Second)
			v := view{id: fmt.Sprintf("pre-%d-%d", m, i), campaign: added, start: end.Add(-5 * time.Second), end: end}
			d.appendTo("unknown", v.message(i))
			before = append(before, v.id)
		}
	}
	for _, phase := range d.phases {
		produceGo(t, broker, topic, phase)
	}
	c := startConsumer(t, env)
	waitFor(t, 60*time.Second, "minutes 0 and 1 read", func() bool {
		st, ok := c.state(t)
		return ok && st.Totals.Read == d.read
	})

	good := campaignsCSV + fmt.Sprintf("%d,%d,Campaign %d\n", addedNetwork, added, added)
	rewrite(t, csv, good)
	waitFor(t, 30*time.Second, "the reload", func() bool {
		st, ok := c.state(t)
		return ok && st.Campaigns.Version == 2 && st.Campaigns.Count == 15
	})
	// The reload's offsets are committed with the next checkpoints.
	waitFor(t, 30*time.Second, "the reload in the committed checkpoints", func() bool {
		for _, cp := range groupCheckpoints(t, broker, env["CONSUMER_GROUP_ID"], topic, 3) {
			if len(cp.Additions) > 0 {
				return true
			}
		}
		return false
	})

	// A broken file, then one that moves a campaign to another network:
	// both refused, with the reason; the table in use stays.
	for i, bad := range []string{good + "6,not-a-number,x\n", strings.Replace(good, "1,10,Campaign 10", "2,10,Campaign 10", 1)} {
		rewrite(t, csv, bad)
		waitFor(t, 30*time.Second, "the rejection", func() bool {
			n, _ := c.metric(t, "viewlog_consumer_campaign_reloads_total", map[string]string{"result": "rejected"})
			return n == float64(i+1)
		})
		st, _ := c.state(t)
		if st.Campaigns.Version != 2 || st.Campaigns.Rejected == "" {
			t.Errorf("after a bad file: campaigns %+v; want version 2 and the reason", st.Campaigns)
		}
	}
	rewrite(t, csv, good)

	// Killed right after the reload: the replay reads minute 1's views of
	// the campaign again, and must not join them.
	c.Kill()
	c = startConsumer(t, env)
	for m := 2; m < 4; m++ {
		d.addMinute(m, 1)
		for i := range 3 {
			end := base.Add(time.Duration(m)*time.Minute + time.Duration(10+10*i)*time.Second)
			v := view{id: fmt.Sprintf("post-%d-%d", m, i), campaign: added, start: end.Add(-5 * time.Second), end: end}
			last := len(d.phases) - 1
			d.phases[last] = append(d.phases[last], v.message(i))
			d.expectIn(v, addedNetwork) // counts it read and aggregated
		}
	}
	d.closers(5)
	for _, phase := range d.phases[2:] {
		produceGo(t, broker, topic, phase)
	}
	keepAlive(t, broker, topic, 5)
	waitAllRows(t, out, len(d.rows), 90*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)

	// The views from before the reload are dead letters, each once, and
	// in no row.
	dead := map[string]int{}
	for _, m := range readTopic(t, broker, topic+".dlq") {
		if m.headers["viewlog.outcome"] == "unknown_campaign" {
			for _, id := range before {
				if strings.Contains(m.value, `"`+id+`"`) {
					dead[id]++
				}
			}
		}
	}
	for _, id := range before {
		if dead[id] != 1 {
			t.Errorf("view %s dead-lettered %d times, want once", id, dead[id])
		}
	}
	if code, body, err := c.get("/readyz"); err == nil && code == http.StatusOK {
		t.Errorf("a stopped consumer answered: %s", body)
	}
}

// rewrite replaces a file's content, so that its modification time moves
// even within the file system's timestamp granularity.
func rewrite(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}
