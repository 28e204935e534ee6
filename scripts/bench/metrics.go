package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// series is one sample of a Prometheus text exposition.
type series struct {
	labels map[string]string
	value  float64
}

// scrape reads the /metrics page at addr and returns the series of the
// named metrics.
func scrape(ctx context.Context, addr string, names ...string) (map[string][]series, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	out := map[string][]series{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for _, name := range names {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
				continue
			}
			s, err := parseSeries(rest)
			if err != nil {
				return nil, fmt.Errorf("metric line %q: %w", line, err)
			}
			out[name] = append(out[name], s)
		}
	}
	return out, sc.Err()
}

// parseSeries parses `{a="x",b="y"} 12.5` or ` 12.5`. Label values in
// these metrics hold no quotes or commas.
func parseSeries(rest string) (series, error) {
	s := series{labels: map[string]string{}}
	if strings.HasPrefix(rest, "{") {
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return s, fmt.Errorf("unterminated labels")
		}
		for l := range strings.SplitSeq(rest[1:end], ",") {
			k, v, ok := strings.Cut(l, "=")
			if ok {
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		rest = rest[end+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// scrapeRecordsRead is how many records the consumer has accounted for,
// all outcomes together (viewlog_consumer_records_total).
func scrapeRecordsRead(ctx context.Context, addr string) (int64, error) {
	const name = "viewlog_consumer_records_total"
	m, err := scrape(ctx, addr, name)
	if err != nil {
		return 0, err
	}
	if len(m[name]) == 0 {
		return 0, fmt.Errorf("no %s at %s", name, addr)
	}
	var n float64
	for _, s := range m[name] {
		n += s.value
	}
	return int64(n), nil
}

// lagMetric is the consumer's gauge of log end minus next offset to read,
// per partition.
const lagMetric = "viewlog_consumer_lag_records"

// scrapeLag sums the consumer's lag gauge over topic's partitions; ok is
// false if the consumer does not export it. It also returns the records
// accounted for, for the fallback.
func scrapeLag(ctx context.Context, addr, topic string) (lag int64, ok bool, read int64, err error) {
	const records = "viewlog_consumer_records_total"
	m, err := scrape(ctx, addr, lagMetric, records)
	if err != nil {
		return 0, false, 0, err
	}
	var l, r float64
	for _, s := range m[lagMetric] {
		if t, has := s.labels["topic"]; !has || t == topic {
			l += s.value
			ok = true
		}
	}
	for _, s := range m[records] {
		r += s.value
	}
	return int64(l), ok, int64(r), nil
}
