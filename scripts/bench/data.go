package main

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// The consumer's defaults that decide which windows a stream closes. The
// bench runs the consumer on its defaults, so these are what it does.
const (
	windowSize     = 60 // WINDOW_DURATION, seconds
	watermarkDelay = 10 // WATERMARK_DELAY, seconds
	consumerPeriod = 5  // CONSUMER_INTERVAL, seconds
	minuteLayout   = "2006-01-02_15-04-05"
)

// campaign is one row of the campaigns.csv the bench gives the consumer: the
// original's fourteen campaigns in four networks.
type campaign struct {
	id, network int32
}

func campaignTable() []campaign {
	var t []campaign
	for id := int32(10); id <= 140; id += 10 {
		var n int32
		switch {
		case id <= 30:
			n = 1
		case id <= 50:
			n = 2
		case id <= 90:
			n = 3
		default:
			n = 4
		}
		t = append(t, campaign{id: id, network: n})
	}
	return t
}

func campaignsCSV() string {
	var b strings.Builder
	b.WriteString("network_id,campaign_id,campaign_name\n")
	for _, c := range campaignTable() {
		fmt.Fprintf(&b, "%d,%d,Campaign %d\n", c.network, c.id, c.id)
	}
	return b.String()
}

// keyPartitions maps each campaign's key to the partition the product's
// producer sends it to: kafka-go's Murmur2Balancer, the Java client's
// murmur2 partitioner. Asking the library the producer uses keeps the bench
// where the product is.
func keyPartitions(partitions int) []int32 {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	t := campaignTable()
	out := make([]int32, len(t))
	for i, c := range t {
		key := strconv.AppendInt(nil, int64(c.id), 10)
		out[i] = int32(kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: key}, ids...))
	}
	return out
}

// streamSpec is a pre-loaded stream: records whose event time advances
// steadily, perMinute records per minute of event time from start on.
type streamSpec struct {
	records    int64
	perMinute  int64
	partitions int
	start      time.Time
	seed       uint64
}

// generator makes the records of a stream, in event-time order, in the
// product's JSON format. It is not safe for concurrent use.
type generator struct {
	spec      streamSpec
	rng       *rand.Rand
	table     []campaign
	parts     []int32
	keys      [][]byte
	i         int64
	startUnix int64
	endSec    int64
	endStamp  []byte
}

func newGenerator(spec streamSpec) *generator {
	g := &generator{
		spec:      spec,
		rng:       rand.New(rand.NewPCG(spec.seed, spec.seed^0x9e3779b97f4a7c15)),
		table:     campaignTable(),
		parts:     keyPartitions(spec.partitions),
		startUnix: spec.start.Unix(),
		endSec:    -1,
	}
	for _, c := range g.table {
		g.keys = append(g.keys, strconv.AppendInt(nil, int64(c.id), 10))
	}
	return g
}

// view is what the bench needs to know of a generated record.
type view struct {
	campaign  int // index into the campaign table
	partition int32
	end       int64 // end_timestamp, Unix seconds
}

// next appends the next record's JSON value to buf. The event clock, not a
// wall clock, stamps end_timestamp: record i ends at start + i×60/perMinute
// seconds, so a stream of any size has the same density.
func (g *generator) next(buf []byte) ([]byte, view) {
	end := g.startUnix + g.i*60/g.spec.perMinute
	g.i++
	if end != g.endSec {
		g.endSec = end
		g.endStamp = time.Unix(end, 0).UTC().AppendFormat(g.endStamp[:0], time.RFC3339)
	}
	r := g.rng.Uint64()
	c := int(r % uint64(len(g.table)))
	d := int64(1 + (r>>8)%300)
	banner := 1 + (r>>24)%100000
	buf = append(buf, `{"view_id":"`...)
	buf = appendUUIDv4(buf, g.rng.Uint64(), g.rng.Uint64())
	buf = append(buf, `","start_timestamp":"`...)
	buf = time.Unix(end-d, 0).UTC().AppendFormat(buf, time.RFC3339)
	buf = append(buf, `","end_timestamp":"`...)
	buf = append(buf, g.endStamp...)
	buf = append(buf, `","banner_id":`...)
	buf = strconv.AppendUint(buf, banner, 10)
	buf = append(buf, `,"campaign_id":`...)
	buf = strconv.AppendInt(buf, int64(g.table[c].id), 10)
	buf = append(buf, '}')
	return buf, view{campaign: c, partition: g.parts[c], end: end}
}

