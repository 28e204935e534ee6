// Command bench measures the pipeline's throughput and resource use against
// a local broker process (cmd/devbroker), with the real binaries:
//
//   - producer: records/s of `producer -count N` at PRODUCER_INTERVAL=0;
//   - consumer: records/s, CPU seconds per million records and peak RSS of
//     the consumer draining a pre-loaded topic with a new consumer group;
//   - bare drain: the same figures for a plain kafka-go Conn.ReadBatch loop
//     over the same topic that only counts records, run as a subprocess
//     (this program with -bare-drain), and the consumer/bare ratios.
//
// Every figure is the median of -runs runs; ratios are medians of the
// per-run ratios, the consumer and the bare drain of a run being measured
// back to back on the same broker. Run it from the module root:
//
//	go run ./scripts/bench [-runs 5] [-records 2000000] [-producer-records 200000]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	runs            int
	records         int64
	producerRecords int64
	producerBatch   int
	partitions      int
	timeout         time.Duration
	verbose         bool
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "repetitions of each measurement; medians are reported")
	flag.Int64Var(&o.records, "records", 2_000_000, "records pre-loaded into the topic the consumer and the bare drain read")
	flag.Int64Var(&o.producerRecords, "producer-records", 200_000, "records the producer sends per run (-count)")
	flag.IntVar(&o.producerBatch, "producer-batch", 1000, "PRODUCER_BATCH_SIZE for the producer runs and the pre-load")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the broker's topics (DEVBROKER_PARTITIONS)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on any single wait (a build, a run, a drain)")
	flag.BoolVar(&o.verbose, "v", false, "print each child's last output lines after its run")
	bare := flag.Bool("bare-drain", false, "internal: drain -topic on -broker with Conn.ReadBatch, print the count as JSON and exit")
	broker := flag.String("broker", "", "internal, with -bare-drain: broker address")
	topic := flag.String("topic", "", "internal, with -bare-drain: topic")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *bare {
		if err := runBareDrain(ctx, *broker, *topic, o.timeout); err != nil {
			fmt.Fprintln(os.Stderr, "bare drain:", err)
			os.Exit(1)
		}
		return
	}
	if o.runs < 1 || o.records < 1 || o.producerRecords < 1 || o.producerBatch < 1 || o.partitions < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs, -records, -producer-records, -producer-batch and -partitions must be at least 1")
		os.Exit(2)
	}
	err := run(ctx, o)
	// Whatever happened, no child outlives the bench.
	procs.stopAll(5 * time.Second)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sample is one measured run of one program.
type sample struct {
	records int64
	wall    float64 // seconds from process start to done
	cpu     float64 // CPU seconds of the process, user+system
	rss     int64   // peak resident set, bytes
	// Consumer only: seconds from process start to the first records read.
	first float64
	// CPU seconds the broker spent while this run lasted.
	brokerCPU float64
}

func (s sample) rate() float64       { return float64(s.records) / s.wall }
func (s sample) cpuPerM() float64    { return s.cpu / (float64(s.records) / 1e6) }
func (s sample) brokerPerM() float64 { return s.brokerCPU / (float64(s.records) / 1e6) }

type bench struct {
	o       options
	dir     string // temporary directory: binaries, campaigns.csv, outputs
	root    string // module root
	self    string // this program, for the bare drain subprocess
	logf    func(format string, args ...any)
	loadavg []string
}

func run(ctx context.Context, o options) error {
	b := &bench{o: o, logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }}
	b.loadavg = append(b.loadavg, loadavg())
	var err error
	if b.root, err = moduleRoot(ctx); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "viewlog-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	// Children write into dir; stop them before it is removed.
	defer procs.stopAll(5 * time.Second)

	began := time.Now()
	if err := b.build(ctx); err != nil {
		return err
	}
	prod, err := b.producerRuns(ctx)
	if err != nil {
		return err
	}
	cons, bare, preload, err := b.drainRuns(ctx)
	if err != nil {
		return err
	}
	b.loadavg = append(b.loadavg, loadavg())
	b.report(os.Stdout, prod, cons, bare, preload, time.Since(began))
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module: run from the repository root")
	}
	return filepath.Dir(mod), nil
}

