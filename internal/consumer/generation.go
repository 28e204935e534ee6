package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// partition is one assigned partition's reader and aggregation state. The
// batch loop owns it; the fetcher only reads id.
type partition struct {
	id     int
	reader *kafkaio.PartitionReader
	state  *window.Partition

	// What the fetcher last reported.
	logEnd int64 // the broker's high-water mark
	next   int64 // the next offset to read
	// lastRecord is when a fetch last brought records; zero if none has
	// in this generation.
	lastRecord time.Time
	// committed is the offset last committed; the flusher sets it.
	committed atomic.Int64

	// openedAt is when the generation opened the partition: the start of
	// its quiet time if no record comes.
	openedAt time.Time
	// idle is whether the partition was idle at the last cut, follows the
	// group watermark it then followed (valid if idle and hasFollows).
	idle       bool
	follows    int64
	hasFollows bool
	// pending is an idle advance read from the committed checkpoint, to
	// be applied once the replay has aggregated every record below it.
	pending *advance
	// resumed is the checkpoint the partition resumed from.
	resumed checkpoint
	// replay classifies replayed records' campaigns as the first pass did;
	// adds are the campaign reloads of this generation, campaignsSince
	// the offset from which the table in use applies.
	replay         *replayRules
	adds           []addition
	campaignsSince int64

	// This batch so far.
	counts Counts
	dead   []deadRef
}

// item is one fetched record, decoded, as the batch loop takes it.
type item struct {
	offset int64
	// reason is why the record was rejected, or record.Valid.
	reason record.Reason
	ev     window.Event
}

// chunk is one fetch, decoded by the fetcher's goroutine.
type chunk struct {
	partition *partition
	logEnd    int64
	next      int64
	at        time.Time
	items     []item
}

// chunksInFlight bounds, per partition, the fetches decoded and waiting for
// the batch loop: fetching runs ahead of aggregation by at most this many.
const chunksInFlight = 4

// generation is one assignment of partitions: their fetchers, the batch
// loop that aggregates what they fetch, and the flusher that makes batches
// durable and commits them.
type generation struct {
	c     *Consumer
	gen   *kafkaio.Generation
	parts []*partition // by id
	byID  map[int]*partition
	in    chan *chunk
	free  chan *chunk

	// The batch being built.
	batchSeq     int
	batchBegan   time.Time
	batchRecords int
	// cutDue is set by the interval's tick; the batch is cut once every
	// partition has been read up to target, what the broker held then.
	cutDue   bool
	cutDueAt time.Time
	targets  map[int]int64
	flushes  chan *batch
	// groupCommitted is the latest view of every partition's committed
	// checkpoint, whichever member owns it; nil until the first fetch.
	groupCommitted atomic.Pointer[map[int]checkpoint]
}

