// Command bench measures the pipeline against the targets of its
// performance work, with the real binaries built from this tree, on their
// default settings, against a development broker process (cmd/devbroker):
//
//  1. consumer catch-up: a topic pre-loaded with -records valid views whose
//     event time advances steadily (-density records per minute of event
//     time), read by the consumer with a new group; timed from process
//     start until every window that the data closes has its file. The
//     reference is a bare kafka-go Conn.ReadBatch drain of the same topic
//     in the same run (this program with -bare-drain), also timed from
//     process start. Records/s, CPU-s per million and their ratios.
//  2. the consumer's peak RSS in that catch-up, at -rss-small and
//     -rss-large records too, and fitted as a base plus bytes per view_id
//     held in open windows, with a second density (-density2).
//  3. sustained load: the producer as a load generator
//     (PRODUCER_INTERVAL=0) for -sustain, the consumer keeping up: its lag
//     each second and each window file's delay after the window's end.
//  4. the Go benchmarks of the hot path (go test -bench).
//  5. the producer sending -producer-records records to a fresh broker,
//     against a franz-go producer sending as many pre-generated records
//     (this program with -kgo-produce).
//
// A run of the product that has not finished within -cap is stopped and
// reported as partial: its rate over what it did by then, marked, and the
// target not met. Every figure is the median of -runs runs, with min–max;
// ratios are taken pair by pair within a run. Progress goes to stderr, the
// table to stdout. Run it from the module root:
//
//	go run ./scripts/bench            # everything, about 10 minutes
//	go run ./scripts/bench -quick     # smaller sizes and shorter runs
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	runs            int
	records         int64
	density         int64
	rssSmall        int64
	rssLarge        int64
	rssRuns         int
	sustainRuns     int
	density2        int64
	density2Records int64
	sustain         time.Duration
	producerRecords int64
	partitions      int
	cap             time.Duration
	producerCap     time.Duration
	benchCount      int
	poll            time.Duration
	skip            map[string]bool
	timeout         time.Duration
	verbose         bool
}

// sections are the parts of the bench, in the order they run; -skip takes
// their names.
func sections() []string { return []string{"gobench", "catchup", "rss", "sustain", "producer"} }

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "repetitions of each measurement; medians are reported")
	flag.Int64Var(&o.records, "records", 10_000_000, "records pre-loaded for the catch-up measurement")
	flag.Int64Var(&o.density, "density", 100_000, "records per minute of event time in the pre-loaded topics")
	flag.Int64Var(&o.rssSmall, "rss-small", 5_000_000, "smaller catch-up size for the peak RSS comparison")
	flag.Int64Var(&o.rssLarge, "rss-large", 20_000_000, "larger catch-up size for the peak RSS comparison")
	flag.IntVar(&o.sustainRuns, "sustain-runs", 0, "sustained-load runs (0: as many as -runs)")
	flag.IntVar(&o.rssRuns, "rss-runs", 0, "runs at -rss-small, -rss-large and -density2 (0: as many as -runs, or 1 if the main catch-up did not finish within -cap)")
	flag.Int64Var(&o.density2, "density2", 400_000, "second event-time density, records per minute, for the RSS fit")
	flag.Int64Var(&o.density2Records, "density2-records", 5_000_000, "records pre-loaded at -density2")
	flag.DurationVar(&o.sustain, "sustain", 60*time.Second, "how long the producer runs in the sustained-load measurement")
	flag.Int64Var(&o.producerRecords, "producer-records", 2_000_000, "records the producer sends per run (-count)")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the topics")
	flag.DurationVar(&o.cap, "cap", 40*time.Second, "longest a consumer catch-up run may take before it is stopped and reported as partial")
	flag.DurationVar(&o.producerCap, "producer-cap", 15*time.Second, "longest a producer run may take before it is stopped and reported as partial")
	flag.IntVar(&o.benchCount, "bench-count", 5, "go test -count for the Go benchmarks")
	flag.DurationVar(&o.poll, "poll", 50*time.Millisecond, "how often the catch-up checks for the expected output files")
	skip := flag.String("skip", "", "comma-separated sections to leave out: "+strings.Join(sections(), ", "))
	quick := flag.Bool("quick", false, "smaller defaults for a quick run: 2M records, RSS at 1M and 4M, 1 run of each RSS size, one 40 s run of sustained load, 200k producer records, 20 s and 10 s caps, 1 count of Go benchmarks (flags given explicitly win)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on any single wait (a build, a pre-load, a child's exit)")
	flag.BoolVar(&o.verbose, "v", false, "print each child's last output lines after its run")
	bare := flag.Bool("bare-drain", false, "internal: drain -topic on -broker with Conn.ReadBatch, print the count as JSON and exit")
	ref := flag.Bool("kgo-produce", false, "internal: send -count pre-generated records to -topic on -broker with franz-go, print the timing as JSON and exit")
	broker := flag.String("broker", "", "internal: broker address")
	topic := flag.String("topic", "", "internal: topic")
	count := flag.Int64("count", 0, "internal, with -kgo-produce: records to send")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case *bare:
		if err := runBareDrain(ctx, *broker, *topic, o.timeout); err != nil {
			fmt.Fprintln(os.Stderr, "bare drain:", err)
			os.Exit(1)
		}
		return
	case *ref:
		if err := runReferenceProducer(ctx, *broker, *topic, *count); err != nil {
			fmt.Fprintln(os.Stderr, "reference producer:", err)
			os.Exit(1)
		}
		return
	}

	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quickDefaults(&o, set)
	}
	if o.sustainRuns == 0 {
		o.sustainRuns = o.runs
	}
	o.skip = map[string]bool{}
	for s := range strings.SplitSeq(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
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

func quickDefaults(o *options, set map[string]bool) {
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	def("records", func() { o.records = 2_000_000 })
	def("rss-small", func() { o.rssSmall = 1_000_000 })
	def("rss-large", func() { o.rssLarge = 4_000_000 })
	def("rss-runs", func() { o.rssRuns = 1 })
	def("density2-records", func() { o.density2Records = 1_000_000 })
	def("sustain", func() { o.sustain = 40 * time.Second })
	def("sustain-runs", func() { o.sustainRuns = 1 })
	def("producer-records", func() { o.producerRecords = 200_000 })
	def("cap", func() { o.cap = 20 * time.Second })
	def("producer-cap", func() { o.producerCap = 10 * time.Second })
	def("bench-count", func() { o.benchCount = 1 })
}

func (o options) validate() error {
	var errs []error
	if o.runs < 1 || o.rssRuns < 0 || o.sustainRuns < 1 || o.benchCount < 1 {
		errs = append(errs, errors.New("-runs and -bench-count must be at least 1, -rss-runs not negative"))
	}
	if o.records < 1 || o.rssSmall < 1 || o.rssLarge < 1 || o.density2Records < 1 || o.producerRecords < 1 {
		errs = append(errs, errors.New("record counts must be at least 1"))
	}
	if o.density < 1 || o.density2 < 1 {
		errs = append(errs, errors.New("-density and -density2 must be at least 1 record per minute"))
	}
	if o.partitions < 1 {
		errs = append(errs, errors.New("-partitions must be at least 1"))
	}
	if o.sustain < 15*time.Second {
		errs = append(errs, errors.New("-sustain must be at least 15s: a window must close while the producer runs"))
	}
	if o.cap <= 0 || o.producerCap <= 0 || o.poll <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("-cap, -producer-cap, -poll and -timeout must be positive"))
	}
	for s := range o.skip {
		if !slices.Contains(sections(), s) {
			errs = append(errs, fmt.Errorf("-skip %q: not one of %s", s, strings.Join(sections(), ", ")))
		}
	}
	return errors.Join(errs...)
}

