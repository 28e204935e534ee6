package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// sample is one measured run of one program.
type sample struct {
	records  int64   // records the rate and CPU are counted over
	wall     float64 // seconds from process start to done
	cpu      float64 // CPU seconds, user+system, from wait4
	rss      int64   // peak resident set (VmHWM), bytes
	complete bool    // false: stopped at the cap, records is what it did by then
	// firstFile is the seconds from process start to the first expected
	// file (consumer catch-up runs only; 0 if none appeared).
	firstFile float64
}

func (r sample) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.records) / r.wall
}

func (r sample) cpuPerM() float64 {
	if r.records <= 0 {
		return 0
	}
	return r.cpu / (float64(r.records) / 1e6)
}

// topicSet is one pre-loaded topic and the runs measured on it.
type topicSet struct {
	spec    streamSpec
	model   *model
	files   int // closable window files
	preload time.Duration
	cons    []sample
	bare    []sample // empty unless the set has a reference
}

type catchupResult struct {
	set topicSet
}

type rssResult struct {
	small, large, dense topicSet
	// fewer says that the runs were cut to one each because the main
	// catch-up did not finish within the cap.
	fewer bool
}

// catchupMain is measurement 1: the consumer and the bare drain, pair by
// pair, on one pre-loaded topic.
func (b *bench) catchupMain(ctx context.Context) (*catchupResult, error) {
	s, err := b.topicRuns(ctx, "catchup", b.o.records, b.o.density, b.o.runs, true)
	if err != nil {
		return nil, err
	}
	return &catchupResult{set: s}, nil
}

// rssRuns is measurement 2's extra catch-ups: a smaller and a larger topic
// at the same density, and one at a second density for the fit.
func (b *bench) rssRuns(ctx context.Context, main *catchupResult) (*rssResult, error) {
	var r rssResult
	runs := b.o.rssRuns
	if runs == 0 {
		runs = b.o.runs
		// Runs stopped at the cap all read about as far, whatever the
		// topic's size: one each shows that, in a third of the time.
		if main != nil && !allComplete(main.set.cons) {
			runs, r.fewer = 1, true
		}
	}
	var err error
	if r.small, err = b.topicRuns(ctx, "rss-small", b.o.rssSmall, b.o.density, runs, false); err != nil {
		return nil, err
	}
	if r.large, err = b.topicRuns(ctx, "rss-large", b.o.rssLarge, b.o.density, runs, false); err != nil {
		return nil, err
	}
	if r.dense, err = b.topicRuns(ctx, "rss-dense", b.o.density2Records, b.o.density2, runs, false); err != nil {
		return nil, err
	}
	return &r, nil
}

// eventStart is where the pre-loaded streams' event clock starts: a fixed
// instant, so that every run reads the same data.
func eventStart() time.Time { return time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) }

