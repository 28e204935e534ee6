package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	measure, figure, reference, ratio, target, met string
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// partialNote says how many runs of a set stopped at the cap; what says
// what the figure of those runs covers.
func partialNote(ss []sample, limit time.Duration, what string) string {
	n := 0
	for _, s := range ss {
		if !s.complete {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" — PARTIAL: %d of %d runs stopped at the %v cap, %s", n, len(ss), limit, what)
}

func allComplete(ss []sample) bool {
	for _, s := range ss {
		if !s.complete {
			return false
		}
	}
	return len(ss) > 0
}

func (b *bench) report(w io.Writer, r results, took time.Duration) {
	var rows []row
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	rate := func(s sample) float64 { return s.rate() }
	cpuM := func(s sample) float64 { return s.cpuPerM() }
	rss := func(s sample) float64 { return float64(s.rss) }

	if c := r.catchup; c != nil {
		s := c.set
		tput := pairs(s.cons, s.bare, func(a, b sample) float64 { return a.rate() / b.rate() })
		cpu := pairs(s.cons, s.bare, func(a, b sample) float64 { return a.cpuPerM() / b.cpuPerM() })
		done := allComplete(s.cons)
		var first []float64
		for _, c := range s.cons {
			if c.firstFile > 0 {
				first = append(first, c.firstFile)
			}
		}
		if len(first) > 0 {
			note("Consumer catch-up: the first window file appeared %s s after process start (median, min–max, over %d runs); the first window closes once 70 s of event time (about %s records) are read.",
				spread(first, func(v float64) string { return fmt.Sprintf("%.1f", v) }), len(first), commas(s.spec.perMinute*(windowSize+watermarkDelay)/60))
		}
		rows = append(rows,
			row{
				measure:   fmt.Sprintf("consumer catch-up, %s records pre-loaded (%d partitions), process start → every closable window's file (%d files)", millions(s.spec.records), s.spec.partitions, s.files),
				figure:    spread(each(s.cons, rate), fRate) + " rec/s" + partialNote(s.cons, b.o.cap, "rate over the records read by then"),
				reference: "bare Conn.ReadBatch drain: " + spread(each(s.bare, rate), fRate) + " rec/s",
				ratio:     spread(tput, fRatio),
				target:    "≥ 0.8",
				met:       yesNo(done && median(tput) >= 0.8),
			},
			row{
				measure:   "consumer CPU (user+sys) per million records in that catch-up",
				figure:    spread(each(s.cons, cpuM), f2) + " CPU-s/M",
				reference: "bare drain: " + spread(each(s.bare, cpuM), f2) + " CPU-s/M",
				ratio:     spread(cpu, fRatio),
				target:    "≤ 1.6",
				met:       yesNo(done && median(cpu) <= 1.6),
			},
			row{
				measure:   "consumer peak RSS in that catch-up",
				figure:    spread(each(s.cons, rss), fMiB) + " MiB" + partialNote(s.cons, b.o.cap, "peak over the records read by then"),
				reference: "bare drain: " + spread(each(s.bare, rss), fMiB) + " MiB",
				ratio:     "",
				target:    "≤ 150 MiB",
				met:       yesNo(done && median(each(s.cons, rss)) <= 150<<20),
			})
	}
	if q := r.rss; q != nil {
		small, large := median(each(q.small.cons, rss)), median(each(q.large.cons, rss))
		ratio := large / small
		done := allComplete(q.small.cons) && allComplete(q.large.cons)
		partial := ""
		if !done {
			partial = " — PARTIAL: stopped at the cap, so both read about as much"
		}
		if q.fewer {
			note("The main catch-up did not finish within the cap, so the runs at %s, %s and %s/min were cut to one each (-rss-runs sets them).",
				millions(q.small.spec.records), millions(q.large.spec.records), commas(q.dense.spec.perMinute))
		}
		rows = append(rows, row{
			measure:   fmt.Sprintf("consumer peak RSS, catch-up of %s vs %s records (same density)", millions(q.large.spec.records), millions(q.small.spec.records)),
			figure:    fmt.Sprintf("%s: %s MiB", millions(q.large.spec.records), spread(each(q.large.cons, rss), fMiB)) + partial,
			reference: fmt.Sprintf("%s: %s MiB", millions(q.small.spec.records), spread(each(q.small.cons, rss), fMiB)),
			ratio:     fRatio(ratio),
			target:    "within 10 %",
			met:       yesNo(done && math.Abs(ratio-1) <= 0.1),
		})
		// Every catch-up run that finished is a point: the ids its data
		// holds in open windows at the peak, and the run's peak RSS. A run
		// stopped at the cap may not have reached its data's peak.
		var x, y []float64
		sets := []topicSet{q.small, q.large, q.dense}
		if r.catchup != nil {
			sets = append(sets, r.catchup.set)
		}
		stopped := 0
		for _, s := range sets {
			for _, c := range s.cons {
				if !c.complete {
					stopped++
					continue
				}
				x = append(x, float64(s.model.peakIDs()))
				y = append(y, float64(c.rss))
			}
		}
		fig := "n/a: needs finished catch-ups at two densities"
		if base, slope, ok := fitLine(x, y); ok {
			fig = fmt.Sprintf("%s MiB + %.0f bytes × ids held", fMiB(base), slope)
		}
		if stopped > 0 {
			fig += fmt.Sprintf(" (%d runs left out: stopped at the cap)", stopped)
		}
		rows = append(rows, row{
			measure: "consumer peak RSS as base + bytes per view_id held in open windows",
			figure:  fig,
			reference: fmt.Sprintf("least squares over %d finished catch-up runs; ids held at the peak: %s at %s/min, %s at %s/min",
				len(x), commas(q.small.model.peakIDs()), commas(q.small.spec.perMinute), commas(q.dense.model.peakIDs()), commas(q.dense.spec.perMinute)),
			target: "reported",
			met:    "",
		})
		note("Peak RSS model: for each pre-loaded topic the bench replays the consumer's window rule on the data it generated (per partition, a record joins its one-minute window, then the watermark, the partition's largest end_timestamp minus 10 s, closes every window ending at or before it) and takes the most records the open windows of each partition held at once, summed over partitions: the view_ids the dedup sets must hold at the peak. Each catch-up run gives a point (ids held, peak RSS); a least-squares line over the runs at %s and %s records per minute of event time gives the base (what the consumer needs with no open window: runtime, batch, fetch buffers) and the bytes per id held (dedup set, accumulators, and the GC's headroom over them).",
			commas(q.small.spec.perMinute), commas(q.dense.spec.perMinute))
	}
	if s := r.sustain; s != nil {
		var rates, maxLags, lagRatios, delays []float64
		var samples int
		gauge := true
		var missing []string
		var waited []string
		for _, run := range s.runs {
			rates = append(rates, run.rate())
			maxLags = append(maxLags, float64(run.maxLag()))
			lagRatios = append(lagRatios, float64(run.maxLag())/run.lagLimit())
			delays = append(delays, run.delays...)
			samples += len(run.lags)
			gauge = gauge && run.lagFromGauge
			missing = append(missing, run.missing...)
			if run.aligned > 0 {
				waited = append(waited, fmt.Sprintf("%.1f s", run.aligned.Seconds()))
			}
		}
		slices.Sort(delays)
		limits := make([]float64, len(s.runs))
		for i, run := range s.runs {
			limits[i] = run.lagLimit()
		}
		lagSrc := "the consumer's viewlog_consumer_lag_records gauge, summed over partitions"
		if !gauge {
			lagSrc = "FALLBACK (no viewlog_consumer_lag_records gauge): log end minus the records the consumer has accounted for (viewlog_consumer_records_total); on a new topic read from offset 0 that is log end minus next offset to process. The group's committed offset is no measure of lag here: the consumer commits no further than the first record of its oldest open window, a minute or more behind by design"
		}
		rows = append(rows,
			row{
				measure: fmt.Sprintf("sustained load: producer at PRODUCER_INTERVAL=0 (the load generator setting), default batch size, %v per run, consumer on defaults", s.duration),
				figure:  spread(rates, fRate) + " rec/s",
				target:  "the highest rate it holds",
			},
			row{
				measure:   fmt.Sprintf("sustained: consumer lag, max of the samples taken each second (%d samples in all)", samples),
				figure:    spread(maxLags, func(v float64) string { return commas(int64(v)) }) + " records",
				reference: "2 × CONSUMER_INTERVAL × rate: " + spread(limits, func(v float64) string { return commas(int64(v)) }),
				ratio:     spread(lagRatios, fRatio),
				target:    "< 2 × 5 s × rate",
				met:       yesNo(samples > 0 && median(lagRatios) < 1),
			},
			row{
				measure:   fmt.Sprintf("sustained: window file delay after the window's end (%d files over all runs, %d due files missing)", len(delays), len(missing)),
				figure:    fmt.Sprintf("p50 %.1f s, p99 %.1f s, max %.1f s", percentile(delays, 50), percentile(delays, 99), maxOf(delays)),
				reference: "",
				target:    fmt.Sprintf("every file ≤ %d s", delayLimit),
				met:       yesNo(len(delays) > 0 && len(missing) == 0 && maxOf(delays) <= delayLimit),
			})
		note("Lag source: %s.", lagSrc)
		note("Window delay: first time a poll (every 25 ms) saw the file minus the window's end; the producer stamps end_timestamp with the wall clock. Percentiles over the files of all runs. Files due: every network of every partition for each window that the production overlapped and that ended at least WATERMARK_DELAY + 1 s before the producer stopped.")
		if len(missing) > 0 {
			note("Missing window files: %s.", strings.Join(missing, ", "))
		}
		if len(waited) > 0 {
			note("Sustained runs waited %s before starting the producer, so that a window closes while it runs.", strings.Join(waited, ", "))
		}
	}
	if g := r.gobench; g != nil {
		hr := row{measure: "decode + validate + dedup + aggregate, Go benchmark (BenchmarkHotPath), one core", target: "≥ 4 M rec/s, 0 allocs per record"}
		if len(g.hot) == 0 {
			hr.figure = "n/a (BenchmarkHotPath missing)"
		} else {
			var recs, allocs []float64
			for _, h := range g.hot {
				recs = append(recs, h.recordsPerSec)
				allocs = append(allocs, h.allocsPerRecord)
			}
			hr.figure = spread(recs, fRate) + " rec/s, " + spread(allocs, func(v float64) string { return fmt.Sprintf("%.3g", v) }) + " allocs/record"
			hr.met = yesNo(median(recs) >= 4e6 && median(allocs) == 0)
			note("BenchmarkHotPath: go test -bench ^BenchmarkHotPath$ -benchmem -cpu 1 -count %d ./internal/consumer; allocations per record from %s.", b.o.benchCount, g.allocsFrom)
		}
		rows = append(rows, hr)
	}
	if p := r.producer; p != nil {
		tput := pairs(p.prod, p.ref, func(a, b sample) float64 { return a.rate() / b.rate() })
		cpu := pairs(p.prod, p.ref, func(a, b sample) float64 { return a.cpuPerM() / b.cpuPerM() })
		done := allComplete(p.prod)
		rows = append(rows,
			row{
				measure:   fmt.Sprintf("producer -count %s, PRODUCER_INTERVAL=0 (the load generator setting), default PRODUCER_BATCH_SIZE, fresh broker", millions(b.o.producerRecords)),
				figure:    spread(each(p.prod, rate), fRate) + " rec/s" + partialNote(p.prod, b.o.producerCap, "rate over the records delivered by then"),
				reference: "franz-go, same number of pre-generated records: " + spread(each(p.ref, rate), fRate) + " rec/s",
				ratio:     spread(tput, fRatio),
				target:    "≥ 0.6",
				met:       yesNo(done && median(tput) >= 0.6),
			},
			row{
				measure:   "producer CPU (user+sys) per million records",
				figure:    spread(each(p.prod, cpuM), f2) + " CPU-s/M",
				reference: "franz-go: " + spread(each(p.ref, cpuM), f2) + " CPU-s/M",
				ratio:     spread(cpu, fRatio),
				target:    "≤ 2 CPU-s/M",
				met:       yesNo(done && median(each(p.prod, cpuM)) <= 2),
			})
		note("Producer reference: this program's -kgo-produce mode, franz-go with acks=all, uncompressed (the product's writer default), keyed by campaign_id with franz-go's murmur2 key partitioner (the Java client's, like kafka-go's Murmur2Balancer), 1 MiB batches; its records are generated in memory before its clock starts, and its time and CPU cover the client's start and the sending.")
	}

	fmt.Fprintf(w, "\n## viewlog bench\n\nMedians of %d runs (min–max); ratios taken within each run, then the median. Products on their default settings unless the row says otherwise.\n\n", b.o.runs)
	fmt.Fprintln(w, "| measure | figure (median, min–max) | reference | ratio | target | met? |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.measure, r.figure, r.reference, r.ratio, r.target, r.met)
	}
	if g := r.gobench; g != nil {
		fmt.Fprintf(w, "\nGo benchmarks (go test -run '^$' -bench . -benchmem -count %d ./internal/record ./internal/window ./internal/consumer):\n\n```\n", b.o.benchCount)
		for _, l := range g.lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "```")
	}

	note("Machine: %d CPUs; load average %s before, %s after; %s in all.", nproc(), b.loadavg[0], b.loadavg[len(b.loadavg)-1], took.Round(time.Second))
	note("Settings that differ from the defaults: PRODUCER_INTERVAL=0 for the producer runs (the load generator setting: the default 1 s pause between batches of 10 would measure the pause). The bench's own addresses and paths: KAFKA_SERVER (a development broker on a free port, fresh per measurement set), TOPIC_NAME (a topic per measurement), CONSUMER_GROUP_ID (a new group per run, so each starts from the beginning), CAMPAIGNS_CSV_PATH (the original's 14 campaigns in a temporary folder), OUTPUT_DIR (a temporary folder per run), METRICS_ADDR (a free 127.0.0.1 port, read for the lag and for runs stopped at the cap). Nothing else is set: CONSUMER_INTERVAL=5, MAX_BATCH_RECORDS, PRODUCER_BATCH_SIZE=10 and the rest are the defaults.")
	if r.catchup != nil || r.rss != nil {
		note("Pre-load: franz-go, uncompressed, each record to the partition kafka-go's Murmur2Balancer gives its key (campaign_id), as the producer sends it; valid views in the product's JSON format (UUIDv4 view_id, campaigns 10–140, durations 1–300 s), end_timestamp from the pre-load's own event clock advancing steadily from %s at %s records per minute (%s views/s). Bare drain: this program's -bare-drain mode, one kafka-go Conn and ReadBatch loop (1 MiB fetches, ReadMessage) per partition, counting records, timed from its process start to its exit.",
			eventStart().Format(time.RFC3339), commas(b.o.density), commas(b.o.density/60))
		note("Consumer runs: done when the last expected file appeared (polled every %v); then SIGTERM, and CPU (user+sys) from wait4. Peak RSS is the process's VmHWM read just before the SIGTERM (the bare drain reads its own at its end): wait4's ru_maxrss starts from the address space the child shared with the bench before exec, so it reports at least the bench's size. A run not done within -cap %v is stopped there; its rate is the records it had accounted for (viewlog_consumer_records_total) over its time, and its row does not meet the target.", b.o.poll, b.o.cap)
	}
	fmt.Fprintln(w, "\nNotes:")
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

func maxOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Max(v)
}
