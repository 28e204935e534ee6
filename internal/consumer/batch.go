package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/output"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// batch is what one micro-batch produced: the files of the windows that
// closed, the records to dead-letter, and each partition's checkpoint. The
// flusher makes the first two durable, in that order, and only then commits
// the third.
type batch struct {
	seq        int
	generation int32
	began, cut time.Time
	counts     Counts
	files      []output.File
	dead       []partitionDead
	partitions []PartitionReport
	// advances are the idle advances of this batch, committed before its
	// files are written.
	advances         []partitionAdvance
	campaignsVersion int
}

// partitionAdvance is one partition's idle advance.
type partitionAdvance struct {
	partition int
	advance   advance
}

// process aggregates one fetch.
func (g *generation) process(ch *chunk) {
	p := ch.partition
	p.logEnd, p.next = ch.logEnd, ch.next
	if len(ch.items) == 0 {
		p.applyPending(ch.next)
		return
	}
	p.lastRecord = ch.at
	g.batchRecords += len(ch.items)
	table := g.c.tables.current
	for i := range ch.items {
		it := &ch.items[i]
		if p.pending != nil {
			p.applyPending(it.offset)
		}
		p.counts.Read++
		if it.reason != record.Valid {
			p.counts.reject(it.reason)
			p.deadLetter(it.offset, outcomeRejected, it.reason)
			p.state.Skip(it.offset)
			continue
		}
		if !p.known(it.offset, it.ev.Campaign, table) {
			p.counts.Unknown++
			p.deadLetter(it.offset, outcomeUnknown, record.Valid)
			p.state.Skip(it.offset)
			continue
		}
		switch p.state.Add(it.offset, &it.ev) {
		case window.Aggregated:
			p.counts.Aggregated++
		case window.Duplicate:
			p.counts.Duplicate++
		case window.Late:
			p.counts.Late++
			p.deadLetter(it.offset, outcomeLate, record.Valid)
		}
	}
	p.applyPending(ch.next)
}

// applyPending applies the pending idle advance once every record below its
// offset has been aggregated, that is once the partition is read up to it.
func (p *partition) applyPending(next int64) {
	if p.pending != nil && next >= p.pending.At {
		p.state.AdvanceTo(p.pending.Watermark)
		p.pending = nil
	}
}

// deadLetter queues the record at offset for the dead-letter topic, unless
// the partition handled it before its last checkpoint: a replayed late
// record may well be in an output row written before a crash, and a
// replayed rejected record was dead-lettered then.
func (p *partition) deadLetter(offset int64, o outcome, reason record.Reason) {
	if p.state.Replayed(offset) {
		return
	}
	p.dead = append(p.dead, deadRef{offset: offset, outcome: o, reason: reason})
}

// files joins closed windows with their networks and groups them into one
// file per network and window.
func (c *Consumer) files(partitionID int, closed []window.Aggregate) []output.File {
	type key struct {
		network int32
		start   int64
	}
	byKey := make(map[key]*output.File)
	var order []key
	for _, a := range closed {
		camp, _ := c.tables.current.Lookup(a.CampaignID) // unknown campaigns never reach a window
		k := key{camp.NetworkID, a.Start.UnixNano()}
		f := byKey[k]
		if f == nil {
			f = &output.File{NetworkID: camp.NetworkID, WindowStart: a.Start, Topic: c.cfg.Topic, Partition: partitionID}
			byKey[k] = f
			order = append(order, k)
		}
		f.Rows = append(f.Rows, output.Row{
			CampaignID:  a.CampaignID,
			AvgDuration: a.AvgDuration(),
			TotalCount:  a.Count,
			SumDuration: a.SumDuration,
			WindowStart: a.Start,
			WindowEnd:   a.End,
		})
	}
	slices.SortFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.network, b.network))
	})
	out := make([]output.File, len(order))
	for i, k := range order {
		out[i] = *byKey[k]
	}
	return out
}

