package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/output"
	"github.com/viewlog/viewlog/internal/window"
)

// events records what the collaborators of a flush saw, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// failingStore fails the first fails Puts of each key.
type failingStore struct {
	ev    *events
	fails int
	mu    sync.Mutex
	tries map[string]int
}

func (s *failingStore) Put(_ context.Context, key string, data []byte) error {
	s.mu.Lock()
	s.tries[key]++
	n := s.tries[key]
	s.mu.Unlock()
	if n <= s.fails {
		s.ev.add("put %s failed", key)
		return errors.New("disk full")
	}
	s.ev.add("put %s", key)
	return nil
}

type recordingDead struct {
	ev    *events
	fails int
	msgs  []kafka.Message
}

func (d *recordingDead) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	if d.fails > 0 {
		d.fails--
		d.ev.add("dead letters failed")
		return errors.New("broker away")
	}
	d.ev.add("dead letters %d", len(msgs))
	d.msgs = append(d.msgs, msgs...)
	return nil
}

type originals struct{}

func (originals) ReadRecords(_ context.Context, partition int, offsets []int64) (map[int64]kafka.Message, error) {
	out := map[int64]kafka.Message{}
	for _, o := range offsets {
		out[o] = kafka.Message{Key: []byte("k"), Value: fmt.Appendf(nil, "p%d-o%d", partition, o)}
	}
	return out, nil
}

type recordingCommitter struct {
	ev      *events
	commits [][]kafkaio.Commit
}

func (c *recordingCommitter) Commit(_ context.Context, commits []kafkaio.Commit) error {
	c.ev.add("commit %d", len(commits))
	c.commits = append(c.commits, commits)
	return nil
}

// flushSetup is a flusher with test collaborators and a batch of two files,
// two dead letters and a moved checkpoint of partition 3.
func flushSetup(t *testing.T, putFails, deadFails int) (*flusher, *batch, *events, *recordingCommitter, *recordingDead) {
	t.Helper()
	table, err := campaigns.Parse(strings.NewReader("network_id,campaign_id,campaign_name\n1,10,a\n2,40,b\n"))
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	dead := &recordingDead{ev: ev, fails: deadFails}
	c := New(Config{Topic: "views", Interval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)), Deps{
		Campaigns:   NewTables("", table, time.Now),
		Store:       &failingStore{ev: ev, fails: putFails, tries: map[string]int{}},
		DeadLetters: dead,
	})
	committer := &recordingCommitter{ev: ev}
	p := &partition{id: 3, state: window.NewPartition(window.Config{Size: time.Minute}, window.Checkpoint{Offset: 100, Processed: 100})}
	f := newFlusher(c, committer, originals{}, []*partition{p})
	f.backoff = time.Millisecond
	start := time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)
	b := &batch{
		counts: Counts{Read: 5, Aggregated: 3, Late: 1, Unknown: 1},
		files: c.files(3, []window.Aggregate{
			{CampaignID: 10, Start: start, End: start.Add(time.Minute), SumDuration: 30, Count: 2},
			{CampaignID: 40, Start: start, End: start.Add(time.Minute), SumDuration: 5, Count: 1},
		}),
		dead: []partitionDead{{partition: 3, refs: []deadRef{{offset: 101, outcome: outcomeLate}, {offset: 104, outcome: outcomeUnknown}}}},
		partitions: []PartitionReport{{Partition: 3, Checkpoint: window.Checkpoint{Offset: 105, Processed: 105,
			Watermark: start.Add(time.Minute).UnixNano(), HasWatermark: true}}},
	}
	return f, b, ev, committer, dead
}

// The commit rule, without a broker: a batch's offsets are committed only
// after every file of the batch is durable and its dead letters are
// acknowledged, however many times the store or the dead-letter topic
// failed first; and then they are committed with the watermark.
func TestFlushCommitsOnlyAfterOutputIsDurable(t *testing.T) {
	for _, tt := range []struct{ putFails, deadFails int }{{0, 0}, {3, 0}, {0, 2}, {2, 2}} {
		t.Run(fmt.Sprintf("put fails %d, dead letters fail %d", tt.putFails, tt.deadFails), func(t *testing.T) {
			f, b, ev, committer, dead := flushSetup(t, tt.putFails, tt.deadFails)
			r := f.flush(t.Context(), b)
			if r.Err != nil || r.CommitErr != nil {
				t.Fatalf("flush: %v, commit: %v", r.Err, r.CommitErr)
			}
			log := ev.all()
			committedAt := slices.Index(log, "commit 1")
			if committedAt != len(log)-1 {
				t.Fatalf("the commit is not the last step: %q", log)
			}
			puts := 0
			for _, e := range log[:committedAt] {
				if strings.HasPrefix(e, "put ") && !strings.HasSuffix(e, "failed") {
					puts++
				}
			}
			if puts != 2 || log[committedAt-1] != "dead letters 2" {
				t.Fatalf("committed before both files (%d) and the dead letters were durable: %q", puts, log)
			}
			c := committer.commits[0][0]
			cp, err := decodeCheckpoint(c.Offset, c.Metadata)
			if c.Partition != 3 || err != nil || cp.Checkpoint != b.partitions[0].Checkpoint || cp.Idle || cp.Advance != nil {
				t.Fatalf("committed %+v (%+v, %v), want the batch's checkpoint %+v", c, cp, err, b.partitions[0].Checkpoint)
			}
			if len(r.Files) != 2 || r.DeadLettered != 2 || string(dead.msgs[1].Value) != "p3-o104" ||
				!slices.ContainsFunc(dead.msgs[1].Headers, func(h kafka.Header) bool {
					return h.Key == HeaderOutcome && string(h.Value) == "unknown_campaign"
				}) {
				t.Fatalf("report %+v, dead letters %+v", r, dead.msgs)
			}
		})
	}
}

// A batch whose output cannot be made durable before the generation ends
// is not committed, and neither is any batch after it: their checkpoints
// would cover its windows.
func TestFlushNeverCommitsPastAFailedBatch(t *testing.T) {
	f, b, ev, committer, _ := flushSetup(t, 1_000_000, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if r := f.flush(ctx, b); r.Err == nil {
		t.Fatal("flush succeeded with a store that always fails")
	}
	f.c.store = &failingStore{ev: ev, tries: map[string]int{}}
	_, next, _, _, _ := flushSetup(t, 0, 0)
	if r := f.flush(t.Context(), next); r.Err == nil {
		t.Fatal("a batch after a failed one was flushed")
	}
	if len(committer.commits) != 0 {
		t.Fatalf("committed %v", committer.commits)
	}
	for _, e := range ev.all() {
		if strings.HasPrefix(e, "dead letters") {
			t.Fatalf("dead letters written for an unwritten batch: %q", ev.all())
		}
	}
}

// Files are keyed and encoded as the output package lays them out.
func TestBatchFiles(t *testing.T) {
	_, b, _, _, _ := flushSetup(t, 0, 0)
	var keys []string
	for i := range b.files {
		keys = append(keys, output.Key(&b.files[i]))
	}
	want := []string{
		"network_id=1/minute_timestamp=2024-09-11_10-00-00/part-views-00003.parquet",
		"network_id=2/minute_timestamp=2024-09-11_10-00-00/part-views-00003.parquet",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
}
