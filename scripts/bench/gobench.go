package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hotPathBench is the Go benchmark behind the hot-path target.
const hotPathBench = "BenchmarkHotPath"

type goBenchResult struct {
	lines []string // the benchmark result lines, as go test printed them
	// hot holds BenchmarkHotPath's runs; nil if the benchmark does not
	// exist.
	hot []hotPathRun
	// allocsFrom says where allocations per record came from.
	allocsFrom string
}

type hotPathRun struct {
	recordsPerSec   float64
	allocsPerRecord float64
}

// goBenchmarks is measurement 4: the Go benchmarks of the hot-path
// packages, then BenchmarkHotPath alone on one core.
func (b *bench) goBenchmarks(ctx context.Context) (*goBenchResult, error) {
	count := strconv.Itoa(b.o.benchCount)
	pkgs := []string{"./internal/record", "./internal/window", "./internal/consumer"}
	b.logf("gobench: go test -bench . -benchmem -count %s %s", count, strings.Join(pkgs, " "))
	out, err := b.goTest(ctx, append([]string{"test", "-p", "1", "-run", "^$", "-bench", ".", "-benchmem", "-count", count,
		"-skip", "^" + hotPathBench + "$"}, pkgs...))
	if err != nil {
		return nil, err
	}
	res := &goBenchResult{}
	for _, l := range out {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg: ") {
			res.lines = append(res.lines, l)
		}
	}
	list, err := b.goTest(ctx, []string{"test", "-list", "^" + hotPathBench + "$", "./internal/consumer"})
	if err != nil {
		return nil, err
	}
	if !slicesContains(list, hotPathBench) {
		b.logf("gobench: %s does not exist in ./internal/consumer", hotPathBench)
		return res, nil
	}
	b.logf("gobench: go test -bench ^%s$ -benchmem -cpu 1 -count %s ./internal/consumer", hotPathBench, count)
	out, err = b.goTest(ctx, []string{"test", "-run", "^$", "-bench", "^" + hotPathBench + "$", "-benchmem", "-cpu", "1", "-count", count, "./internal/consumer"})
	if err != nil {
		return nil, err
	}
	for _, l := range out {
		if !strings.HasPrefix(l, hotPathBench) {
			continue
		}
		res.lines = append(res.lines, l)
		m := benchMetrics(l)
		r := hotPathRun{recordsPerSec: m["records/s"]}
		switch {
		case hasKey(m, "allocs/record"):
			r.allocsPerRecord, res.allocsFrom = m["allocs/record"], "its allocs/record metric"
		case hasKey(m, "records/op") && m["records/op"] > 0:
			r.allocsPerRecord, res.allocsFrom = m["allocs/op"]/m["records/op"], "allocs/op ÷ records/op"
		default:
			r.allocsPerRecord, res.allocsFrom = m["allocs/op"], "allocs/op, one record per op"
		}
		res.hot = append(res.hot, r)
	}
	if len(res.hot) == 0 {
		return nil, fmt.Errorf("%s printed no result", hotPathBench)
	}
	return res, nil
}

// goTest runs the go command in the module root as a child of the bench,
// so that an interrupt stops it and its test binary, and returns its
// output lines.
func (b *bench) goTest(ctx context.Context, args []string) ([]string, error) {
	var mu sync.Mutex
	var lines []string
	c, err := start("go "+args[0], "go", args, os.Environ(), func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}, b.root)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx, b.o.timeout); err != nil {
		_ = c.stop(5 * time.Second)
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return lines, nil
}

// benchMetrics parses a benchmark result line: name, iterations, then
// value-unit pairs.
func benchMetrics(line string) map[string]float64 {
	f := strings.Fields(line)
	m := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			m[f[i+1]] = v
		}
	}
	return m
}

func hasKey(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

func slicesContains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == s {
			return true
		}
	}
	return false
}