// runGeneration consumes the generation's partitions until the generation
// ends or ctx is done.
func (c *Consumer) runGeneration(ctx, genCtx context.Context, gen *kafkaio.Generation) error {
	// One context for everything the generation runs; its cause says why
	// it ended.
	runCtx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopOnShutdown := context.AfterFunc(ctx, func() { cancel(errShutdown) })
	defer stopOnShutdown()
	stopOnRebalance := context.AfterFunc(genCtx, func() { cancel(errRebalance) })
	defer stopOnRebalance()

	g := &generation{c: c, gen: gen, byID: make(map[int]*partition, len(gen.Claims)), targets: map[int]int64{}}
	defer func() {
		for _, p := range g.parts {
			p.reader.Close()
		}
	}()
	for _, cl := range gen.Claims {
		reader, start, logEnd, err := c.group.OpenPartition(runCtx, cl.Partition, cl.Committed, c.cfg.Fetch)
		if err != nil {
			if runCtx.Err() != nil {
				return nil
			}
			c.log.Warn("open partition failed; rejoining the group", "partition", cl.Partition, "err", err)
			sleep(runCtx, 2*time.Second)
			return nil
		}
		cp, err := decodeCheckpoint(start, cl.Metadata)
		if err != nil {
			c.log.Warn("ignoring unreadable checkpoint metadata; windows before the committed offset cannot be recognized as final",
				"partition", cl.Partition, "err", err)
		}
		if start != cl.Committed {
			cp.Processed = start
		}
		p := &partition{id: cl.Partition, reader: reader, state: window.NewPartition(c.cfg.Window, cp.Checkpoint),
			logEnd: logEnd, next: start, openedAt: time.Now(), resumed: cp, campaignsSince: start}
		p.committed.Store(start)
		if p.replay, err = newReplayRules(cp); err != nil {
			c.log.Warn("ignoring unreadable campaign history in the checkpoint; replayed records are classified with the table in use",
				"partition", cl.Partition, "err", err)
			p.replay = &replayRules{until: cp.Processed}
		}
		if a := cp.Advance; a != nil {
			// An idle advance committed before a crash or a handover:
			// applied at the same offset, it finalizes the same windows.
			p.pending = a
			p.applyPending(start)
		}
		g.parts = append(g.parts, p)
		g.byID[p.id] = p
		c.log.Info("partition resumed", "partition", cl.Partition, "offset", start,
			"watermark", formatWatermark(cp.Checkpoint), "committed", cl.Committed, "log_end", logEnd)
	}
	slices.SortFunc(g.parts, func(a, b *partition) int { return a.id - b.id })
	g.in = make(chan *chunk, chunksInFlight*max(len(g.parts), 1))
	g.free = make(chan *chunk, cap(g.in)+len(g.parts)+1)

	f := newFlusher(c, gen, c.group, g.parts)
	// The flusher gets its own context: on a rebalance it stops at once,
	// on shutdown it gets a few seconds to finish the batch in hand.
	flushCtx, stopFlush := context.WithCancel(context.Background())
	defer stopFlush()
	stopFlushOnRebalance := context.AfterFunc(genCtx, stopFlush)
	defer stopFlushOnRebalance()
	stopFlushAfterGrace := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, stopFlush) })
	defer stopFlushAfterGrace()

	g.flushes = make(chan *batch)
	var workers errgroup.Group
	workers.Go(func() error { return f.run(flushCtx, g.flushes) })
	fetchers, fetchCtx := errgroup.WithContext(runCtx)
	for _, p := range g.parts {
		fetchers.Go(func() error { return p.reader.Run(fetchCtx, g.decoder(fetchCtx, p)) })
	}
	if c.cfg.IdleTimeout > 0 && len(g.parts) > 0 {
		fetchers.Go(func() error { g.watchGroup(fetchCtx); return nil })
	}

	loopErr := g.loop(runCtx)
	// Fetchers stop with runCtx; a fetcher that failed (its handler
	// cannot fail but on a closed context) stopped the loop already.
	cancel(errShutdown)
	ferr := fetchers.Wait()
	if loopErr == nil && errors.Is(context.Cause(runCtx), errShutdown) {
		// Finish the batch in hand: what was fetched is aggregated and
		// written, and committed if the generation still holds.
		g.drain()
		loopErr = g.cut()
	}
	close(g.flushes)
	werr := workers.Wait()
	return errors.Join(loopErr, ferr, werr)
}

// shutdownGrace is how long, after a shutdown signal, the batch in hand may
// take to become durable and be committed.
const shutdownGrace = 7 * time.Second

