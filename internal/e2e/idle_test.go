package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/consumer"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/output"
)

// Idle partitions. These tests stop the campaigns of one partition while the
// others go on, as campaigns end in production, and check that the quiet
// partition's last windows are written once the group's event time passes
// them, within the guaranteed delay, exactly, and only once.
//
// Event time runs ten times faster than the wall clock: every tickEvery the
// stream writes tickEvent of event time for every running campaign. That
// keeps the tests short while every active partition gets a record far more
// often than PARTITION_IDLE_TIMEOUT, so that only the stopped ones go idle.
const (
	idleWindow   = 10 * time.Second
	idleDelay    = 2 * time.Second
	idleInterval = 200 * time.Millisecond
	idleTimeout  = 2 * time.Second
	tickEvery    = 200 * time.Millisecond
	tickEvent    = 2 * time.Second
)

// idleEnv is the consumer's environment for the idle tests.
func idleEnv(t *testing.T, broker, topic string) (map[string]string, string) {
	t.Helper()
	env, out := consumerEnv(t, broker, topic)
	env["WINDOW_DURATION"] = "10 seconds"
	env["WATERMARK_DELAY"] = "2 seconds"
	env["CONSUMER_INTERVAL"] = idleInterval.String()
	env["PARTITION_IDLE_TIMEOUT"] = idleTimeout.String()
	return env, out
}

// writeBound is the guarantee: a quiet partition's last windows are
// written within PARTITION_IDLE_TIMEOUT + WATERMARK_DELAY + WINDOW_DURATION
// + 2 × CONSUMER_INTERVAL of the moment the others' event time passed them.
// The tolerance covers what the guarantee does not count: the test polls
// for the files every 20 ms, the files are synced and renamed into place,
// and the consumer runs under the race detector on shared cores.
const (
	writeBound     = idleTimeout + idleDelay + idleWindow + 2*idleInterval
	writeTolerance = time.Second
)

// campaignPartitions is the partition of every campaign for a topic of n
// partitions: the producer keys records by campaign id and partitions them
// with murmur2, as the Java client does.
func campaignPartitions(n int) map[int]int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	m := make(map[int]int, len(networks))
	for c := range networks {
		m[c] = kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(strconv.Itoa(c))}, parts...)
	}
	return m
}

// campaignsOf is the campaigns in partition p, in order.
func campaignsOf(partOf map[int]int, p int) []int {
	var cs []int
	for c, q := range partOf {
		if q == p {
			cs = append(cs, c)
		}
	}
	slices.Sort(cs)
	return cs
}

// idleRow is one expected output row and where it comes from.
type idleRow struct {
	expected
	partition int
	end       time.Time
}

// lateRecord is a record the consumer must find late.
type lateRecord struct {
	id        string
	partition int
}

// idleStream writes a tick of event time for every running campaign every
// tickEvery, and computes what the consumer must make of it. Its model of a
// partition is the engine's rule for the partition's own records: a record
// whose window ends at or before the largest end seen minus the delay is
// late and moves nothing; any other is aggregated. Idle advances are not
// modelled: the records that meet them are sent with sendLate.
type idleStream struct {
	partOf map[int]int
	topic  string
	client *kafkaio.Client
	w      *kafka.Writer

	// mu is held for a whole tick, from building it to its
	// acknowledgement: between ticks the model is what the broker holds.
	mu      sync.Mutex
	tick    int
	running map[int]bool  // by campaign
	maxEnd  map[int]int64 // by partition: the largest end aggregated
	rows    map[string]*idleRow
	late    []lateRecord
	sent    int64 // records written
	history []tickAck
	err     error

	stop chan struct{}
	done chan struct{}
}

// tickAck is one tick as acknowledged by the broker.
type tickAck struct {
	// sent is when the tick was handed to the writer, at when the broker
	// acknowledged it.
	sent, at time.Time
	// watermark is the smallest watermark among the partitions with a
	// running campaign: the group's event time once the tick is read.
	watermark int64
	ok        bool
}

