// Package consumer is the aggregation service: it reads view records from a
// consumer group, aggregates them in event-time windows, writes each window
// once it is final, and only then commits the offsets that cover it.
//
// Micro-batches follow Spark's processing-time trigger: a batch ends every
// Config.Interval, once it holds what the broker had for its partitions at
// that moment, or as soon as it holds Config.MaxBatchRecords records, in
// which case the next one starts at once. Fetching, decoding and
// aggregating go on while the previous batch is written and committed, so
// throughput does not depend on the interval, and memory is bounded by
// MaxBatchRecords and the open windows, never by the backlog.
//
// Guarantees, and where they come from:
//   - Nothing lost: a partition's committed offset never passes the first
//     record of a window that is not yet durable (window.Partition.Checkpoint),
//     and offsets are committed only after the batch's files and dead letters
//     are durable (flusher.flush), batches in order.
//   - Nothing doubled: a window's file key depends only on its partition and
//     window, so a window written again after a crash replaces its file; and
//     the watermark committed with the offset tells a restarted consumer which
//     windows are already final, so replayed stragglers of a written window
//     are late, not a second, partial version of it.
//   - A partition belongs to one generation of one member at a time: its
//     fetcher and state live and die with the generation, and a commit from
//     a generation the group has left behind is refused by the broker.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/window"
)

// Config is what the consumer loop needs beyond its collaborators.
type Config struct {
	Topic           string
	Window          window.Config
	Interval        time.Duration
	MaxBatchRecords int
	// Fetch sizes the partition fetchers; zero means kafkaio.DefaultFetch.
	Fetch kafkaio.FetchConfig
	// WriteConcurrency bounds the files written at once; zero means 8.
	WriteConcurrency int
	// IdleTimeout is how long a caught-up partition goes without a record
	// before it is idle and its watermark follows the group's; zero turns
	// idleness off.
	IdleTimeout time.Duration
}

// Store makes output files durable. Put returns nil only once data is
// stored under key whole and would survive a crash; a reader never sees a
// partial object, and a Put on an existing key replaces it. It is called
// concurrently for different keys.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
}

// DeadLetters receives the records that are in no output row. WriteMessages
// returns nil only once the broker has acknowledged every message (kafka-go's
// Writer with RequiredAcks set and Async unset).
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Originals reads records again, whole, by offset: the fetchers keep only
// values, and only until they are decoded, so dead letters are read again
// for their keys and headers. Offsets the log no longer has are missing from
// the result.
type Originals interface {
	ReadRecords(ctx context.Context, partition int, offsets []int64) (map[int64]kafka.Message, error)
}

// Committer commits offsets under a group generation; the broker refuses
// the commit once the generation has ended.
type Committer interface {
	Commit(ctx context.Context, commits []kafkaio.Commit) error
}

// Observer is told about every batch once it is durable (or has failed),
// on the consumer's goroutine; it must not block.
type Observer interface {
	ObserveBatch(*BatchReport)
}

// Deps are the consumer's collaborators.
type Deps struct {
	Group *kafkaio.Group
	// Campaigns is the campaign table, reloaded with additions.
	Campaigns *Tables
	Store     Store
	// DeadLetters may be nil: rejected, late and unknown-campaign records
	// are then only counted.
	DeadLetters DeadLetters
	// Metrics, Health may be nil.
	Metrics *Metrics
	Health  *Health
	// Observers are told about every batch, after Metrics.
	Observers []Observer
}

// Consumer runs the micro-batch loop.
type Consumer struct {
	cfg       Config
	log       *slog.Logger
	group     *kafkaio.Group
	tables    *Tables
	store     Store
	dead      DeadLetters
	metrics   *Metrics
	health    *Health
	observers []Observer

	mu     sync.Mutex
	totals Counts
}

// errShutdown and errRebalance are the causes a generation's context is
// cancelled with: on shutdown the batch in hand is finished and committed;
// on a rebalance the partitions already belong to someone else, and
// stopping quickly is all that is left to do.
var (
	errShutdown  = errors.New("shutdown")
	errRebalance = errors.New("the group is rebalancing")
)

// New returns a consumer; Run starts it.
func New(cfg Config, log *slog.Logger, d Deps) *Consumer {
	if cfg.Fetch == (kafkaio.FetchConfig{}) {
		cfg.Fetch = kafkaio.DefaultFetch
	}
	if cfg.WriteConcurrency <= 0 {
		cfg.WriteConcurrency = 8
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(cfg.Topic, nil)
	}
	if d.Health == nil {
		d.Health = NewHealth(cfg.Interval, time.Now)
	}
	d.Campaigns.onReload = d.Metrics.observeReload
	return &Consumer{
		cfg: cfg, log: log, group: d.Group, tables: d.Campaigns, store: d.Store, dead: d.DeadLetters,
		metrics: d.Metrics, health: d.Health, observers: append([]Observer{d.Metrics}, d.Observers...),
	}
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
		c.health.joining()
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

// observe tells every observer about b and, once it is done, adds its
// counts to the totals.
func (c *Consumer) observe(b *BatchReport) {
	c.mu.Lock()
	if !b.Pending() {
		c.totals.add(b.Counts)
	}
	var t Counts
	t.add(c.totals)
	c.mu.Unlock()
	b.Totals = t
	for _, o := range c.observers {
		o.ObserveBatch(b)
	}
}
