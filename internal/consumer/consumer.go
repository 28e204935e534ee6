// Package consumer is the aggregation service: it reads view records from a
// consumer group in micro-batches, aggregates them in event-time windows,
// writes each window once it is final, and only then commits the offsets
// that cover it.
//
// Guarantees, and where they come from:
//   - Nothing lost: a partition's committed offset never passes the first
//     record of a window that is not yet durable (window.Partition.Checkpoint),
//     and offsets are committed only after the batch's files are synced and
//     renamed into place.
//   - Nothing doubled: a window's file name depends only on its partition and
//     window, so a window written again after a crash replaces its file; and
//     the watermark committed with the offset tells a restarted consumer which
//     windows are already final, so replayed stragglers of a written window
//     are late, not a second, partial version of it.
//   - A partition belongs to one generation of one member at a time: its
//     fetcher and state live and die with the generation, and a commit from
//     a generation the group has left behind is refused by the broker.
package consumer

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/parquetsink"
	"github.com/viewlog/viewlog/internal/record"
	"github.com/viewlog/viewlog/internal/window"
)

// Config is what the consumer loop needs beyond its collaborators.
type Config struct {
	Topic           string
	Window          window.Config
	Interval        time.Duration
	MaxBatchRecords int
}

// Sink makes output files durable. Write returns nil only once the file
// would survive a crash.
type Sink interface {
	Write(parquetsink.File) error
}

// DeadLetters receives the records that are in no output row. WriteMessages
// returns nil only once the broker has acknowledged every message (kafka-go's
// Writer with RequiredAcks set and Async unset).
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Consumer runs the micro-batch loop.
type Consumer struct {
	cfg       Config
	log       *slog.Logger
	group     *kafkaio.Group
	campaigns *campaigns.Table
	sink      Sink
	dead      DeadLetters
	metrics   *Metrics

	mu     sync.Mutex
	totals Counts
}

// New returns a consumer; Run starts it. dead may be nil: rejected, late
// and unknown-campaign records are then only counted.
func New(cfg Config, log *slog.Logger, group *kafkaio.Group, table *campaigns.Table, sink Sink, dead DeadLetters, metrics *Metrics) *Consumer {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Consumer{cfg: cfg, log: log, group: group, campaigns: table, sink: sink, dead: dead, metrics: metrics}
}

// Totals returns the counts since start.
func (c *Consumer) Totals() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t Counts
	t.add(c.totals)
	return t
}

// Run consumes until ctx is done, then finishes the batch in hand, commits
// what is durable, leaves the group and returns nil. It returns an error only
// for failures that retrying cannot fix.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.leaveGroup()
	for {
		gen, err := c.group.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("consumer group: %w", err)
		}
		c.log.Info("partitions assigned", "generation", gen.ID(), "partitions", claimedPartitions(gen.Claims))
		if err := gen.Run(func(genCtx context.Context) error { return c.runGeneration(ctx, genCtx, gen) }); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Info("generation ended; rejoining", "generation", gen.ID())
	}
}

// leaveGroup leaves the group so that others take over at once, but waits
// at most a few seconds: kafka-go rejoins as soon as a generation ends, and
// that join can block until a dead member's session expires. Shutdown must
// not wait for it; the broker drops this member after its session timeout
// anyway.
func (c *Consumer) leaveGroup() {
	done := make(chan error, 1)
	go func() { done <- c.group.Close() }()
	select {
	case err := <-done:
		if err != nil {
			c.log.Warn("leave consumer group", "err", err)
		}
	case <-time.After(3 * time.Second):
		c.log.Warn("leaving the consumer group is taking long; exiting without waiting (the broker expires this member after its session timeout)")
	}
}

func claimedPartitions(cs []kafkaio.Claim) []int {
	ps := make([]int, len(cs))
	for i, c := range cs {
		ps[i] = c.Partition
	}
	return ps
}

// partition is one assigned partition's reader and aggregation state.
type partition struct {
	id        int
	reader    *kafkaio.PartitionReader
	state     *window.Partition
	committed window.Checkpoint
	pending   []kafkaio.Fetched
	counts    Counts
	closed    []window.Aggregate
	dead      []kafka.Message
}