// startIdleStream starts writing every campaign of campaigns.csv to topic.
// The test's cleanup stops it.
func startIdleStream(t *testing.T, broker, topic string, partOf map[int]int) *idleStream {
	t.Helper()
	client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: []string{broker}}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	s := &idleStream{
		partOf: partOf, topic: topic, client: client,
		w:       client.NewWriter(kafkaio.WriterConfig{Topic: topic, BatchSize: 500}),
		running: map[int]bool{}, maxEnd: map[int]int64{}, rows: map[string]*idleRow{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for c := range partOf {
		s.running[c] = true
	}
	go s.run()
	t.Cleanup(func() {
		s.halt()
		s.w.Close()
		s.client.Close()
	})
	return s
}

func (s *idleStream) run() {
	defer close(s.done)
	tk := time.NewTicker(tickEvery)
	defer tk.Stop()
	for {
		s.mu.Lock()
		err := s.writeTick()
		s.mu.Unlock()
		if err != nil {
			return
		}
		select {
		case <-s.stop:
			return
		case <-tk.C:
		}
	}
}

// halt stops the stream after the tick in hand; it is idempotent.
func (s *idleStream) halt() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.done
}

// writeTick writes the next tick: two records for every running campaign,
// ending one second apart, so that every running partition ends the tick at
// the same event time. Called with mu held.
func (s *idleStream) writeTick() error {
	if s.err != nil {
		return s.err
	}
	k := s.tick
	s.tick++
	var msgs []message
	for _, c := range slices.Sorted(maps.Keys(s.running)) {
		if !s.running[c] {
			continue
		}
		for i := range 2 {
			end := base.Add(time.Duration(k)*tickEvent + time.Duration(i)*time.Second)
			dur := time.Duration(1+(c+7*k+13*i)%90) * time.Second
			msgs = append(msgs, s.model(view{id: fmt.Sprintf("t%d-c%d-%d", k, c, i), campaign: c, start: end.Add(-dur), end: end}, k+i+c/10))
		}
	}
	sent := time.Now()
	if err := s.send(msgs); err != nil {
		return err
	}
	wm, ok := s.groupWatermark()
	s.history = append(s.history, tickAck{sent: sent, at: time.Now(), watermark: wm, ok: ok})
	return nil
}

// model records v as the consumer must take it and returns its message.
func (s *idleStream) model(v view, form int) message {
	p := s.partOf[v.campaign]
	start := v.end.Truncate(idleWindow)
	if wm, ok := s.watermark(p); ok && start.Add(idleWindow).UnixNano() <= wm {
		s.late = append(s.late, lateRecord{v.id, p})
	} else {
		key := fmt.Sprintf("%d/%s/%d", networks[v.campaign], start.UTC().Format(output.MinuteLayout), v.campaign)
		r := s.rows[key]
		if r == nil {
			r = &idleRow{partition: p, end: start.Add(idleWindow)}
			s.rows[key] = r
		}
		r.count++
		r.sum += v.end.Unix() - v.start.Unix()
		s.maxEnd[p] = max(s.maxEnd[p], v.end.UnixNano())
	}
	s.sent++
	return v.message(form)
}

// send writes msgs, keyed by campaign. A failure stops the stream: what the
// broker holds is then unknown.
func (s *idleStream) send(msgs []message) error {
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Key: []byte(m.key), Value: []byte(m.value)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.w.WriteMessages(ctx, km...); err != nil {
		s.err = fmt.Errorf("tick %d: %w", s.tick-1, err)
	}
	return s.err
}

// watermark is partition p's watermark by its own records.
func (s *idleStream) watermark(p int) (int64, bool) {
	end, ok := s.maxEnd[p]
	return end - int64(idleDelay), ok
}

// groupWatermark is the smallest watermark among the partitions that have
// a running campaign.
func (s *idleStream) groupWatermark() (wm int64, ok bool) {
	for c, run := range s.running {
		if !run {
			continue
		}
		w, has := s.watermark(s.partOf[c])
		if !has {
			return 0, false
		}
		if !ok || w < wm {
			wm, ok = w, true
		}
	}
	return wm, ok
}

// stopPartition stops every campaign of partition p: once it returns, no
// record of p is in flight, and none will come but those the test sends.
func (s *idleStream) stopPartition(t *testing.T, p int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatal(s.err)
	}
	for _, c := range campaignsOf(s.partOf, p) {
		s.running[c] = false
	}
}

