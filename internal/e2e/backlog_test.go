package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBacklogOnDefaults: the consumer starts behind a backlog of more than
// ten times MAX_BATCH_RECORDS, on the settings users get by default
// (CONSUMER_INTERVAL 5 s, MAX_BATCH_RECORDS 200000, PARTITION_IDLE_TIMEOUT
// 30 s), catches up, and writes exactly the expected rows, each window's
// file once.
func TestBacklogOnDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		maxBatchRecords = 200_000 // the default of MAX_BATCH_RECORDS
		records         = 10*maxBatchRecords + 100_000
		perMinute       = 100_000 // of event time, as a stream of 1,700 views/s
	)
	broker, _ := startBroker(t, 3)
	const topic = "views-backlog"

	began := time.Now()
	b := produceBacklog(t, broker, topic, backlogSpec{from: base, records: records, perMinute: perMinute, closers: true})
	t.Logf("produced %d records (%d minutes of event time) in %v", b.produced, records/perMinute, time.Since(began).Round(time.Millisecond))

	// Only the addresses, names and paths are set: every other setting
	// is the default. No idle timeout is needed: the backlog ends with a
	// record of every campaign a minute past the data, which moves each
	// partition's own watermark past the last window.
	dir := t.TempDir()
	csv := filepath.Join(dir, "campaigns.csv")
	if err := os.WriteFile(csv, []byte(campaignsCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "output_data")
	env := map[string]string{
		"KAFKA_SERVER":       broker,
		"TOPIC_NAME":         topic,
		"CONSUMER_GROUP_ID":  "e2e-" + topic,
		"CAMPAIGNS_CSV_PATH": csv,
		"OUTPUT_DIR":         out,
	}
	started := time.Now()
	c := startConsumer(t, env)
	// The race-built consumer reads this backlog in 10 to 25 s on a
	// shared 2-core machine. A consumer capped at a few MiB per interval,
	// as it once was, would need over four minutes: the deadline catches
	// that too, with room for a loaded machine.
	var maxLag int64
	waitFor(t, 3*time.Minute, "the backlog read", func() bool {
		if c.Exited() {
			t.Fatalf("the consumer exited on its own")
		}
		st, ok := c.state(t)
		var lag int64
		for _, p := range st.Partitions {
			lag += p.Lag
		}
		maxLag = max(maxLag, lag)
		return ok && st.Totals.Read == b.produced
	})
	caughtUp := time.Since(started)
	waitAllRows(t, out, len(b.rows), 2*time.Minute, c)
	t.Logf("consumer: backlog read %v after start (highest lag seen %d), every row written %v after start",
		caughtUp.Round(time.Millisecond), maxLag, time.Since(started).Round(time.Millisecond))

	// Each window's file was written once: as many writes as files.
	written, ok := c.metric(t, "viewlog_consumer_window_files_written_total", nil)
	files, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.parquet"))
	if !ok || int(written) != len(files) {
		t.Errorf("%v file writes for %d files: a window was written more than once", written, len(files))
	}
	stopAll(t, c)

	checkRows(t, readOutput(t, out), &dataset{rows: b.rows})
	checkFiles(t, out)
	got := exitTotals(t, c.Proc)
	if got["read"] != b.produced || got["aggregated"] != b.produced {
		t.Errorf("consumer read %d and aggregated %d of %d records produced", got["read"], got["aggregated"], b.produced)
	}
	checkBalanced(t, got)
}

// backlog is what produceBacklog wrote.
type backlog struct {
	produced int64
	rows     map[string]expected // by outRow.key()
}

// backlogSpec is a stream of valid records for produceBacklog.
type backlogSpec struct {
	// from is the first record's event time; it advances perMinute
	// records a minute of event time.
	from               time.Time
	records, perMinute int
	// closers adds one record of every campaign a minute after the last,
	// in windows that stay open and are not in the expected rows.
	closers bool
}