// runGeneration consumes the generation's partitions until the generation
// ends or ctx is done.
func (c *Consumer) runGeneration(ctx, genCtx context.Context, gen *kafkaio.Generation) error {
	parts := make(map[int]*partition, len(gen.Claims))
	defer func() {
		for _, p := range parts {
			p.reader.Close()
		}
	}()
	for _, cl := range gen.Claims {
		reader, start, err := c.group.OpenPartition(genCtx, cl.Partition, cl.Committed)
		if err != nil {
			c.log.Warn("open partition failed; rejoining the group", "partition", cl.Partition, "err", err)
			select {
			case <-genCtx.Done():
			case <-time.After(2 * time.Second):
			}
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
		parts[cl.Partition] = &partition{id: cl.Partition, reader: reader, state: window.NewPartition(c.cfg.Window, cp), committed: cp}
		c.log.Info("partition resumed", "partition", cl.Partition, "offset", start,
			"watermark", formatWatermark(cp), "committed", cl.Committed)
	}

	// Fetchers stop when the generation ends or on shutdown, whichever
	// comes first; the loop below then finishes its batch.
	fetchCtx, stopFetch := context.WithCancel(genCtx)
	defer stopFetch()
	stopOnShutdown := context.AfterFunc(ctx, stopFetch)
	defer stopOnShutdown()
	in := make(chan kafkaio.Fetched, 2*len(parts)+1)
	var fetchers errgroup.Group
	for _, p := range parts {
		fetchers.Go(func() error { return p.reader.Run(fetchCtx, in) })
	}
	defer fetchers.Wait() //nolint:errcheck // readers return nil
	defer stopFetch()

	ticker := time.NewTicker(c.cfg.Interval)
	defer ticker.Stop()
	full := false
	for {
		if !full {
			select {
			case <-ctx.Done():
				return nil
			case <-genCtx.Done():
				return nil
			case <-ticker.C:
			}
		}
		n := c.collect(in, parts)
		full = n >= c.cfg.MaxBatchRecords
		if err := c.batch(ctx, genCtx, gen, parts); err != nil {
			if ctx.Err() != nil || genCtx.Err() != nil {
				return nil
			}
			return err
		}
		if ctx.Err() != nil || genCtx.Err() != nil {
			return nil
		}
	}
}

// collect takes what the fetchers hold, without waiting, up to about
// MaxBatchRecords, and returns how many records it took.
func (c *Consumer) collect(in <-chan kafkaio.Fetched, parts map[int]*partition) int {
	n := 0
	for n < c.cfg.MaxBatchRecords {
		select {
		case f := <-in:
			parts[f.Partition].pending = append(parts[f.Partition].pending, f)
			n += len(f.Messages)
		default:
			return n
		}
	}
	return n
}

// batch processes what collect took, writes the windows that closed and
// commits. Partitions are independent, so they are processed in parallel.
func (c *Consumer) batch(ctx, genCtx context.Context, gen *kafkaio.Generation, parts map[int]*partition) error {
	began := time.Now()
	var wg sync.WaitGroup
	for _, p := range parts {
		if len(p.pending) == 0 {
			continue
		}
		wg.Go(func() { c.process(p) })
	}
	wg.Wait()

	var counts Counts
	var files []parquetsink.File
	var dead []kafka.Message
	for _, p := range parts {
		counts.add(p.counts)
		p.counts = Counts{}
		files = append(files, c.files(p.id, p.closed)...)
		p.closed = nil
		dead = append(dead, p.dead...)
		p.dead = p.dead[:0]
	}
	// Both must be durable before the commit that covers them. If either
	// fails for good, nothing of this batch is committed; whoever owns the
	// partitions next rebuilds it from the committed offsets.
	if err := c.write(ctx, genCtx, files); err != nil {
		return err
	}
	if err := c.deadLetter(ctx, genCtx, dead); err != nil {
		return err
	}
	committed, err := c.commit(ctx, gen, parts)
	if err != nil {
		c.log.Warn("offset commit failed; the records since the last commit will be read again", "err", err)
	}
	c.mu.Lock()
	c.totals.add(counts)
	totals := c.totals
	c.mu.Unlock()
	c.metrics.observeBatch(counts, len(files), time.Since(began))
	c.log.Info("batch",
		"counts", counts.LogValue(),
		"windows_written", len(files),
		"dead_lettered", len(dead),
		"offsets_committed", committed,
		"duration", time.Since(began).Round(time.Microsecond),
		"total", totals.LogValue(),
	)
	if !counts.Balanced() {
		return fmt.Errorf("records unaccounted for in batch: %+v", counts)
	}
	return nil
}

// process decodes and aggregates one partition's pending records.
func (c *Consumer) process(p *partition) {
	for _, f := range p.pending {
		for i := range f.Messages {
			m := &f.Messages[i]
			p.counts.Read++
			v, reason := record.Decode(m.Value)
			if reason != record.Valid {
				p.counts.reject(reason)
				c.addDeadLetter(p, m, "rejected", reason.String())
				p.state.Skip(m.Offset)
				continue
			}
			if _, ok := c.campaigns.Lookup(v.CampaignID); !ok {
				p.counts.Unknown++
				c.addDeadLetter(p, m, "unknown_campaign", "")
				p.state.Skip(m.Offset)
				continue
			}
			switch p.state.Add(m.Offset, v) {
			case window.Aggregated:
				p.counts.Aggregated++
			case window.Duplicate:
				p.counts.Duplicate++
			case window.Late:
				p.counts.Late++
				c.addDeadLetter(p, m, "late", "")
			}
		}
	}
	p.pending = p.pending[:0]
	p.closed = append(p.closed, p.state.TakeClosed()...)
}

// Dead-letter headers. The original key, value and headers are kept.
const (
	HeaderOutcome   = "viewlog.outcome" // rejected, late or unknown_campaign
	HeaderReason    = "viewlog.reason"  // the rejection reason
	HeaderTopic     = "viewlog.source.topic"
	HeaderPartition = "viewlog.source.partition"
	HeaderOffset    = "viewlog.source.offset"
	// HeaderValueSize is set when the value was cut to record.MaxSize.
	HeaderValueSize = "viewlog.value_size"
)

// addDeadLetter queues m for the dead-letter topic, unless the partition
// handled it before its last checkpoint: a replayed late record may well be
// in an output row written before a crash, and a replayed rejected record
// was dead-lettered then.
func (c *Consumer) addDeadLetter(p *partition, m *kafka.Message, outcome, reason string) {
	if c.dead == nil || p.state.Replayed(m.Offset) {
		return
	}
	headers := make([]kafka.Header, 0, len(m.Headers)+5)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderOutcome, Value: []byte(outcome)},
		kafka.Header{Key: HeaderTopic, Value: []byte(c.cfg.Topic)},
		kafka.Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(p.id), 10)},
		kafka.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
	)
	if reason != "" {
		headers = append(headers, kafka.Header{Key: HeaderReason, Value: []byte(reason)})
	}
	value := m.Value
	if len(value) > record.MaxSize {
		// Keep the dead letter well under the broker's message size
		// limit, or it could never be written and would block commits.
		headers = append(headers, kafka.Header{Key: HeaderValueSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:record.MaxSize]
	}
	p.dead = append(p.dead, kafka.Message{Key: m.Key, Value: value, Headers: headers})
}