// build compiles the three binaries once into the temporary directory.
func (b *bench) build(ctx context.Context) error {
	b.logf("building devbroker, producer, consumer")
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.dir+string(os.PathSeparator), "./cmd/devbroker", "./cmd/producer", "./cmd/consumer")
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

func (b *bench) bin(name string) string { return filepath.Join(b.dir, name) }

// startBroker runs a fresh development broker and waits until it listens.
func (b *bench) startBroker(ctx context.Context) (*child, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	c, err := start("devbroker", b.bin("devbroker"), nil, map[string]string{
		"DEVBROKER_ADDR":       addr,
		"DEVBROKER_PARTITIONS": strconv.Itoa(b.o.partitions),
		"LOG_LEVEL":            "WARN",
	}, nil)
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, c, addr, 30*time.Second); err != nil {
		_ = c.stop(5 * time.Second)
		return nil, "", err
	}
	return c, addr, nil
}

// produce runs the producer binary until it has sent count records to topic
// and checks that the topic grew by that many.
func (b *bench) produce(ctx context.Context, addr, topic string, count int64) (sample, error) {
	before, _, err := topicEnd(ctx, addr, topic)
	if err != nil {
		before = 0 // the topic does not exist yet
	}
	p, err := start("producer", b.bin("producer"), []string{"-count", strconv.FormatInt(count, 10)}, map[string]string{
		"KAFKA_SERVER":        addr,
		"TOPIC_NAME":          topic,
		"PRODUCER_INTERVAL":   "0",
		"PRODUCER_BATCH_SIZE": strconv.Itoa(b.o.producerBatch),
		"LOG_LEVEL":           "INFO",
	}, nil)
	if err != nil {
		return sample{}, err
	}
	if err := p.wait(ctx, b.o.timeout); err != nil {
		_ = p.stop(5 * time.Second)
		return sample{}, err
	}
	b.dump(p)
	s := sample{records: count, wall: p.exited.Sub(p.started).Seconds(), cpu: p.cpuSeconds(), rss: p.maxRSS()}
	var stopped string
	for _, l := range p.out.lines() {
		if strings.Contains(l, `msg="producer stopped"`) {
			stopped = l
		}
	}
	if sent, failed := logInt(stopped, "sent"), logInt(stopped, "failed"); sent != count || failed != 0 {
		return s, fmt.Errorf("producer sent %d and failed %d of %d records\n%s", sent, failed, count, p.out.tail())
	}
	after, _, err := topicEnd(ctx, addr, topic)
	if err != nil {
		return s, err
	}
	if after-before != count {
		return s, fmt.Errorf("topic %s grew by %d records, want %d", topic, after-before, count)
	}
	return s, nil
}

// producerRuns measures the producer, each run against a fresh broker.
func (b *bench) producerRuns(ctx context.Context) ([]sample, error) {
	var out []sample
	for i := range b.o.runs {
		broker, addr, err := b.startBroker(ctx)
		if err != nil {
			return nil, err
		}
		s, err := b.produce(ctx, addr, "bench-producer", b.o.producerRecords)
		if stopErr := broker.stop(10 * time.Second); err == nil && stopErr != nil {
			err = fmt.Errorf("devbroker: %w", stopErr)
		}
		if err != nil {
			return nil, err
		}
		b.logf("producer run %d/%d: %s records in %.2fs = %s rec/s, %.2f CPU-s/M, %s peak RSS",
			i+1, b.o.runs, commas(s.records), s.wall, commas(int64(s.rate())), s.cpuPerM(), mib(s.rss))
		out = append(out, s)
	}
	return out, nil
}

