package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// sustainRun is one sustained-load run.
type sustainRun struct {
	records  int64 // records the producer delivered
	producer sample
	// lags are the consumer's lag samples, one a second while the producer
	// ran; lagFromGauge says whether they came from its lag gauge or from
	// the fallback (log end minus records it had accounted for).
	lags         []int64
	lagFromGauge bool
	// delays are, per window file, the seconds between the window's end
	// and the first poll that saw the file; missing are the files of
	// windows that closed while the producer ran but never appeared.
	delays  []float64
	missing []string
	aligned time.Duration // how long the start waited for a window boundary
}

func (s *sustainRun) rate() float64 { return s.producer.rate() }

func (s *sustainRun) maxLag() int64 {
	if len(s.lags) == 0 {
		return 0
	}
	return slices.Max(s.lags)
}

// lagLimit is the target: 2 × CONSUMER_INTERVAL × the producer's rate.
func (s *sustainRun) lagLimit() float64 { return 2 * consumerPeriod * s.rate() }

type sustainResult struct {
	duration time.Duration // how long the producer ran in each run
	runs     []*sustainRun
}

// sustained is measurement 3, -sustain-runs times.
func (b *bench) sustained(ctx context.Context) (*sustainResult, error) {
	res := &sustainResult{duration: b.o.sustain}
	for i := range b.o.sustainRuns {
		r, err := b.sustainOnce(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		res.runs = append(res.runs, r)
	}
	return res, nil
}

// delayLimit is the target for every file: WATERMARK_DELAY +
// CONSUMER_INTERVAL + 2 s after the window's end.
const delayLimit = watermarkDelay + consumerPeriod + 2

// sustainOnce is one run of measurement 3: the producer at
// PRODUCER_INTERVAL=0 (the load generator setting) for -sustain against a
// fresh broker, with the consumer on its defaults running meanwhile.
func (b *bench) sustainOnce(ctx context.Context, run int) (*sustainRun, error) {
	const topic = "bench-sustain"
	broker, addr, err := b.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	defer broker.stop(10 * time.Second) //nolint:errcheck // on error paths; the clean path checks below
	if err := createTopic(ctx, addr, topic, b.o.partitions); err != nil {
		return nil, err
	}
	outDir := filepath.Join(b.dir, "out-sustain")
	defer os.RemoveAll(outDir)
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := b.consumerEnv(addr, topic, outDir, metricsAddr, fmt.Sprintf("sustain-%d", run))
	c, err := start("consumer", b.bin("consumer"), nil, childEnv(env), nil, "")
	if err != nil {
		return nil, err
	}
	defer c.stop(30 * time.Second) //nolint:errcheck // on error paths only
	b.logf("sustain: waiting for the consumer to join its group")
	if err := waitAssigned(ctx, c, addr, env["CONSUMER_GROUP_ID"], time.Minute); err != nil {
		return nil, err
	}

	res := &sustainRun{}
	// A window must end at least WATERMARK_DELAY (and a second of slack)
	// before the producer stops, or no file is due while it runs; and not
	// in its first two seconds, or that window holds almost nothing.
	lo := max(0, float64(windowSize+watermarkDelay+1)-b.o.sustain.Seconds())
	const hi = windowSize - 3
	sec := float64(time.Now().UnixNano()%int64(time.Minute)) / 1e9
	switch {
	case sec < lo:
		res.aligned = time.Duration((lo - sec) * float64(time.Second))
	case sec > hi:
		res.aligned = time.Duration((windowSize - sec + lo) * float64(time.Second))
	}
	if res.aligned > 0 {
		b.logf("sustain: waiting %.1fs so that a window closes while the producer runs", res.aligned.Seconds())
		select {
		case <-time.After(res.aligned):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	b.logf("sustain: producer at PRODUCER_INTERVAL=0 for %v, consumer on its defaults", b.o.sustain)
	p, err := start("producer", b.bin("producer"), nil, childEnv(map[string]string{
		"KAFKA_SERVER":      addr,
		"TOPIC_NAME":        topic,
		"PRODUCER_INTERVAL": "0",
	}), nil, "")
	if err != nil {
		return nil, err
	}
	defer p.stop(30 * time.Second) //nolint:errcheck // on error paths only
	seen := map[string]time.Time{}
	poll := time.NewTicker(filePoll)
	defer poll.Stop()
	lagTick := time.NewTicker(time.Second)
	defer lagTick.Stop()
	stopAt := time.NewTimer(b.o.sustain)
	defer stopAt.Stop()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	gauge, fallback := 0, 0
	var stopped time.Time
produce:
	for {
		select {
		case now := <-poll.C:
			walkNew(outDir, now, seen)
		case <-lagTick.C:
			lag, ok, read, err := scrapeLag(ctx, metricsAddr, topic)
			if err != nil {
				b.logf("sustain: lag sample: %v", err)
				continue
			}
			if !ok {
				end, err := logEnd(ctx, client, topic, b.o.partitions)
				if err != nil {
					b.logf("sustain: log end: %v", err)
					continue
				}
				lag = end - read
				fallback++
			} else {
				gauge++
			}
			res.lags = append(res.lags, lag)
		case <-stopAt.C:
			stopped = time.Now()
			break produce
		case <-p.done:
			return nil, fmt.Errorf("producer exited early: %v\n%s", p.err, p.out.tail())
		case <-c.done:
			return nil, fmt.Errorf("consumer exited: %v\n%s", c.err, c.out.tail())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := p.stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("producer shutdown: %w\n%s", err, p.out.tail())
	}
	b.dump(p)
	res.lagFromGauge = gauge > 0 && fallback == 0
	if res.records, err = logEnd(ctx, client, topic, b.o.partitions); err != nil {
		return nil, err
	}
	res.producer = sample{records: res.records, wall: p.exited.Sub(p.started).Seconds(), cpu: p.cpuSeconds(), complete: true}
	b.logf("sustain %d/%d: producer sent %s records in %.1fs (%s rec/s); max lag %s (limit %s)", run+1, b.o.sustainRuns, commas(res.records), res.producer.wall,
		commas(int64(res.rate())), commas(res.maxLag()), commas(int64(res.lagLimit())))

	// The windows due: those the production overlapped that end at least
	// WATERMARK_DELAY (plus a second for the stamps' truncation) before it
	// stopped; every network of every partition has views in each.
	first := p.started.Unix() + 2
	last := stopped.Unix() - watermarkDelay - 1
	parts := keyPartitions(b.o.partitions)
	var due []string
	var deadline time.Time
	for ws := first - mod(first, windowSize); ws+windowSize <= last; ws += windowSize {
		pairs := map[fileKey]bool{}
		for i, cp := range campaignTable() {
			pairs[fileKey{partition: parts[i], start: ws, network: cp.network}] = true
		}
		for k := range pairs {
			due = append(due, outputPath(outDir, topic, k))
		}
		deadline = time.Unix(ws+windowSize+delayLimit+15, 0)
	}
	b.logf("sustain: waiting for %d window files due", len(due))
	for ctx.Err() == nil && time.Now().Before(deadline) {
		walkNew(outDir, time.Now(), seen)
		if allSeen(due, seen) {
			break
		}
		time.Sleep(filePoll)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("consumer shutdown: %w\n%s", err, c.out.tail())
	}
	b.dump(c)
	for _, path := range due {
		if _, ok := seen[path]; !ok {
			res.missing = append(res.missing, strings.TrimPrefix(path, outDir+"/"))
		}
	}
	for path, at := range seen {
		end, err := windowEnd(path)
		if err != nil {
			return nil, err
		}
		res.delays = append(res.delays, at.Sub(end).Seconds())
	}
	slices.Sort(res.delays)
	b.logf("sustain %d/%d: %d window files, delay p50 %.1fs, max %.1fs; %d due files missing", run+1, b.o.sustainRuns,
		len(res.delays), percentile(res.delays, 50), maxOf(res.delays), len(res.missing))
	return res, stopBroker(broker)
}

// waitAssigned waits until the consumer's group is stable with partitions
// assigned, so that the load starts on a consumer that is reading.
func waitAssigned(ctx context.Context, c *child, addr, group string, timeout time.Duration) error {
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" {
			for _, m := range resp.Groups[0].Members {
				if len(m.MemberAssignments.Topics) > 0 {
					return nil
				}
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("consumer exited: %v\n%s", c.err, c.out.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer group %s not stable with an assignment after %v\n%s", group, timeout, c.out.tail())
		}
	}
}

// logEnd is the sum of the partitions' log end offsets.
func logEnd(ctx context.Context, client *kafka.Client, topic string, partitions int) (int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for i := range reqs {
		reqs[i] = kafka.LastOffsetOf(i)
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	var n int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, p.Error)
		}
		n += p.LastOffset
	}
	return n, nil
}

// filePoll is how often the sustained run looks for new window files: the
// resolution of their delays.
const filePoll = 25 * time.Millisecond

// walkNew notes the first time each .parquet file under dir was seen. The
// tree of a minute-long run holds a few dozen files, cheap to walk forty
// times a second.
func walkNew(dir string, now time.Time, seen map[string]time.Time) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return nil
		}
		if _, ok := seen[path]; !ok {
			seen[path] = now
		}
		return nil
	})
}

func allSeen(paths []string, seen map[string]time.Time) bool {
	for _, p := range paths {
		if _, ok := seen[p]; !ok {
			return false
		}
	}
	return true
}

// windowEnd reads a file's window from its minute_timestamp directory.
func windowEnd(path string) (time.Time, error) {
	dir := filepath.Base(filepath.Dir(path))
	v, ok := strings.CutPrefix(dir, "minute_timestamp=")
	if !ok {
		return time.Time{}, fmt.Errorf("%s: not in a minute_timestamp directory", path)
	}
	start, err := time.Parse(minuteLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return start.Add(windowSize * time.Second), nil
}
