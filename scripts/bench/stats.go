package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// each applies f to every sample.
func each(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// pairs applies f to the i-th samples of a and b: ratios within a run.
func pairs(a, b []sample, f func(a, b sample) float64) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = f(a[i], b[i])
	}
	return out
}

// spread formats the median of v and, with more than one value, its range.
func spread(v []float64, format func(float64) string) string {
	if len(v) == 0 {
		return "n/a"
	}
	m := format(median(v))
	if len(v) == 1 {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, format(slices.Min(v)), format(slices.Max(v)))
}

// fitLine is the least-squares line y = a + b·x.
func fitLine(x, y []float64) (a, b float64, ok bool) {
	n := float64(len(x))
	if len(x) < 2 || slices.Min(x) == slices.Max(x) {
		return 0, 0, false
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	b = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a = (sy - b*sx) / n
	return a, b, true
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

func fRate(v float64) string { return commas(int64(math.Round(v))) }
func fMiB(v float64) string  { return fmt.Sprintf("%.0f", v/(1<<20)) }
func f2(v float64) string    { return fmt.Sprintf("%.2f", v) }

// fRatio shows two decimals, or two significant digits below 0.1, so that
// a far-off ratio does not print as 0.00.
func fRatio(v float64) string {
	if v < 0.1 {
		return fmt.Sprintf("%.2g", v)
	}
	return f2(v)
}

// millions formats a record count as 10M, 2.5M or 200k.
func millions(n int64) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + " M"
	case n >= 1000 && n%1000 == 0:
		return strconv.FormatInt(n/1000, 10) + " k"
	}
	return commas(n)
}
