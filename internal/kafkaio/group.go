package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupConfig configures a consumer group member.
type GroupConfig struct {
	Topic   string
	GroupID string
	// Latest makes a partition with no committed offset start at its end
	// instead of its beginning.
	Latest         bool
	SessionTimeout time.Duration
}

// Group is one member of a consumer group.
type Group struct {
	cfg     GroupConfig
	log     *slog.Logger
	group   *kafka.ConsumerGroup
	client  *kafka.Client
	dialer  *kafka.Dialer
	brokers []string
}

// NewGroup joins the group lazily: the first Next call sends the join.
func (c *Client) NewGroup(cfg GroupConfig) (*Group, error) {
	log := c.log
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.GroupID,
		Brokers:               c.cfg.Brokers,
		Dialer:                c.dialer,
		Topics:                []string{cfg.Topic},
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.SessionTimeout,
		HeartbeatInterval:     max(cfg.SessionTimeout/5, time.Second),
		JoinGroupBackoff:      2 * time.Second,
		WatchPartitionChanges: true,
		// Partitions appearing later (a topic created after the group
		// started, or grown) trigger a rebalance after this long.
		PartitionWatchInterval: 2 * time.Second,
		Logger:                 slogLogger{log: log, level: slog.LevelDebug},
		ErrorLogger:            slogLogger{log: log, level: slog.LevelWarn},
	})
	if err != nil {
		return nil, fmt.Errorf("consumer group %s: %w", cfg.GroupID, err)
	}
	return &Group{
		cfg:     cfg,
		log:     log,
		group:   cg,
		client:  c.Requests(10 * time.Second),
		dialer:  c.dialer,
		brokers: c.cfg.Brokers,
	}, nil
}

// Close leaves the group, so that others take over its partitions at once
// rather than after the session timeout.
func (g *Group) Close() error { return g.group.Close() }

// Claim is a partition assigned in a generation and where it was left.
type Claim struct {
	Partition int
	// Committed is the group's committed offset, or -1 if none.
	Committed int64
	// Metadata is the string committed with the offset.
	Metadata string
}

// Generation is one assignment of partitions to this member. It ends when the
// group rebalances.
type Generation struct {
	group  *Group
	gen    *kafka.Generation
	Claims []Claim
}

// ErrGroupClosed is returned by Next after Close.
var ErrGroupClosed = kafka.ErrGroupClosed

// Next waits for the next generation and fetches the committed offsets and
// metadata of the partitions it assigns. It retries what fails, logging,
// until ctx is done.
func (g *Group) Next(ctx context.Context) (*Generation, error) {
	for {
		gen, err := g.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil, err
			}
			g.log.Warn("join consumer group failed, retrying", "group", g.cfg.GroupID, "err", err)
			continue
		}
		out := &Generation{group: g, gen: gen}
		var parts []int
		for _, a := range gen.Assignments[g.cfg.Topic] {
			parts = append(parts, a.ID)
		}
		slices.Sort(parts)
		claims, err := g.fetchCommitted(ctx, parts)
		if err != nil {
			// End this generation: kafka-go joins the next one only
			// after a function started in the current one returns.
			gen.Start(func(context.Context) {})
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			g.log.Warn("fetch committed offsets failed, rejoining", "group", g.cfg.GroupID, "retry_in", time.Second, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		out.Claims = claims
		return out, nil
	}
}

func (g *Group) fetchCommitted(ctx context.Context, parts []int) ([]Claim, error) {
	claims := make([]Claim, len(parts))
	for i, p := range parts {
		claims[i] = Claim{Partition: p, Committed: -1}
	}
	if len(parts) == 0 {
		return claims, nil
	}
	resp, err := g.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: g.cfg.GroupID,
		Topics:  map[string][]int{g.cfg.Topic: parts},
	})
	if err != nil {
		return nil, fmt.Errorf("offset fetch: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("offset fetch: %w", resp.Error)
	}
	for _, op := range resp.Topics[g.cfg.Topic] {
		if op.Error != nil {
			return nil, fmt.Errorf("offset fetch partition %d: %w", op.Partition, op.Error)
		}
		for i := range claims {
			if claims[i].Partition == op.Partition {
				claims[i].Committed = op.CommittedOffset
				claims[i].Metadata = op.Metadata
			}
		}
	}
	return claims, nil
}

// CommittedAll returns the group's committed offset and metadata for every
// partition of the topic, whichever member owns it: one metadata request
// for the partitions, one OffsetFetch for their offsets. Members publish
// their partitions' watermarks in the metadata, so this is how a member
// learns the group's event time.
func (g *Group) CommittedAll(ctx context.Context) ([]Claim, error) {
	resp, err := g.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{g.cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", g.cfg.Topic, err)
	}
	var parts []int
	for _, t := range resp.Topics {
		if t.Name != g.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", g.cfg.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	slices.Sort(parts)
	return g.fetchCommitted(ctx, parts)
}

// Run calls fn and returns what it returns. The context fn gets is done when
// the generation ends (the group rebalances, or the coordinator is lost);
// fn must then return promptly. The group does not rejoin before fn has
// returned, so nothing fn does overlaps the next generation of this member.
func (gen *Generation) Run(fn func(genCtx context.Context) error) error {
	errc := make(chan error, 1)
	gen.gen.Start(func(genCtx context.Context) { errc <- fn(genCtx) })
	return <-errc
}

// ID is the generation id.
func (gen *Generation) ID() int32 { return gen.gen.ID }

// Commit is one partition's offset and metadata to commit.
type Commit struct {
	Partition int
	Offset    int64
	Metadata  string
}

// Commit commits offsets under this generation. The broker refuses it once
// the group has moved to another generation, which is what keeps a member
// that lost a partition from overwriting its new owner's progress.
func (gen *Generation) Commit(ctx context.Context, commits []Commit) error {
	if len(commits) == 0 {
		return nil
	}
	oc := make([]kafka.OffsetCommit, len(commits))
	for i, c := range commits {
		oc[i] = kafka.OffsetCommit{Partition: c.Partition, Offset: c.Offset, Metadata: c.Metadata}
	}
	g := gen.group
	resp, err := g.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      g.cfg.GroupID,
		GenerationID: int(gen.gen.ID),
		MemberID:     gen.gen.MemberID,
		Topics:       map[string][]kafka.OffsetCommit{g.cfg.Topic: oc},
	})
	if err != nil {
		return fmt.Errorf("offset commit: %w", err)
	}
	var errs []error
	for _, p := range resp.Topics[g.cfg.Topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("offset commit partition %d: %w", p.Partition, p.Error))
		}
	}
	return errors.Join(errs...)
}