// flusher makes batches durable and commits them, one at a time, in order.
// Once a batch could not be made durable, no later batch of the generation
// is committed either: its checkpoints would cover the unwritten windows.
type flusher struct {
	c         *Consumer
	committer Committer
	originals Originals
	parts     map[int]*partition
	// committed is each partition's last committed checkpoint.
	committed map[int]checkpoint
	failed    error
	// backoff is the first pause between attempts of a failed write.
	backoff time.Duration
}

func newFlusher(c *Consumer, committer Committer, originals Originals, parts []*partition) *flusher {
	f := &flusher{c: c, committer: committer, originals: originals, parts: map[int]*partition{},
		committed: make(map[int]checkpoint, len(parts)), backoff: time.Second}
	for _, p := range parts {
		f.parts[p.id] = p
		f.committed[p.id] = p.resumed
	}
	return f
}

// run flushes the batches it receives until batches is closed. It returns
// nil: failures are reported to the observers and logged.
func (f *flusher) run(ctx context.Context, batches <-chan *batch) error {
	for b := range batches {
		r := f.flush(ctx, b)
		f.setCommitted(r)
		f.c.observe(r)
	}
	return nil
}

// flush writes b's files, then its dead letters, then commits the
// checkpoints that moved, and reports what it did.
func (f *flusher) flush(ctx context.Context, b *batch) *BatchReport {
	r := &BatchReport{
		CampaignsVersion: b.campaignsVersion,
		Generation:       b.generation,
		Seq:              b.seq,
		Began:            b.began,
		Cut:              b.cut,
		Counts:           b.counts,
		Partitions:       b.partitions,
	}
	defer func() { r.Done = time.Now() }()
	if f.failed != nil {
		r.Err = fmt.Errorf("not written: an earlier batch failed: %w", f.failed)
		return r
	}
	if err := f.commitAdvances(ctx, b, r); err != nil {
		f.failed, r.Err = err, err
		return r
	}
	if err := f.write(ctx, b, r); err != nil {
		f.failed, r.Err = err, err
		return r
	}
	if err := f.deadLetter(ctx, b, r); err != nil {
		f.failed, r.Err = err, err
		return r
	}
	f.commit(ctx, b, r)
	return r
}

// setCommitted fills in each partition's committed offset.
func (f *flusher) setCommitted(r *BatchReport) {
	for i := range r.Partitions {
		r.Partitions[i].Committed = f.committed[r.Partitions[i].Partition].Offset
	}
}