func (g *generator) key(v view) []byte { return g.keys[v.campaign] }

// appendUUIDv4 appends the canonical form of a version 4 UUID made of the
// 128 random bits hi, lo.
func appendUUIDv4(buf []byte, hi, lo uint64) []byte {
	var u [16]byte
	for j := range 8 {
		u[j] = byte(hi >> (8 * j))
		u[8+j] = byte(lo >> (8 * j))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return append(buf, s[:]...)
}

// fileKey names one expected output file.
type fileKey struct {
	partition int32
	start     int64 // window start, Unix seconds
	network   int32
}

// model is what the consumer must produce from a stream, computed from the
// records as they were generated: the windows that close, and how many
// records the open windows hold at most.
type model struct {
	records int64
	parts   []partModel
	seen    map[fileKey]struct{}
}

type partModel struct {
	records int64
	maxEnd  int64
	// open holds the record counts of the windows not yet closed, oldest
	// first; events arrive in order, so at most a few are open at once.
	open []openWindow
	// peakOpen is the most records the open windows held at once.
	peakOpen int64
	// last is the window start last seen per network (1 to 4), to record
	// each file once without a map lookup per record.
	last [5]int64
}

type openWindow struct {
	start, count int64
}

func newModel(partitions int) *model {
	m := &model{parts: make([]partModel, partitions), seen: make(map[fileKey]struct{})}
	for i := range m.parts {
		m.parts[i].maxEnd = -1 << 62
		for n := range m.parts[i].last {
			m.parts[i].last[n] = -1 << 62
		}
	}
	return m
}

// add replays the consumer's window rule on one record: its window gets the
// record, then the partition's watermark (largest end minus the delay)
// closes every window that ends at or before it. The count before closing
// is what the dedup sets hold at that moment.
func (m *model) add(v view, network int32) {
	m.records++
	p := &m.parts[v.partition]
	p.records++
	start := v.end - mod(v.end, windowSize)
	if n := len(p.open); n > 0 && p.open[n-1].start == start {
		p.open[n-1].count++
	} else {
		p.open = append(p.open, openWindow{start: start, count: 1})
	}
	if p.last[network] != start {
		p.last[network] = start
		m.seen[fileKey{partition: v.partition, start: start, network: network}] = struct{}{}
	}
	var held int64
	for _, w := range p.open {
		held += w.count
	}
	p.peakOpen = max(p.peakOpen, held)
	if v.end > p.maxEnd {
		p.maxEnd = v.end
		wm := p.maxEnd - watermarkDelay
		i := 0
		for i < len(p.open) && p.open[i].start+windowSize <= wm {
			i++
		}
		p.open = p.open[i:]
	}
}

// peakIDs is the sum over partitions of the most view_ids each partition's
// open windows held at once: the dedup state at its peak, if the partitions
// peak together (they do at steady catch-up: every window is alike).
func (m *model) peakIDs() int64 {
	var n int64
	for _, p := range m.parts {
		n += p.peakOpen
	}
	return n
}

// closable lists the files that exist once the consumer has read every
// record: per partition, the windows that end at or before the partition's
// largest end_timestamp minus the watermark delay; one file per network
// with records in the window. Sorted by partition, window, network.
func (m *model) closable() []fileKey {
	var out []fileKey
	for k := range m.seen {
		if k.start+windowSize <= m.parts[k.partition].maxEnd-watermarkDelay {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b fileKey) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return int(a.network - b.network)
	})
	return out
}

// outputPath is where the consumer writes the file of k (parquetsink's
// layout).
func outputPath(dir, topic string, k fileKey) string {
	return filepath.Join(dir,
		"network_id="+strconv.Itoa(int(k.network)),
		"minute_timestamp="+time.Unix(k.start, 0).UTC().Format(minuteLayout),
		fmt.Sprintf("part-%s-%05d.parquet", topic, k.partition))
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