// openFiles is where partition p's windows that its own watermark has not
// finalized will be written (output keys), and the largest end among them.
func (s *idleStream) openFiles(t *testing.T, p int) (keys []string, last time.Time) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	wm, _ := s.watermark(p)
	for key, r := range s.rows {
		if r.partition != p || r.end.UnixNano() <= wm {
			continue
		}
		network, _ := strconv.Atoi(strings.SplitN(key, "/", 2)[0])
		f := &output.File{NetworkID: int32(network), WindowStart: r.end.Add(-idleWindow), Topic: s.topic, Partition: p}
		if k := output.Key(f); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	if len(keys) == 0 {
		t.Fatalf("partition %d has no open window", p)
	}
	slices.Sort(keys)
	return keys, last
}

// passedAt is the tick that moved the running partitions' watermarks to
// end or past it.
func (s *idleStream) passedAt(end time.Time) (tickAck, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.history {
		if h.ok && h.watermark >= end.UnixNano() {
			return h, true
		}
	}
	return tickAck{}, false
}

// runningWatermark is the group's event time by what was written so far.
func (s *idleStream) runningWatermark() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	wm, _ := s.groupWatermark()
	return time.Unix(0, wm).UTC()
}

// sendLate writes a record of campaign ending at end, into a window the
// test knows is final, and returns its view id.
func (s *idleStream) sendLate(t *testing.T, campaign int, end time.Time) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{id: fmt.Sprintf("late-c%d-%d", campaign, len(s.late)), campaign: campaign, start: end.Add(-5 * time.Second), end: end}
	s.late = append(s.late, lateRecord{v.id, s.partOf[campaign]})
	s.sent++
	if err := s.send([]message{v.message(len(s.late))}); err != nil {
		t.Fatal(err)
	}
	return v.id
}

// sendOne writes one record of campaign ending at end, modelled as any
// other.
func (s *idleStream) sendOne(t *testing.T, campaign int, end time.Time) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{id: fmt.Sprintf("one-c%d-%d", campaign, s.sent), campaign: campaign, start: end.Add(-3 * time.Second), end: end}
	if err := s.send([]message{s.model(v, 0)}); err != nil {
		t.Fatal(err)
	}
}

// finish stops the stream and returns the rows the output must hold: every
// window that its partition's watermark passed, a stopped partition's
// watermark being at least the group's event time as the stream ends.
func (s *idleStream) finish(t *testing.T) map[string]idleRow {
	t.Helper()
	s.halt()
	if s.err != nil {
		t.Fatal(s.err)
	}
	group, ok := s.groupWatermark()
	if !ok {
		t.Fatal("no campaign left running")
	}
	stopped := map[int]bool{}
	for c, run := range s.running {
		if !run {
			stopped[s.partOf[c]] = true
		}
	}
	for c, run := range s.running {
		if run {
			delete(stopped, s.partOf[c])
		}
	}
	want := map[string]idleRow{}
	for key, r := range s.rows {
		wm, _ := s.watermark(r.partition)
		if stopped[r.partition] {
			wm = max(wm, group)
		}
		if r.end.UnixNano() <= wm {
			want[key] = *r
		}
	}
	return want
}

// checkIdleRows compares the output row by row with want.
func checkIdleRows(t *testing.T, rows []outRow, want map[string]idleRow) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		k := r.key()
		if seen[k] {
			t.Errorf("row %s appears twice", k)
			continue
		}
		seen[k] = true
		e, ok := want[k]
		if !ok {
			t.Errorf("unexpected row %+v", r)
			continue
		}
		if r.TotalCount != e.count || r.SumDuration != e.sum || math.Abs(r.AvgDuration-roundHalfUp2(e.sum, e.count)) > 1e-9 {
			t.Errorf("row %s: count %d sum %d avg %v; want count %d sum %d avg %v", k, r.TotalCount, r.SumDuration, r.AvgDuration, e.count, e.sum, roundHalfUp2(e.sum, e.count))
		}
		if !r.WindowEnd.Equal(e.end) || !r.WindowStart.Equal(e.end.Add(-idleWindow)) {
			t.Errorf("row %s: window %v..%v, want ..%v", k, r.WindowStart, r.WindowEnd, e.end)
		}
	}
	var missing []string
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d rows missing: %v", len(missing), missing)
	}
}