// drainRuns pre-loads one topic, then measures the consumer and the bare
// drain on it, alternately, runs times each.
func (b *bench) drainRuns(ctx context.Context) (cons, bare []sample, preload sample, err error) {
	broker, addr, err := b.startBroker(ctx)
	if err != nil {
		return nil, nil, preload, err
	}
	defer broker.stop(10 * time.Second) //nolint:errcheck // best effort at the end
	const topic = "bench-drain"
	b.logf("pre-loading %s records into %s with the producer", commas(b.o.records), topic)
	if preload, err = b.produce(ctx, addr, topic, b.o.records); err != nil {
		return nil, nil, preload, fmt.Errorf("pre-load: %w", err)
	}
	n, parts, err := topicEnd(ctx, addr, topic)
	if err != nil {
		return nil, nil, preload, err
	}
	b.logf("pre-loaded %s records in %d partitions in %.1fs (%s rec/s); broker RSS now %s",
		commas(n), parts, preload.wall, commas(int64(preload.rate())), mibLive(broker.cmd.Process.Pid))

	src, err := os.ReadFile(filepath.Join(b.root, "data", "log_data", "input_data", "campaigns.csv"))
	if err != nil {
		return nil, nil, preload, err
	}
	campaignsPath := filepath.Join(b.dir, "campaigns.csv")
	if err := os.WriteFile(campaignsPath, src, 0o644); err != nil {
		return nil, nil, preload, err
	}

	for i := range b.o.runs {
		c, err := b.consume(ctx, broker, addr, topic, n, campaignsPath, i)
		if err != nil {
			return nil, nil, preload, fmt.Errorf("consumer run %d: %w", i+1, err)
		}
		b.logf("consumer run %d/%d: %s records in %.2fs = %s rec/s (first record after %.2fs), %.2f CPU-s/M, %s peak RSS, broker %.2f CPU-s/M",
			i+1, b.o.runs, commas(c.records), c.wall, commas(int64(c.rate())), c.first, c.cpuPerM(), mib(c.rss), c.brokerPerM())
		cons = append(cons, c)

		d, err := b.bareDrain(ctx, broker, addr, topic, n)
		if err != nil {
			return nil, nil, preload, fmt.Errorf("bare drain run %d: %w", i+1, err)
		}
		b.logf("bare drain run %d/%d: %s records in %.2fs = %s rec/s, %.2f CPU-s/M, %s peak RSS, broker %.2f CPU-s/M",
			i+1, b.o.runs, commas(d.records), d.wall, commas(int64(d.rate())), d.cpuPerM(), mib(d.rss), d.brokerPerM())
		bare = append(bare, d)
	}
	return cons, bare, preload, nil
}

