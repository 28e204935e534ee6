package consumer

import (
	"context"
	"time"
)

// Idle partitions. A partition's watermark moves only with its own records,
// so a partition whose campaigns have all stopped would keep its last
// windows open for ever. A partition that is caught up and has had no
// record for Config.IdleTimeout is idle; its watermark then follows the
// group's event time: the smallest watermark among the partitions that are
// not idle, whichever member owns them, read from the checkpoints every
// member commits (as Flink combines its inputs once idle ones are left
// out). The smallest, so that one record stamped far in the future on one
// partition cannot drag the others along; and when every partition is
// idle, nothing moves, as event time does not advance without events.
//
// An advance depends on timing and on other members, so two owners of a
// partition could disagree about it, where windows that follow from the
// log alone cannot. It is therefore committed first, under the
// generation, which fences it, as "watermark W from offset E"; only then
// are the windows it finalizes written, and committed as usual. A replay
// applies it at offset E, finalizing the same windows with the same
// records; a member that lost the partition cannot commit it, and so never
// writes them.

// watchGroup reads every partition's committed checkpoint once an interval
// until ctx is done, for advanceIdle.
func (g *generation) watchGroup(ctx context.Context) {
	t := time.NewTicker(g.c.cfg.Interval)
	defer t.Stop()
	for {
		claims, err := g.c.group.CommittedAll(ctx)
		if err == nil {
			view := make(map[int]checkpoint, len(claims))
			for _, cl := range claims {
				if cl.Committed < 0 {
					// Never committed: its event time is unknown.
					view[cl.Partition] = checkpoint{}
					continue
				}
				cp, err := decodeCheckpoint(cl.Committed, cl.Metadata)
				if err != nil {
					cp = checkpoint{}
				}
				view[cl.Partition] = cp
			}
			g.groupCommitted.Store(&view)
		} else if ctx.Err() == nil {
			g.c.log.Debug("reading the group's checkpoints failed; idle partitions wait", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// advanceIdle marks which partitions are idle and moves each idle one's
// watermark to the group's, recording the advances in b to be committed
// before anything else of the batch.
func (g *generation) advanceIdle(now time.Time, b *batch) {
	timeout := g.c.cfg.IdleTimeout
	for _, p := range g.parts {
		quietSince := p.lastRecord
		if quietSince.IsZero() {
			quietSince = p.openedAt
		}
		// A partition that lags is never idle: a catch-up after an
		// outage must not close windows early.
		p.idle = timeout > 0 && p.pending == nil && p.next >= p.logEnd && now.Sub(quietSince) >= timeout
		if !p.idle {
			p.hasFollows = false
		}
	}
	for _, p := range g.parts {
		if !p.idle {
			continue
		}
		wm, ok := g.groupWatermark()
		if !ok {
			continue
		}
		p.follows, p.hasFollows = wm, true
		if own, has := p.state.Watermark(); has && wm <= own {
			continue
		}
		p.state.AdvanceTo(wm)
		b.advances = append(b.advances, partitionAdvance{partition: p.id, advance: advance{Watermark: wm, At: p.next}})
	}
}

// groupWatermark is the smallest watermark among the partitions of the
// topic that are not idle: this member's own as they are now, the others'
// as their owners last committed them. ok is false when every partition is
// idle, or when one that is not has no watermark yet (its event time is
// unknown, and could be the smallest).
func (g *generation) groupWatermark() (wm int64, ok bool) {
	view := g.groupCommitted.Load()
	if view == nil {
		return 0, false
	}
	first := true
	for id, cp := range *view {
		idle, has, w := cp.Idle, cp.HasWatermark, cp.Watermark
		if p := g.byID[id]; p != nil {
			idle = p.idle
			w, has = p.state.Watermark()
		}
		if idle {
			continue
		}
		if !has {
			return 0, false
		}
		if first || w < wm {
			wm, first = w, false
		}
	}
	return wm, !first
}