// checkLateLetters: the dead-letter topic holds every record of late, as
// late and from its partition, and nothing else; once each if once.
func checkLateLetters(t *testing.T, broker, topic string, late []lateRecord, once bool) {
	t.Helper()
	want := map[string]int{}
	for _, l := range late {
		want[l.id] = l.partition
	}
	got := map[string]int{}
	for _, m := range readTopic(t, broker, topic+".dlq") {
		var v struct {
			ViewID string `json:"view_id"`
		}
		if err := json.Unmarshal([]byte(m.value), &v); err != nil {
			t.Errorf("dead letter %q: %v", m.value, err)
			continue
		}
		got[v.ViewID]++
		p, ok := want[v.ViewID]
		switch {
		case !ok:
			t.Errorf("unexpected dead letter %s %v", v.ViewID, m.headers)
		case m.headers["viewlog.outcome"] != "late" || m.headers["viewlog.source.partition"] != strconv.Itoa(p):
			t.Errorf("dead letter %s: headers %v, want outcome late from partition %d", v.ViewID, m.headers, p)
		}
	}
	for id := range want {
		if got[id] == 0 || (once && got[id] > 1) {
			t.Errorf("late record %s dead-lettered %d times", id, got[id])
		}
	}
}

// waitReading waits until the running consumers own the topic's partitions
// in one generation and have a watermark for each.
func waitReading(t *testing.T, partitions int, running ...*consumerProc) {
	t.Helper()
	waitSettled(t, partitions, 60*time.Second, running...)
	waitFor(t, 30*time.Second, "a watermark on every partition", func() bool {
		n := 0
		for _, c := range running {
			st, ok := c.state(t)
			if !ok {
				return false
			}
			for _, p := range st.Partitions {
				if p.Watermark != nil {
					n++
				}
			}
		}
		return n == partitions
	})
}

// waitCaughtUp waits until the running consumers have read every
// partition of topic up to the end the broker reports now.
func waitCaughtUp(t *testing.T, broker, topic string, partitions int, running ...*consumerProc) {
	t.Helper()
	reqs := make([]kafka.OffsetRequest, partitions)
	for i := range reqs {
		reqs[i] = kafka.LastOffsetOf(i)
	}
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	resp, err := client.ListOffsets(t.Context(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	end := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets, partition %d: %v", p.Partition, p.Error)
		}
		end[p.Partition] = p.LastOffset
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("every partition read to its end %v", end), func() bool {
		n := 0
		for _, c := range running {
			if c.Exited() {
				t.Fatalf("%s exited on its own", c.Name())
			}
			st, _ := c.state(t)
			for _, p := range st.Partitions {
				if p.NextOffset >= end[p.Partition] {
					n++
				}
			}
		}
		return n == partitions
	})
}