// consume runs the consumer binary with a new group until it reports every
// record of the topic read, and measures it just before stopping it.
func (b *bench) consume(ctx context.Context, broker *child, addr, topic string, records int64, campaignsPath string, run int) (sample, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return sample{}, err
	}
	outDir := filepath.Join(b.dir, fmt.Sprintf("output-%d", run))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return sample{}, err
	}
	// The consumer logs every batch with its running total; the line that
	// reaches the topic's size is the moment every record has been read.
	var mu sync.Mutex
	var firstAt time.Time
	allRead := make(chan time.Time, 1)
	onLine := func(line string) {
		n := logInt(line, "total.read")
		if n <= 0 {
			return
		}
		now := time.Now()
		mu.Lock()
		if firstAt.IsZero() {
			firstAt = now
		}
		mu.Unlock()
		if n >= records {
			select {
			case allRead <- now:
			default:
			}
		}
	}
	brokerPid := broker.cmd.Process.Pid
	brokerBefore, err := procCPU(brokerPid)
	if err != nil {
		return sample{}, err
	}
	c, err := start("consumer", b.bin("consumer"), nil, map[string]string{
		"KAFKA_SERVER":       addr,
		"TOPIC_NAME":         topic,
		"CONSUMER_GROUP_ID":  fmt.Sprintf("bench-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), run),
		"STARTING_OFFSETS":   "earliest",
		"CONSUMER_INTERVAL":  "100ms",
		"CAMPAIGNS_CSV_PATH": campaignsPath,
		"OUTPUT_DIR":         outDir,
		"METRICS_ADDR":       metricsAddr,
		"LOG_LEVEL":          "INFO",
	}, onLine)
	if err != nil {
		return sample{}, err
	}
	defer c.stop(15 * time.Second) //nolint:errcheck // on the error paths only; see below
	timer := time.NewTimer(b.o.timeout)
	defer timer.Stop()
	var doneAt time.Time
	select {
	case doneAt = <-allRead:
	case <-c.done:
		return sample{}, fmt.Errorf("consumer exited before reading every record: %v\n%s", c.err, c.out.tail())
	case <-ctx.Done():
		return sample{}, ctx.Err()
	case <-timer.C:
		return sample{}, fmt.Errorf("consumer did not read %d records within %v\n%s", records, b.o.timeout, c.out.tail())
	}
	pid := c.cmd.Process.Pid
	cpu, err := procCPU(pid)
	if err != nil {
		return sample{}, err
	}
	rss, err := procHWM(pid)
	if err != nil {
		return sample{}, err
	}
	brokerAfter, err := procCPU(brokerPid)
	if err != nil {
		return sample{}, err
	}
	mu.Lock()
	first := firstAt.Sub(c.started).Seconds()
	mu.Unlock()
	s := sample{records: records, wall: doneAt.Sub(c.started).Seconds(), cpu: cpu, rss: rss, first: first, brokerCPU: brokerAfter - brokerBefore}

	// Cross-check with the consumer's own metrics (after the CPU reading,
	// so that the scrape is not counted).
	byOutcome, err := scrapeRecords(ctx, metricsAddr)
	if err != nil {
		return s, err
	}
	var read float64
	for _, v := range byOutcome {
		read += v
	}
	if int64(read) != records {
		return s, fmt.Errorf("viewlog_consumer_records_total sums to %.0f, want %d", read, records)
	}
	if agg := byOutcome["aggregated"]; int64(agg) != records {
		b.logf("warning: only %.0f of %d records aggregated: %v", agg, records, byOutcome)
	}
	if err := c.stop(15 * time.Second); err != nil {
		return s, fmt.Errorf("consumer shutdown: %w\n%s", err, c.out.tail())
	}
	b.dump(c)
	return s, nil
}

// bareDrain runs this program with -bare-drain as a subprocess, so that its
// CPU time and peak RSS are measured the same way as the consumer's.
func (b *bench) bareDrain(ctx context.Context, broker *child, addr, topic string, records int64) (sample, error) {
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
	brokerPid := broker.cmd.Process.Pid
	brokerBefore, err := procCPU(brokerPid)
	if err != nil {
		return sample{}, err
	}
	d, err := start("bare drain", b.self, []string{"-bare-drain", "-broker", addr, "-topic", topic, "-timeout", b.o.timeout.String()}, nil, onLine)
	if err != nil {
		return sample{}, err
	}
	if err := d.wait(ctx, b.o.timeout+10*time.Second); err != nil {
		_ = d.stop(5 * time.Second)
		return sample{}, err
	}
	brokerAfter, err := procCPU(brokerPid)
	if err != nil {
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
	return sample{
		records:   res.Records,
		wall:      d.exited.Sub(d.started).Seconds(),
		cpu:       d.cpuSeconds(),
		rss:       d.maxRSS(),
		brokerCPU: brokerAfter - brokerBefore,
	}, nil
}

// scrapeRecords reads viewlog_consumer_records_total from the consumer's
// metrics endpoint, summed by outcome.
func scrapeRecords(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape consumer metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape consumer metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "viewlog_consumer_records_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		outcome := "unknown"
		for l := range strings.SplitSeq(labels, ",") {
			if o, ok := strings.CutPrefix(l, `outcome="`); ok {
				outcome = strings.TrimSuffix(o, `"`)
			}
		}
		out[outcome] += v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no viewlog_consumer_records_total in the consumer's metrics")
	}
	return out, nil
}