// write encodes and stores b's files, several at a time, each retried until
// it is durable or ctx is done.
func (f *flusher) write(ctx context.Context, b *batch, r *BatchReport) error {
	if len(b.files) == 0 {
		return nil
	}
	var g errgroup.Group
	g.SetLimit(f.c.cfg.WriteConcurrency)
	var mu sync.Mutex
	for i := range b.files {
		file := &b.files[i]
		g.Go(func() error {
			data, err := output.Encode(file)
			if err != nil {
				return err // a bug, not an outage: retrying cannot help
			}
			key := output.Key(file)
			err = f.retry(ctx, "window "+key, f.c.metrics.writeErrors, f.c.health.outputFailed, func() error {
				// An object store that stops answering must not hold
				// the batch forever: the attempt is retried.
				pctx, cancel := context.WithTimeout(ctx, putTimeout)
				defer cancel()
				return f.c.store.Put(pctx, key, data)
			})
			if err != nil {
				return err
			}
			mu.Lock()
			r.Files = append(r.Files, FileReport{Key: key, File: file, WrittenAt: time.Now()})
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		f.c.health.outputOK()
	}
	slices.SortFunc(r.Files, func(a, b FileReport) int { return cmp.Compare(a.Key, b.Key) })
	return err
}

// deadLetter reads the originals of b's dead letters and writes them to the
// dead-letter topic, waiting for the broker's acknowledgement.
func (f *flusher) deadLetter(ctx context.Context, b *batch, r *BatchReport) error {
	if f.c.dead == nil || len(b.dead) == 0 {
		return nil
	}
	for _, pd := range b.dead {
		var msgs map[int64]kafka.Message
		offsets := make([]int64, len(pd.refs))
		for i, ref := range pd.refs {
			offsets[i] = ref.offset
		}
		err := f.retry(ctx, "dead letters (reading the originals)", f.c.metrics.deadLetterErrors, nil, func() error {
			var err error
			msgs, err = f.originals.ReadRecords(ctx, pd.partition, offsets)
			return err
		})
		if err != nil {
			return err
		}
		out, missing := deadLetters(f.c.cfg.Topic, pd, msgs)
		if missing > 0 {
			f.c.log.Error("records to dead-letter are no longer in the log (deleted by retention); they are counted but cannot be forwarded",
				"partition", pd.partition, "count", missing)
		}
		err = f.retry(ctx, "dead letters", f.c.metrics.deadLetterErrors, nil, func() error {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return f.c.dead.WriteMessages(wctx, out...)
		})
		if err != nil {
			return err
		}
		r.DeadLettered += len(out)
	}
	return nil
}

// commitAdvances commits b's idle advances, each with its partition's last
// committed offset and watermark: what is durable does not change, but a
// replay from there applies the advance at the same offset. Once the
// generation has ended the broker refuses the commit, and the windows the
// advance finalizes are not written by this member.
func (f *flusher) commitAdvances(ctx context.Context, b *batch, r *BatchReport) error {
	if len(b.advances) == 0 {
		return nil
	}
	commits := make([]kafkaio.Commit, 0, len(b.advances))
	next := make(map[int]checkpoint, len(b.advances))
	for _, a := range b.advances {
		cp := f.committed[a.partition]
		cp.Idle, cp.Advance = true, &a.advance
		next[a.partition] = cp
		commits = append(commits, kafkaio.Commit{Partition: a.partition, Offset: cp.Offset, Metadata: encodeCheckpoint(cp)})
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := f.committer.Commit(cctx, commits); err != nil {
		f.c.health.commitFailed(err)
		return fmt.Errorf("idle advance not committed, so its windows are not written: %w", err)
	}
	maps.Copy(f.committed, next)
	r.Advances = len(commits)
	return nil
}

// commit commits every partition's checkpoint that moved. It runs even when
// ctx is done: what it commits is already durable, and committing it spares
// the next owner a replay. A failed commit is reported, not retried: the
// next batch commits a checkpoint at least as far.
func (f *flusher) commit(ctx context.Context, b *batch, r *BatchReport) {
	var commits []kafkaio.Commit
	next := make(map[int]checkpoint, len(b.partitions))
	for _, p := range b.partitions {
		cp := checkpoint{Checkpoint: p.Checkpoint, Idle: p.Idle, Campaigns: p.Campaigns, Additions: p.Additions}
		if f.committed[p.Partition].same(cp) {
			continue
		}
		next[p.Partition] = cp
		commits = append(commits, kafkaio.Commit{Partition: p.Partition, Offset: cp.Offset, Metadata: encodeCheckpoint(cp)})
	}
	if len(commits) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := f.committer.Commit(cctx, commits); err != nil {
		r.CommitErr = err
		f.c.health.commitFailed(err)
		return
	}
	f.c.health.commitOK()
	for id, cp := range next {
		f.committed[id] = cp
		if part := f.parts[id]; part != nil {
			part.committed.Store(cp.Offset)
		}
	}
	r.Commits = commits
}

// putTimeout bounds one attempt to store a file.
const putTimeout = time.Minute

// retry calls fn until it succeeds, logging and counting each failure and
// backing off from f.backoff (1 s) to 30 s, or until ctx is done. Offsets stay
// uncommitted meanwhile: what fn writes is what the commit would cover.
// failed, if not nil, is told about each failure.
func (f *flusher) retry(ctx context.Context, what string, failures prometheus.Counter, failed func(error), fn func() error) error {
	backoff := f.backoff
	for {
		f.c.health.beat()
		err := fn()
		if err == nil {
			return nil
		}
		failures.Inc()
		if failed != nil {
			failed(err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped with unwritten %s: %w", what, errors.Join(err, context.Cause(ctx)))
		}
		f.c.log.Error("writing "+what+" failed; offsets stay uncommitted, retrying", "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped with unwritten %s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