// waitWritten waits until every file of keys is under out and returns when
// it saw them all.
func waitWritten(t *testing.T, out string, keys []string, timeout time.Duration, running ...*consumerProc) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, k := range keys {
			if _, err := os.Stat(filepath.Join(out, k)); err != nil {
				missing = k
				break
			}
		}
		now := time.Now()
		if missing == "" {
			return now
		}
		for _, c := range running {
			if c.Exited() {
				t.Fatalf("%s exited on its own", c.Name())
			}
		}
		if now.After(deadline) {
			t.Fatalf("%s not written after %v", missing, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partitionState is partition p's entry in c's /api/state.
func partitionState(t *testing.T, c *consumerProc, p int) (consumer.PartitionState, bool) {
	t.Helper()
	st, ok := c.state(t)
	if !ok {
		return consumer.PartitionState{}, false
	}
	for _, ps := range st.Partitions {
		if ps.Partition == p {
			return ps, true
		}
	}
	return consumer.PartitionState{}, false
}

// checkFollowing: c reports partition p idle, in /api/state and /metrics,
// following a watermark at or past end and no further than the stream's
// event time.
func checkFollowing(t *testing.T, c *consumerProc, topic string, p int, end time.Time, s *idleStream) {
	t.Helper()
	ps, ok := partitionState(t, c, p)
	switch {
	case !ok:
		t.Errorf("%s does not report partition %d", c.Name(), p)
	case !ps.Idle || ps.FollowsWatermark == nil:
		t.Errorf("partition %d: idle %v, follows %v; want idle, following the group", p, ps.Idle, ps.FollowsWatermark)
	case ps.FollowsWatermark.Before(end) || ps.FollowsWatermark.After(s.runningWatermark()):
		t.Errorf("partition %d follows %v; want from %v to the group's event time %v", p, ps.FollowsWatermark, end, s.runningWatermark())
	}
	labels := map[string]string{"topic": topic, "partition": strconv.Itoa(p)}
	if v, ok := c.metric(t, "viewlog_consumer_partition_idle", labels); !ok || v != 1 {
		t.Errorf("viewlog_consumer_partition_idle{partition=%d} = %v (%v), want 1", p, v, ok)
	}
	v, _ := c.metric(t, "viewlog_consumer_followed_watermark_seconds", labels)
	if v < float64(end.Unix()) || v > float64(s.runningWatermark().Unix()) {
		t.Errorf("viewlog_consumer_followed_watermark_seconds{partition=%d} = %v, want from %d to %d", p, v, end.Unix(), s.runningWatermark().Unix())
	}
}

// TestIdlePartition: the campaigns of one of three partitions stop while the
// others go on. The quiet partition's last windows are written within the
// guaranteed delay of the moment the others' watermark passed them; a
// record sent afterwards into one of them is late and dead-lettered; the
// output is exact.
func TestIdlePartition(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	idleCloses(t, "views-idle", 1)
}

// TestIdlePartitionAcrossMembers is TestIdlePartition with two consumers,
// the quiet partition owned by one and the partitions that go on by the
// other: the event time it follows comes from the other member's commits.
func TestIdlePartitionAcrossMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	idleCloses(t, "views-idle-members", 2)
}

// idleCloses runs TestIdlePartition with instances consumers.
func idleCloses(t *testing.T, topic string, instances int) {
	broker, _ := startBroker(t, 3)
	partOf := campaignPartitions(3)
	s := startIdleStream(t, broker, topic, partOf)
	env, out := idleEnv(t, broker, topic)
	var cs []*consumerProc
	for range instances {
		cs = append(cs, startConsumer(t, env))
	}
	waitReading(t, 3, cs...)

	// The quiet partition: with one member, partition 1; with two, the one
	// partition of the member that owns only one, so that every partition
	// that goes on is the other member's.
	quiet, owner, gen := 1, cs[0], int32(0)
	if instances > 1 {
		quiet = -1
		for _, c := range cs {
			st, _ := c.state(t)
			gen = st.Generation
			if len(st.Partitions) == 1 {
				quiet, owner = st.Partitions[0].Partition, c
			}
		}
		if quiet < 0 {
			t.Fatal("no member owns exactly one of the three partitions")
		}
		t.Logf("partition %d is quiet, owned alone by one member", quiet)
	}
	// A few windows of every partition first.
	time.Sleep(2 * time.Second)
	s.stopPartition(t, quiet)
	files, last := s.openFiles(t, quiet)

	written := waitWritten(t, out, files, 30*time.Second, cs...)
	passed, ok := s.passedAt(last)
	if !ok || written.Before(passed.sent) {
		t.Fatalf("partition %d's windows to %v written at %v, before the others' watermark passed them (%+v, %v)", quiet, last, written, passed, ok)
	}
	// From the acknowledgement: the earliest the records were readable.
	took := written.Sub(passed.at)
	t.Logf("partition %d's last windows (to %v) written %v after the others' watermark passed them", quiet, last.Format(time.TimeOnly), took)
	if took > writeBound+writeTolerance {
		t.Errorf("written %v after the others' watermark passed them; the guarantee is %v (+%v)", took, writeBound, writeTolerance)
	}
	checkFollowing(t, owner, topic, quiet, last, s)
	if instances > 1 {
		for _, c := range cs {
			st, _ := c.state(t)
			if st.Generation != gen {
				t.Fatalf("the group rebalanced (generation %d, was %d): the quiet partition may have changed hands", st.Generation, gen)
			}
		}
	}

	// A record of the quiet partition sent now into its last window is
	// late: the window is final.
	lateID := s.sendLate(t, campaignsOf(partOf, quiet)[0], last.Add(-3*time.Second))
	waitFor(t, 30*time.Second, "the record sent into a written window to be counted late", func() bool {
		n, _ := owner.metric(t, "viewlog_consumer_records_total", map[string]string{"outcome": "late"})
		return n == 1
	})
	t.Logf("%s counted late", lateID)

	want := s.finish(t)
	waitCaughtUp(t, broker, topic, 3, cs...)
	waitAllRows(t, out, len(want), 60*time.Second, cs...)
	stopAll(t, cs...)
	checkIdleRows(t, readOutput(t, out), want)
	checkFiles(t, out)
	var late int64
	for _, c := range cs {
		tot := exitTotals(t, c.Proc)
		checkBalanced(t, tot)
		late += tot["late"]
		if instances == 1 && (tot["read"] != s.sent || tot["aggregated"] != s.sent-1) {
			t.Errorf("totals %v; want %d read, all aggregated but one late", tot, s.sent)
		}
	}
	if late != 1 {
		t.Errorf("%d records counted late, want 1", late)
	}
	checkLateLetters(t, broker, topic, s.late, true)
}

// soleNetwork is a partition that alone carries the campaigns of a
// network, and that network: only that partition writes into the network's
// window directories.
func soleNetwork(t *testing.T, partOf map[int]int) (partition, network int) {
	t.Helper()
	parts := map[int]map[int]bool{}
	for c, p := range partOf {
		n := networks[c]
		if parts[n] == nil {
			parts[n] = map[int]bool{}
		}
		parts[n][p] = true
	}
	for _, n := range slices.Sorted(maps.Keys(parts)) {
		if len(parts[n]) == 1 {
			for p := range parts[n] {
				return p, n
			}
		}
	}
	t.Fatalf("every network spans several partitions: %v", partOf)
	return 0, 0
}

// covers reports whether the checkpoint finalizes every window ending at or
// before end, by its watermark or by an idle advance.
func (cp groupCheckpoint) covers(end time.Time) bool {
	return (cp.Watermark != nil && *cp.Watermark >= end.UnixNano()) ||
		(cp.AdvanceWatermark != nil && *cp.AdvanceWatermark >= end.UnixNano())
}

// outputWatch reads every output file every 50 ms, to catch a file seen
// again with different content: a window written twice, once short.
type outputWatch struct {
	dir        string
	seen       map[string][]byte
	modified   map[string]time.Time
	rewritten  int
	violations []string
	stop, done chan struct{}
	once       sync.Once
}

// watchOutput starts watching dir until check is called or the test ends.
func watchOutput(t *testing.T, dir string) *outputWatch {
	t.Helper()
	w := &outputWatch{dir: dir, seen: map[string][]byte{}, modified: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *outputWatch) run() {
	defer close(w.done)
	for {
		w.scan()
		select {
		case <-w.stop:
			w.scan()
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *outputWatch) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *outputWatch) scan() {
	files, _ := filepath.Glob(filepath.Join(w.dir, "*", "*", "*.parquet"))
	present := map[string]bool{}
	for _, f := range files {
		rel, _ := filepath.Rel(w.dir, f)
		present[rel] = true
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		if !fi.ModTime().Equal(w.modified[rel]) && w.modified[rel] != (time.Time{}) {
			w.rewritten++
		}
		w.modified[rel] = fi.ModTime()
		b, err := os.ReadFile(f)
		if err != nil {
			w.violations = append(w.violations, fmt.Sprintf("%s: %v", rel, err))
			continue
		}
		prev, ok := w.seen[rel]
		w.seen[rel] = b
		if !ok || bytes.Equal(prev, b) {
			continue
		}
		before, err1 := parquetContent(prev)
		after, err2 := parquetContent(b)
		switch {
		case err1 != nil || err2 != nil:
			w.violations = append(w.violations, fmt.Sprintf("%s: %v %v", rel, err1, err2))
		case before != after:
			w.violations = append(w.violations, fmt.Sprintf("%s rewritten: was %s, now %s", rel, before, after))
		}
	}
	for rel := range w.seen {
		if !present[rel] {
			w.violations = append(w.violations, rel+" disappeared")
			delete(w.seen, rel)
		}
	}
}

// check stops the watch and reports every file seen with two contents.
func (w *outputWatch) check(t *testing.T) {
	t.Helper()
	w.halt()
	for _, v := range w.violations {
		t.Error(v)
	}
	t.Logf("watched %d files; %d rewrites seen, all with the same rows", len(w.seen), w.rewritten)
}

// parquetContent is the rows of a Parquet file's bytes, read with DuckDB,
// as one line.
func parquetContent(b []byte) (string, error) {
	f, err := os.CreateTemp("", "viewlog-watch-*.parquet")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return "", err
	}
	defer db.Close()
	rows, err := db.Query(fmt.Sprintf(`SELECT campaign_id, total_count, sum_duration, avg_duration, window_start, window_end
		FROM read_parquet('%s') ORDER BY campaign_id`, f.Name()))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var campaign, count, sum int64
		var avg float64
		var start, end time.Time
		if err := rows.Scan(&campaign, &count, &sum, &avg, &start, &end); err != nil {
			return "", err
		}
		out = append(out, fmt.Sprintf("{campaign %d count %d sum %d avg %v %v..%v}", campaign, count, sum, avg, start.UTC().Format(time.TimeOnly), end.UTC().Format(time.TimeOnly)))
	}
	return strings.Join(out, " "), rows.Err()
}

// TestIdleAdvanceSIGKILL kills the consumer with SIGKILL right after an
// idle advance, and restarts it, twice:
//   - once the advance is committed while the windows it finalizes are not
//     yet written: one of their directories is blocked, so the batch waits
//     with the advance committed until the kill. A record sent before the
//     restart into one of those windows is late: the replay applies the
//     advance at the offset it was committed for, before that record.
//   - at once when the consumer shows the partition following the group,
//     wherever the flush then is.
//
// The output is exact, and no file once seen is seen again with other rows.
func TestIdleAdvanceSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	const topic = "views-idle-kill"
	partOf := campaignPartitions(3)
	quiet, network := soleNetwork(t, partOf)
	s := startIdleStream(t, broker, topic, partOf)
	env, out := idleEnv(t, broker, topic)
	group := env["CONSUMER_GROUP_ID"]
	watch := watchOutput(t, out)
	c := startConsumer(t, env)
	waitReading(t, 3, c)
	time.Sleep(2 * time.Second)

	// Round 1: network's directory of the quiet partition's last window
	// is written by that partition alone; a file in its place holds the
	// advance's batch between the advance's commit and its windows.
	s.stopPartition(t, quiet)
	files, last := s.openFiles(t, quiet)
	blocked := filepath.Join(out, fmt.Sprintf("network_id=%d", network), "minute_timestamp="+last.Add(-idleWindow).UTC().Format(output.MinuteLayout))
	if err := os.MkdirAll(filepath.Dir(blocked), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocked, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cp groupCheckpoint
	waitFor(t, 30*time.Second, "the idle advance committed", func() bool {
		cp = groupCheckpoints(t, broker, group, topic, 3)[quiet]
		return cp.AdvanceWatermark != nil && *cp.AdvanceWatermark >= last.UnixNano()
	})
	c.Kill()
	if after := groupCheckpoints(t, broker, group, topic, 3)[quiet]; after.AdvanceWatermark == nil || !after.Idle {
		t.Fatalf("partition %d's checkpoint after the kill has no idle advance: %+v", quiet, after)
	}
	t.Logf("killed with partition %d's advance to %v from offset %d committed at offset %d, its windows unwritten",
		quiet, time.Unix(0, *cp.AdvanceWatermark).UTC().Format(time.TimeOnly), *cp.AdvanceAt, cp.Offset)
	if err := os.Remove(blocked); err != nil {
		t.Fatal(err)
	}
	var campaign int
	for _, cc := range campaignsOf(partOf, quiet) {
		if networks[cc] == network {
			campaign = cc
		}
	}
	s.sendLate(t, campaign, last.Add(-3*time.Second))
	c = startConsumer(t, env)
	waitWritten(t, out, files, 60*time.Second, c)
	waitFor(t, 30*time.Second, "the record sent into the advanced window to be late on replay", func() bool {
		n, _ := c.metric(t, "viewlog_consumer_records_total", map[string]string{"outcome": "late"})
		return n >= 1
	})

	// Round 2: another partition goes quiet; the kill comes as soon as
	// the consumer shows it following the group.
	waitSettled(t, 3, 60*time.Second, c)
	second := (quiet + 1) % 3
	s.stopPartition(t, second)
	files2, last2 := s.openFiles(t, second)
	labels := map[string]string{"topic": topic, "partition": strconv.Itoa(second)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, _ := c.metric(t, "viewlog_consumer_followed_watermark_seconds", labels); v > 0 {
			break
		}
		if time.Now().After(deadline) || c.Exited() {
			t.Fatalf("partition %d never followed the group", second)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Kill()
	cp2 := groupCheckpoints(t, broker, group, topic, 3)[second]
	present := 0
	for _, k := range files2 {
		if _, err := os.Stat(filepath.Join(out, k)); err == nil {
			present++
		}
	}
	t.Logf("killed as partition %d followed: advance committed %v, windows committed %v, %d of %d files written",
		second, cp2.AdvanceWatermark != nil && *cp2.AdvanceWatermark >= last2.UnixNano(),
		cp2.Watermark != nil && *cp2.Watermark >= last2.UnixNano(), present, len(files2))
	if cp2.covers(last2) {
		// Whatever the replay does, those windows are final.
		s.sendLate(t, campaignsOf(partOf, second)[0], last2.Add(-3*time.Second))
	}
	c = startConsumer(t, env)
	waitWritten(t, out, files2, 60*time.Second, c)

	want := s.finish(t)
	waitCaughtUp(t, broker, topic, 3, c)
	waitAllRows(t, out, len(want), 60*time.Second, c)
	stopAll(t, c)
	watch.check(t)
	checkIdleRows(t, readOutput(t, out), want)
	checkFiles(t, out)
	checkBalanced(t, exitTotals(t, c.Proc))
	// A crash may dead-letter a record twice.
	checkLateLetters(t, broker, topic, s.late, false)
}

// TestIdleIgnoresFarFuture: one record stamped in the year 2199, still
// valid, moves its partition's watermark there; the quiet partition follows
// the smallest watermark of the active ones, not that one, no window ahead
// of the group's event time is written, and the output is exact.
func TestIdleIgnoresFarFuture(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	broker, _ := startBroker(t, 3)
	const topic = "views-idle-future"
	const quiet, far = 0, 1
	partOf := campaignPartitions(3)
	s := startIdleStream(t, broker, topic, partOf)
	env, out := idleEnv(t, broker, topic)
	c := startConsumer(t, env)
	waitReading(t, 3, c)
	time.Sleep(time.Second)

	// Every record of the far partition after this one is late: its
	// watermark is in 2199. It keeps receiving them, so it stays active.
	farEnd := time.Date(2199, 1, 1, 0, 0, 5, 0, time.UTC)
	s.sendOne(t, campaignsOf(partOf, far)[0], farEnd)
	s.stopPartition(t, quiet)
	files, last := s.openFiles(t, quiet)
	waitFor(t, 30*time.Second, "the far partition's watermark in 2199", func() bool {
		ps, ok := partitionState(t, c, far)
		return ok && ps.Watermark != nil && ps.Watermark.Year() == 2199
	})
	waitWritten(t, out, files, 30*time.Second, c)
	if ps, ok := partitionState(t, c, quiet); ok && ps.FollowsWatermark != nil {
		t.Logf("partition %d's last windows written; it follows %v, the far partition's watermark is in 2199", quiet, ps.FollowsWatermark.Format(time.TimeOnly))
	}
	for i := 0; i < 10 && !t.Failed(); i++ {
		checkFollowing(t, c, topic, quiet, last, s)
		ps, _ := partitionState(t, c, quiet)
		if ps.Watermark == nil || ps.Watermark.After(s.runningWatermark()) {
			t.Errorf("quiet partition's watermark %v, past the group's event time %v", ps.Watermark, s.runningWatermark())
		}
		if ps, _ := partitionState(t, c, far); ps.Idle {
			t.Errorf("the far partition is idle while it receives records")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Once the far partition goes quiet too, it follows the group as
	// well, without moving back, and the quiet one still does not follow it.
	s.stopPartition(t, far)
	waitFor(t, 30*time.Second, "the far partition idle", func() bool {
		ps, ok := partitionState(t, c, far)
		return ok && ps.Idle && ps.FollowsWatermark != nil
	})
	if ps, _ := partitionState(t, c, far); ps.Watermark == nil || ps.Watermark.Year() != 2199 {
		t.Errorf("the far partition's watermark moved back to %v", ps.Watermark)
	}
	checkFollowing(t, c, topic, quiet, last, s)

	want := s.finish(t)
	waitCaughtUp(t, broker, topic, 3, c)
	waitAllRows(t, out, len(want), 60*time.Second, c)
	stopAll(t, c)
	rows := readOutput(t, out)
	for _, r := range rows {
		if r.WindowStart.Year() > 2100 {
			t.Errorf("window far ahead written: %+v", r)
		}
	}
	checkIdleRows(t, rows, want)
	checkFiles(t, out)
	tot := exitTotals(t, c.Proc)
	checkBalanced(t, tot)
	if late := int64(len(s.late)); tot["read"] != s.sent || tot["late"] != late || tot["aggregated"] != s.sent-late || late == 0 {
		t.Errorf("totals %v; want %d read, %d late, the rest aggregated", tot, s.sent, late)
	}
	checkLateLetters(t, broker, topic, s.late, true)
}
