package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"
)

// crashDataset is a larger stream of ten minutes with duplicates, late
// stragglers of windows written long before, and bad records throughout.
func crashDataset(perCampaign int) *dataset {
	d := newDataset()
	for m := 0; m < 10; m++ {
		views := d.addMinute(m, perCampaign)
		d.badRecords(fmt.Sprintf("m%d", m))
		d.appendTo("duplicate", views[0].message(1), views[len(views)/2].message(3))
		if m >= 2 {
			// Stragglers of minute m-2 in the partitions of campaigns
			// that have records in minute m.
			for i, v := range views[:3] {
				late := view{id: fmt.Sprintf("late-m%d-%d", m, i), campaign: v.campaign, start: base.Add(time.Duration(m-2) * time.Minute), end: base.Add(time.Duration(m-2)*time.Minute + 40*time.Second)}
				d.appendTo("late", late.message(i))
			}
		}
	}
	d.closers(12)
	return d
}

// TestCrashRestart kills the consumer with SIGKILL six times at random
// moments while records keep arriving, restarts it each time, and checks
// that the final output is exactly the expected rows: nothing lost, nothing
// doubled, no partial file visible.
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	broker, _ := startBroker(t, 3)
	const topic = "views-crash"
	d := crashDataset(150)
	env, out := consumerEnv(t, broker, topic)

	// Records keep arriving, phase by phase, while the consumer is killed.
	prng := rand.New(rand.NewPCG(seed, 3))
	produced := producePhases(broker, topic, d.phases, func() time.Duration {
		return time.Duration(2000+prng.IntN(1500)) * time.Millisecond
	})

	const kills = 6
	for i := range kills {
		c := startConsumer(t, env)
		// Once it owns the partitions (the group has waited out the
		// killed member), at a random moment of its work.
		waitSettled(t, 3, 60*time.Second, c)
		time.Sleep(time.Duration(200+rng.IntN(1800)) * time.Millisecond)
		if c.Exited() {
			t.Fatalf("consumer %d exited on its own", i)
		}
		c.Kill()
		t.Logf("kill %d: %d rows visible", i+1, len(readOutput(t, out)))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	keepAlive(t, broker, topic, 12)

	c := startConsumer(t, env)
	waitAllRows(t, out, len(d.rows), 120*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
	checkFiles(t, out)
	checkDeadLetters(t, broker, topic, d)
	checkBalanced(t, exitTotals(t, c.Proc))
}

// checkDeadLetters: the dead-letter topic holds every rejected, late and
// unknown-campaign record at least once (a crash may repeat one), and no
// record that is in an output row, even though crashes made the consumer
// replay records that were aggregated before.
func checkDeadLetters(t *testing.T, broker, topic string, d *dataset) {
	t.Helper()
	var want int64 = d.late + d.unknown
	for _, n := range d.rejected {
		want += n
	}
	sources := map[string]bool{}
	for _, m := range readTopic(t, broker, topic+".dlq") {
		sources[m.headers["viewlog.source.partition"]+"/"+m.headers["viewlog.source.offset"]] = true
		var v struct {
			ViewID string `json:"view_id"`
		}
		json.Unmarshal([]byte(m.value), &v)
		if aggregatedID.MatchString(v.ViewID) {
			t.Errorf("dead letter %q (%v) is in an output row", v.ViewID, m.headers)
		}
	}
	if int64(len(sources)) != want {
		t.Errorf("%d distinct records dead-lettered, want %d", len(sources), want)
	}
}

// aggregatedID matches the ids of records that are counted in an output row.
var aggregatedID = regexp.MustCompile(`^(m\d+-c\d+-i\d+|closer-m\d+-c\d+(-h\d+)?)$`)