// topicRuns pre-loads records at density into a fresh broker, then runs the
// consumer runs times, each with a new group and output directory, preceded
// by the bare drain if withBare.
func (b *bench) topicRuns(ctx context.Context, label string, records, density int64, runs int, withBare bool) (topicSet, error) {
	set := topicSet{spec: streamSpec{records: records, perMinute: density, partitions: b.o.partitions, start: eventStart(), seed: 7}}
	broker, addr, err := b.startBroker(ctx)
	if err != nil {
		return set, err
	}
	defer broker.stop(10 * time.Second) //nolint:errcheck // on error paths; the clean path checks below
	topic := "bench-" + label
	b.logf("%s: pre-loading %s records (%s per minute of event time) into a fresh broker", label, commas(records), commas(density))
	set.model, set.preload, err = preload(ctx, addr, topic, set.spec)
	if err != nil {
		return set, err
	}
	// The pre-load's buffers are garbage now; give them back so the bench
	// stays small beside what it measures.
	debug.FreeOSMemory()
	n, _, err := topicEnd(ctx, addr, topic)
	if err != nil {
		return set, err
	}
	if n != records {
		return set, fmt.Errorf("%s holds %d records after the pre-load, want %d", topic, n, records)
	}
	want := set.model.closable()
	set.files = len(want)
	brokerRSS, err := broker.rss()
	if err != nil {
		return set, err
	}
	b.logf("%s: pre-loaded in %.1fs (%s rec/s), broker now %s; %d window files to expect; open windows peak at %s ids",
		label, set.preload.Seconds(), commas(int64(float64(records)/set.preload.Seconds())), mib(brokerRSS), len(want), commas(set.model.peakIDs()))

	for i := range runs {
		if withBare {
			d, err := b.bareDrain(ctx, addr, topic, records)
			if err != nil {
				return set, fmt.Errorf("bare drain run %d: %w", i+1, err)
			}
			b.logf("%s: bare drain %d/%d: %.2fs, %s rec/s, %.2f CPU-s/M, %s peak RSS",
				label, i+1, runs, d.wall, commas(int64(d.rate())), d.cpuPerM(), mib(d.rss))
			set.bare = append(set.bare, d)
		}
		c, err := b.catchup(ctx, addr, topic, label, i, set.model.records, want)
		if err != nil {
			return set, fmt.Errorf("consumer run %d: %w", i+1, err)
		}
		state := "all windows written"
		if !c.complete {
			state = fmt.Sprintf("STOPPED at the %v cap after reading %s records", b.o.cap, commas(c.records))
		}
		first := "none"
		if c.firstFile > 0 {
			first = fmt.Sprintf("after %.1fs", c.firstFile)
		}
		b.logf("%s: consumer %d/%d: %.2fs, %s rec/s, %.2f CPU-s/M, %s peak RSS, first file %s (%s)",
			label, i+1, runs, c.wall, commas(int64(c.rate())), c.cpuPerM(), mib(c.rss), first, state)
		set.cons = append(set.cons, c)
	}
	return set, stopBroker(broker)
}

// catchup runs the consumer on its defaults with a new group until every
// file in want exists (or the cap), then stops it with SIGTERM and takes
// its CPU and peak RSS from wait4.
func (b *bench) catchup(ctx context.Context, addr, topic, label string, i int, records int64, want []fileKey) (sample, error) {
	outDir := filepath.Join(b.dir, fmt.Sprintf("out-%s-%d", label, i))
	defer os.RemoveAll(outDir)
	metricsAddr, err := freeAddr()
	if err != nil {
		return sample{}, err
	}
	w := newFileWatch(outDir, topic, want)
	c, err := start("consumer", b.bin("consumer"), nil, childEnv(b.consumerEnv(addr, topic, outDir, metricsAddr, fmt.Sprintf("%s-%d", label, i))), nil, "")
	if err != nil {
		return sample{}, err
	}
	defer c.stop(30 * time.Second) //nolint:errcheck // on error paths only; see below
	tick := time.NewTicker(b.o.poll)
	defer tick.Stop()
	capped := time.NewTimer(b.o.cap)
	defer capped.Stop()
	r := sample{records: records, complete: true}
	var doneAt time.Time
wait:
	for {
		select {
		case now := <-tick.C:
			all := w.poll()
			if r.firstFile == 0 && w.found() > 0 {
				r.firstFile = now.Sub(c.started).Seconds()
			}
			if all {
				doneAt = now
				break wait
			}
		case <-capped.C:
			doneAt = time.Now()
			r.complete = false
			read, err := scrapeRecordsRead(ctx, metricsAddr)
			if err != nil {
				return sample{}, fmt.Errorf("consumer stopped at the cap; reading how far it got: %w", err)
			}
			r.records = read
			break wait
		case <-c.done:
			return sample{}, fmt.Errorf("consumer exited before writing every window: %v\n%s", c.err, c.out.tail())
		case <-ctx.Done():
			return sample{}, ctx.Err()
		}
	}
	r.wall = doneAt.Sub(c.started).Seconds()
	if r.rss, err = c.peakRSS(); err != nil {
		return sample{}, err
	}
	if err := c.stop(30 * time.Second); err != nil {
		return sample{}, fmt.Errorf("consumer shutdown: %w\n%s", err, c.out.tail())
	}
	b.dump(c)
	r.cpu = c.cpuSeconds()
	if r.complete {
		if missing := w.missing(); missing != 0 {
			return r, fmt.Errorf("internal: %d files missing after completion", missing)
		}
	}
	return r, nil
}