// decoder returns the handler that decodes p's fetches on the fetcher's
// goroutine and hands them to the batch loop.
func (g *generation) decoder(ctx context.Context, p *partition) kafkaio.FetchHandler {
	return func(f *kafkaio.Fetch) error {
		var c *chunk
		select {
		case c = <-g.free:
		default:
			c = &chunk{}
		}
		c.partition, c.logEnd, c.next, c.at = p, f.HighWatermark, f.Next, f.At
		items := c.items[:0]
		var v record.View
		for i := range f.Records {
			r := &f.Records[i]
			it := item{offset: r.Offset, reason: record.TooLarge}
			if r.Size == len(r.Value) {
				v, it.reason = record.Decode(r.Value)
				if it.reason == record.Valid {
					it.ev = window.EventOf(&v)
				}
			}
			items = append(items, it)
		}
		c.items = items
		select {
		case g.in <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// loop aggregates what the fetchers deliver and cuts batches until ctx is
// done. It returns an error only for a broken invariant.
func (g *generation) loop(ctx context.Context) error {
	interval := g.c.cfg.Interval
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	g.startBatch(time.Now())
	for {
		g.c.health.beat()
		select {
		case <-ctx.Done():
			return nil
		case ch := <-g.in:
			g.process(ch)
			g.recycle(ch)
		case now := <-ticker.C:
			g.reloadCampaigns()
			if !g.cutDue {
				g.due(now)
			}
		}
		if g.batchRecords >= g.c.cfg.MaxBatchRecords || (g.cutDue && g.caughtUpToTargets(interval)) {
			if err := g.cut(); err != nil {
				return err
			}
		}
	}
}

// caughtUpToTargets reports whether every partition has been read up to
// what the broker held when the interval's tick came, or whether waiting
// for that has taken a whole interval (a partition whose leader is away
// must not hold the others' output back).
func (g *generation) caughtUpToTargets(interval time.Duration) bool {
	if time.Since(g.cutDueAt) >= interval {
		return true
	}
	for _, p := range g.parts {
		if p.next < g.targets[p.id] {
			return false
		}
	}
	return true
}

// drain aggregates the fetches already waiting, without waiting for more.
func (g *generation) drain() {
	for {
		select {
		case ch := <-g.in:
			g.process(ch)
			g.recycle(ch)
		default:
			return
		}
	}
}

func (g *generation) recycle(ch *chunk) {
	ch.partition = nil
	select {
	case g.free <- ch:
	default:
	}
}

// startBatch begins a batch. After a batch that stopped at
// MAX_BATCH_RECORDS, the next one is due at once, as Spark starts the next
// trigger at once when the previous one ran over: it ends as soon as it has
// what the broker holds now, instead of waiting for the interval's tick.
func (g *generation) startBatch(now time.Time) {
	full := g.batchRecords >= g.c.cfg.MaxBatchRecords
	g.batchSeq++
	g.batchBegan = now
	g.batchRecords = 0
	g.cutDue = false
	clear(g.targets)
	if full {
		g.due(now)
	}
}

// due marks the batch to be cut once every partition is read up to what
// the broker holds now.
func (g *generation) due(now time.Time) {
	g.cutDue, g.cutDueAt = true, now
	for _, p := range g.parts {
		g.targets[p.id] = p.logEnd
	}
}

// cut ends the batch: it takes every partition's closed windows, dead
// letters and checkpoint, and hands them to the flusher, waiting while the
// flusher is busy with the previous batch.
func (g *generation) cut() error {
	now := time.Now()
	b := &batch{seq: g.batchSeq, generation: g.gen.ID(), began: g.batchBegan, cut: now, campaignsVersion: g.c.tables.version}
	g.advanceIdle(now, b)
	for _, p := range g.parts {
		b.counts.add(p.counts)
		b.files = append(b.files, g.c.files(p.id, p.state.TakeClosed())...)
		if len(p.dead) > 0 {
			b.dead = append(b.dead, partitionDead{partition: p.id, refs: p.dead})
			p.dead = nil
		}
		cp := p.state.Checkpoint()
		b.partitions = append(b.partitions, PartitionReport{
			Partition:      p.id,
			LogEnd:         p.logEnd,
			Next:           p.next,
			Checkpoint:     cp,
			OpenWindows:    p.state.OpenWindows(),
			LastRecordAt:   p.lastRecord,
			Committed:      p.committed.Load(),
			Idle:           p.idle,
			Follows:        p.follows,
			HasFollows:     p.idle && p.hasFollows,
			CampaignsSince: p.campaignsSince,
			Campaigns:      g.c.tables.encoded,
			Additions:      p.additionsAbove(cp.Offset),
		})
		p.counts = Counts{}
	}
	if !b.counts.Balanced() {
		return fmt.Errorf("records unaccounted for in batch %d: %+v", b.seq, b.counts)
	}
	g.startBatch(now)
	// Observers see the partitions as of the cut at once: the batch may
	// wait for the previous one, or for an output that is down.
	g.c.observe(&BatchReport{Generation: b.generation, Seq: b.seq, Began: b.began, Cut: b.cut, Partitions: slices.Clone(b.partitions),
		CampaignsVersion: b.campaignsVersion})
	// Never abandoned, even on shutdown: the partitions' state has moved
	// past this batch, so a later checkpoint would cover its windows. The
	// flusher takes it once done with the previous batch, which it gives
	// up on when the generation ends or the shutdown grace is over.
	g.flushes <- b
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func formatWatermark(cp window.Checkpoint) string {
	if !cp.HasWatermark {
		return "none"
	}
	return time.Unix(0, cp.Watermark).UTC().Format(time.RFC3339Nano)
}

// reloadCampaigns takes additions to campaigns.csv: they apply to each
// partition from its next offset on, which its checkpoints record for
// replays.
func (g *generation) reloadCampaigns() {
	added, err := g.c.tables.reload()
	if err != nil {
		g.c.log.Error("campaigns.csv not taken; the table in use is kept", "version", g.c.tables.version, "err", err)
		return
	}
	if len(added) == 0 {
		return
	}
	ids := make([]int32, len(added))
	for i, c := range added {
		ids[i] = c.CampaignID
	}
	enc := campaigns.EncodeIDs(ids)
	since := map[int]int64{}
	for _, p := range g.parts {
		p.adds = append(p.adds, addition{From: p.next, IDs: enc, ids: ids})
		p.campaignsSince = p.next
		since[p.id] = p.next
	}
	g.c.log.Info("campaigns.csv reloaded", "version", g.c.tables.version, "added", ids, "campaigns", g.c.tables.current.Len(), "applies_from", since)
}