type bench struct {
	o       options
	dir     string // temporary directory: binaries, campaigns.csv, outputs
	root    string // module root
	self    string // this program, for its subprocess modes
	loadavg []string
	began   time.Time
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %5.0fs: "+format+"\n", append([]any{time.Since(b.began).Seconds()}, args...)...)
}

// results is everything the report prints; a nil part was skipped.
type results struct {
	gobench  *goBenchResult
	catchup  *catchupResult
	rss      *rssResult
	sustain  *sustainResult
	producer *producerResult
}

func run(ctx context.Context, o options) error {
	b := &bench{o: o, began: time.Now()}
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

	if err := b.build(ctx); err != nil {
		return err
	}
	if err := os.WriteFile(b.campaignsPath(), []byte(campaignsCSV()), 0o644); err != nil {
		return err
	}
	var r results
	if !o.skip["gobench"] {
		if r.gobench, err = b.goBenchmarks(ctx); err != nil {
			return fmt.Errorf("go benchmarks: %w", err)
		}
	}
	if !o.skip["catchup"] {
		if r.catchup, err = b.catchupMain(ctx); err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
	}
	if !o.skip["rss"] {
		if r.rss, err = b.rssRuns(ctx, r.catchup); err != nil {
			return fmt.Errorf("peak RSS: %w", err)
		}
	}
	if !o.skip["sustain"] {
		if r.sustain, err = b.sustained(ctx); err != nil {
			return fmt.Errorf("sustained load: %w", err)
		}
	}
	if !o.skip["producer"] {
		if r.producer, err = b.producerRuns(ctx); err != nil {
			return fmt.Errorf("producer: %w", err)
		}
	}
	b.loadavg = append(b.loadavg, loadavg())
	b.report(os.Stdout, r, time.Since(b.began))
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

// build compiles the three binaries of this tree once into the temporary
// directory, as users build them.
func (b *bench) build(ctx context.Context) error {
	b.logf("building devbroker, producer, consumer from %s", b.root)
	c, err := start("go build", "go", []string{"build", "-o", b.dir + string(os.PathSeparator), "./cmd/devbroker", "./cmd/producer", "./cmd/consumer"},
		os.Environ(), nil, b.root)
	if err != nil {
		return err
	}
	return c.wait(ctx, b.o.timeout)
}

func (b *bench) bin(name string) string { return filepath.Join(b.dir, name) }

func (b *bench) campaignsPath() string { return filepath.Join(b.dir, "campaigns.csv") }

// startBroker runs a fresh development broker on a free port and waits
// until it listens.
func (b *bench) startBroker(ctx context.Context) (*child, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	c, err := start("devbroker", b.bin("devbroker"), nil, childEnv(map[string]string{
		"DEVBROKER_ADDR":       addr,
		"DEVBROKER_PARTITIONS": strconv.Itoa(b.o.partitions),
		"LOG_LEVEL":            "WARN",
	}), nil, "")
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, c, addr, 30*time.Second); err != nil {
		_ = c.stop(5 * time.Second)
		return nil, "", err
	}
	return c, addr, nil
}

// stopBroker stops a broker and reports an unclean exit.
func stopBroker(c *child) error {
	if err := c.stop(10 * time.Second); err != nil {
		return fmt.Errorf("devbroker: %w", err)
	}
	return nil
}

// dump prints a child's last output lines with -v.
func (b *bench) dump(c *child) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "--- %s ---\n%s\n", c.name, strings.Join(c.out.lines(), "\n"))
	}
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

func nproc() int { return runtime.NumCPU() }