// logInt returns the integer value of key=N in a logfmt line, or -1.
func logInt(line, key string) int64 {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return -1
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// dump prints a child's last output lines with -v.
func (b *bench) dump(c *child) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "--- %s ---\n%s\n", c.name, strings.Join(c.out.lines(), "\n"))
	}
}

func (b *bench) report(w io.Writer, prod, cons, bare []sample, preload sample, took time.Duration) {
	med := func(ss []sample, f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		return median(v)
	}
	runs := func(ss []sample) string {
		r := make([]string, len(ss))
		for i, s := range ss {
			r[i] = commas(int64(s.rate()))
		}
		return strings.Join(r, " ")
	}
	rate := func(s sample) float64 { return s.rate() }
	cpu := func(s sample) float64 { return s.cpuPerM() }
	rss := func(s sample) float64 { return float64(s.rss) }
	line := func(name string, ss []sample) {
		fmt.Fprintf(w, "%-40s median %10s rec/s %8.2f CPU-s/M %8s peak RSS   (runs: %s)\n",
			name, commas(int64(med(ss, rate))), med(ss, cpu), mib(int64(med(ss, rss))), runs(ss))
	}
	// Ratios per run: the consumer and the bare drain of a run ran back to
	// back, so they saw the same machine load.
	tput := make([]float64, len(cons))
	cpuRatio := make([]float64, len(cons))
	for i := range cons {
		tput[i] = cons[i].rate() / bare[i].rate()
		cpuRatio[i] = cons[i].cpuPerM() / bare[i].cpuPerM()
	}

	fmt.Fprintf(w, "\nviewlog bench: medians of %d runs; %d CPUs, load average %s at start, %s at end; %s in all\n",
		b.o.runs, runtime.NumCPU(), b.loadavg[0], b.loadavg[len(b.loadavg)-1], took.Round(time.Second))
	fmt.Fprintln(w, strings.Repeat("-", 120))
	line(fmt.Sprintf("producer (interval 0, batch %d)", b.o.producerBatch), prod)
	line(fmt.Sprintf("consumer drain %s records", commas(b.o.records)), cons)
	line("bare drain (Conn.ReadBatch)", bare)
	fmt.Fprintf(w, "%-40s throughput %.2f   CPU per record %.2f   (medians of per-run ratios)\n",
		"ratio consumer/bare", median(tput), median(cpuRatio))
	fmt.Fprintln(w, strings.Repeat("-", 120))
	first := func(s sample) float64 { return s.first }
	steady := func(s sample) float64 { return float64(s.records) / (s.wall - s.first) }
	broker := func(s sample) float64 { return s.brokerPerM() }
	fmt.Fprintf(w, "consumer: first records read %.2fs after start; %s rec/s from then to the last record\n",
		med(cons, first), commas(int64(med(cons, steady))))
	fmt.Fprintf(w, "broker CPU-s/M while serving: consumer %.2f, bare drain %.2f\n", med(cons, broker), med(bare, broker))
	fmt.Fprintf(w, "producer runs: %s records each, fresh broker per run; pre-load of the drain topic: %s rec/s\n",
		commas(b.o.producerRecords), commas(int64(preload.rate())))
	fmt.Fprintln(w, "CPU-s/M: CPU seconds (user+system, all threads) per million records. Shared machine: figures vary between runs.")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// mibLive is the current resident set of a live process, for information.
func mibLive(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return mib(kb * 1024)
			}
		}
	}
	return "?"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