// produceBacklog writes spec's records, keyed by campaign in random order,
// and returns the rows the consumer must write for them. Values are built
// in memory and streamed to kcat, or, without kcat, sent with franz-go,
// many batches in flight, so that millions of records take seconds. It
// checks that the topic then holds exactly what was produced.
func produceBacklog(t *testing.T, broker, topic string, spec backlogSpec) backlog {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	before := topicSize(t, broker, topic)
	w := newBulkWriter(t, ctx, broker, topic)

	keys := map[int][]byte{}
	for c := range networks {
		keys[c] = []byte(strconv.Itoa(c))
	}
	campaignIDs := make([]int, 0, len(networks))
	for c := 10; c <= 140; c += 10 {
		campaignIDs = append(campaignIDs, c)
	}
	b := backlog{rows: map[string]expected{}}
	type cell struct {
		campaign int
		minute   time.Time
	}
	rows := map[cell]expected{}
	rng := rand.New(rand.NewPCG(7, 11))
	step := time.Minute / time.Duration(spec.perMinute)
	// Timestamps as the producer writes them, formatted once per second.
	from := spec.from.Add(-5 * time.Minute).Truncate(time.Second)
	var stamps [][]byte
	stamp := func(t time.Time) []byte {
		i := int(t.Sub(from) / time.Second)
		for len(stamps) <= i {
			stamps = append(stamps, from.Add(time.Duration(len(stamps))*time.Second).UTC().AppendFormat(nil, time.RFC3339))
		}
		return stamps[i]
	}
	send := func(i int, campaign int, end time.Time, dur time.Duration) {
		w.write(keys[campaign], viewJSON(i, campaign, stamp(end.Add(-dur)), stamp(end)))
		b.produced++
	}
	for i := range spec.records {
		c := campaignIDs[rng.IntN(len(campaignIDs))]
		end := spec.from.Add(time.Duration(i) * step).Truncate(time.Second)
		dur := time.Duration(1+rng.IntN(300)) * time.Second
		send(i, c, end, dur)
		k := cell{c, end.Truncate(time.Minute)}
		e := rows[k]
		e.count++
		e.sum += int64(dur / time.Second)
		rows[k] = e
	}
	for k, e := range rows {
		b.rows[fmt.Sprintf("%d/%s/%d", networks[k.campaign], k.minute.Format("2006-01-02_15-04-05"), k.campaign)] = e
	}
	// The closers: past the data's last minute by more than the
	// watermark delay, in windows of their own that stay open.
	if spec.closers {
		last := spec.from.Add(time.Duration(spec.records-1) * step).Truncate(time.Minute)
		for j, c := range campaignIDs {
			send(spec.records+j, c, last.Add(time.Minute+15*time.Second), time.Second)
		}
	}
	if err := w.close(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if n := topicSize(t, broker, topic) - before; n != b.produced {
		t.Fatalf("the topic took %d records of the %d produced", n, b.produced)
	}
	return b
}

// bulkWriter sends records to a topic as fast as it can: through kcat's
// standard input if kcat is installed, else with franz-go.
type bulkWriter struct {
	write func(key, value []byte)
	close func() error
}

func newBulkWriter(t *testing.T, ctx context.Context, broker, topic string) bulkWriter {
	t.Helper()
	if path, err := exec.LookPath("kcat"); err == nil {
		// Idempotent, so that a retried batch is neither doubled nor
		// reordered.
		cmd := exec.CommandContext(ctx, path, "-P", "-b", broker, "-t", topic, "-K", "\t",
			"-X", "partitioner=murmur2_random", "-X", "acks=all", "-X", "enable.idempotence=true")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		bw := bufio.NewWriterSize(in, 1<<20)
		var werr error
		return bulkWriter{
			write: func(key, value []byte) {
				if werr == nil {
					_, werr = bw.Write(key)
					bw.WriteByte('\t')
					bw.Write(value)
					bw.WriteByte('\n')
				}
			},
			close: func() error {
				werr = errors.Join(werr, bw.Flush(), in.Close())
				if err := cmd.Wait(); err != nil {
					return fmt.Errorf("kcat: %w: %s", err, stderr.Bytes())
				}
				return werr
			},
		}
	}
	t.Log("kcat not found (apt-get install kcat); producing the backlog with franz-go, which is slower")
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(broker),
		kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(1<<16),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			firstErr = cmp.Or(firstErr, err)
			mu.Unlock()
		}
	}
	return bulkWriter{
		write: func(key, value []byte) { cl.Produce(ctx, &kgo.Record{Key: key, Value: value}, done) },
		close: func() error {
			defer cl.Close()
			if err := cl.Flush(ctx); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			return firstErr
		},
	}
}

// topicSize is how many records topic holds, 0 if it does not exist.
func topicSize(t *testing.T, broker, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// viewJSON is the record the producer would send for view i, with a
// canonical UUID as its view_id, as the producer's are, and the given
// timestamps.
func viewJSON(i, campaign int, start, end []byte) []byte {
	var id [16]byte
	for k := range 8 {
		id[15-k] = byte(uint64(i) >> (8 * k))
	}
	id[6], id[8] = 0x40, 0x80 // version 4, RFC 4122 variant
	v := make([]byte, 0, 192)
	v = append(v, `{"view_id":"`...)
	v = hex.AppendEncode(v, id[0:4])
	v = append(v, '-')
	v = hex.AppendEncode(v, id[4:6])
	v = append(v, '-')
	v = hex.AppendEncode(v, id[6:8])
	v = append(v, '-')
	v = hex.AppendEncode(v, id[8:10])
	v = append(v, '-')
	v = hex.AppendEncode(v, id[10:16])
	v = append(v, `","start_timestamp":"`...)
	v = append(v, start...)
	v = append(v, `","end_timestamp":"`...)
	v = append(v, end...)
	v = append(v, `","banner_id":`...)
	v = strconv.AppendInt(v, int64(1+i%50), 10)
	v = append(v, `,"campaign_id":`...)
	v = strconv.AppendInt(v, int64(campaign), 10)
	return append(v, '}')
}