// deadLetter writes the batch's dead letters and waits for the broker's
// acknowledgement.
func (c *Consumer) deadLetter(ctx, genCtx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return c.retry(ctx, genCtx, "dead letters", c.metrics.deadLetterErrors, func() error {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return c.dead.WriteMessages(wctx, msgs...)
	})
}

// files joins closed windows with their networks and groups them into one
// file per network and window.
func (c *Consumer) files(partitionID int, closed []window.Aggregate) []parquetsink.File {
	type key struct {
		network int32
		start   int64
	}
	byKey := make(map[key]*parquetsink.File)
	var order []key
	for _, a := range closed {
		camp, _ := c.campaigns.Lookup(a.CampaignID) // unknown campaigns never reach a window
		k := key{camp.NetworkID, a.Start.UnixNano()}
		f := byKey[k]
		if f == nil {
			f = &parquetsink.File{NetworkID: camp.NetworkID, WindowStart: a.Start, Topic: c.cfg.Topic, Partition: partitionID}
			byKey[k] = f
			order = append(order, k)
		}
		f.Rows = append(f.Rows, parquetsink.Row{
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
	out := make([]parquetsink.File, len(order))
	for i, k := range order {
		out[i] = *byKey[k]
	}
	return out
}

// write makes every file durable.
func (c *Consumer) write(ctx, genCtx context.Context, files []parquetsink.File) error {
	for _, f := range files {
		if err := c.retry(ctx, genCtx, "windows", c.metrics.writeErrors, func() error { return c.sink.Write(f) }); err != nil {
			return err
		}
	}
	return nil
}

// retry calls fn until it succeeds, logging and counting each failure and
// backing off from 1 s to 30 s, or until the generation ends or the consumer
// stops. Offsets stay uncommitted meanwhile: what fn writes is what the
// commit would cover.
func (c *Consumer) retry(ctx, genCtx context.Context, what string, failures prometheus.Counter, fn func() error) error {
	backoff := time.Second
	for {
		err := fn()
		if err == nil {
			return nil
		}
		failures.Inc()
		c.log.Error("writing "+what+" failed; offsets stay uncommitted, retrying", "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped with unwritten %s: %w", what, err)
		case <-genCtx.Done():
			return fmt.Errorf("generation ended with unwritten %s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// commit commits every partition's checkpoint that moved. It runs even when
// ctx is done: what it commits is already durable, and committing it spares
// the next owner a replay.
func (c *Consumer) commit(ctx context.Context, gen *kafkaio.Generation, parts map[int]*partition) (int, error) {
	var commits []kafkaio.Commit
	var moved []*partition
	for _, p := range parts {
		cp := p.state.Checkpoint()
		if cp == p.committed {
			continue
		}
		commits = append(commits, kafkaio.Commit{Partition: p.id, Offset: cp.Offset, Metadata: encodeCheckpoint(cp)})
		moved = append(moved, p)
	}
	if len(commits) == 0 {
		return 0, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := gen.Commit(cctx, commits); err != nil {
		return 0, err
	}
	for _, p := range moved {
		p.committed = p.state.Checkpoint()
	}
	return len(commits), nil
}

func formatWatermark(cp window.Checkpoint) string {
	if !cp.HasWatermark {
		return "none"
	}
	return time.Unix(0, cp.Watermark).UTC().Format(time.RFC3339Nano)
}