// consumerEnv is the consumer's environment: its defaults, except where it
// finds the broker, campaigns.csv and its output, where it serves metrics,
// and a group of its own (each run starts from the beginning).
func (b *bench) consumerEnv(addr, topic, outDir, metricsAddr, group string) map[string]string {
	return map[string]string{
		"KAFKA_SERVER":       addr,
		"TOPIC_NAME":         topic,
		"CONSUMER_GROUP_ID":  fmt.Sprintf("bench-%d-%s", os.Getpid(), group),
		"CAMPAIGNS_CSV_PATH": b.campaignsPath(),
		"OUTPUT_DIR":         outDir,
		"METRICS_ADDR":       metricsAddr,
	}
}

// fileWatch checks which expected files exist, cheaply: per partition, in
// window order, from the first one not yet seen, stopping at the first one
// still missing, so that a poll costs a few stat calls, not a tree walk.
type fileWatch struct {
	lists [][]string
	next  []int
}

func newFileWatch(dir, topic string, want []fileKey) *fileWatch {
	w := &fileWatch{}
	idx := map[int32]int{}
	for _, k := range want {
		j, ok := idx[k.partition]
		if !ok {
			j = len(w.lists)
			idx[k.partition] = j
			w.lists = append(w.lists, nil)
			w.next = append(w.next, 0)
		}
		w.lists[j] = append(w.lists[j], outputPath(dir, topic, k))
	}
	return w
}

// poll reports whether every expected file exists.
func (w *fileWatch) poll() bool {
	all := true
	for p, list := range w.lists {
		for w.next[p] < len(list) {
			if _, err := os.Stat(list[w.next[p]]); err != nil {
				break
			}
			w.next[p]++
		}
		if w.next[p] < len(list) {
			all = false
		}
	}
	return all
}

// found is how many expected files the polls have seen.
func (w *fileWatch) found() int {
	n := 0
	for _, k := range w.next {
		n += k
	}
	return n
}

func (w *fileWatch) missing() int {
	w.poll()
	n := 0
	for p, list := range w.lists {
		n += len(list) - w.next[p]
	}
	return n
}

// bareDrain runs this program with -bare-drain as a subprocess, so that its
// CPU time and peak RSS are measured the same way as the consumer's, from
// its process start to its exit.
func (b *bench) bareDrain(ctx context.Context, addr, topic string, records int64) (sample, error) {
	var mu sync.Mutex
	var res *drainResult
	onLine := func(line string) {
		if !strings.HasPrefix(line, "{") {
			return
		}
		var r drainResult
		if json.Unmarshal([]byte(line), &r) == nil {
			mu.Lock()
			res = &r
			mu.Unlock()
		}
	}
	d, err := start("bare drain", b.self, []string{"-bare-drain", "-broker", addr, "-topic", topic, "-timeout", b.o.timeout.String()}, childEnv(nil), onLine, "")
	if err != nil {
		return sample{}, err
	}
	if err := d.wait(ctx, b.o.timeout+10*time.Second); err != nil {
		_ = d.stop(5 * time.Second)
		return sample{}, err
	}
	b.dump(d)
	mu.Lock()
	defer mu.Unlock()
	if res == nil {
		return sample{}, fmt.Errorf("bare drain printed no result\n%s", d.out.tail())
	}
	if res.Records != records {
		return sample{}, fmt.Errorf("bare drain read %d records, want %d", res.Records, records)
	}
	return sample{records: res.Records, wall: d.exited.Sub(d.started).Seconds(), cpu: d.cpuSeconds(), rss: res.PeakRSS, complete: true}, nil
}
