package consumer

import (
	"log/slog"
	"strconv"
	"strings"

	"github.com/viewlog/viewlog/internal/record"
)

// Counts is where records went. Every record read lands in exactly one of
// Aggregated, Duplicate, Late, Unknown or Rejected, so
// Read == Aggregated + Duplicate + Late + Unknown + sum(Rejected).
type Counts struct {
	Read       int64
	Aggregated int64
	Duplicate  int64
	Late       int64
	// Unknown counts records whose campaign is not in campaigns.csv.
	Unknown  int64
	Rejected map[record.Reason]int64
}

func (c *Counts) reject(r record.Reason) {
	if c.Rejected == nil {
		c.Rejected = make(map[record.Reason]int64)
	}
	c.Rejected[r]++
}

// RejectedTotal is the sum over reasons.
func (c Counts) RejectedTotal() int64 {
	var n int64
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

// Balanced reports whether every record read is accounted for once.
func (c Counts) Balanced() bool {
	return c.Read == c.Aggregated+c.Duplicate+c.Late+c.Unknown+c.RejectedTotal()
}

func (c *Counts) add(o Counts) {
	c.Read += o.Read
	c.Aggregated += o.Aggregated
	c.Duplicate += o.Duplicate
	c.Late += o.Late
	c.Unknown += o.Unknown
	for r, v := range o.Rejected {
		if c.Rejected == nil {
			c.Rejected = make(map[record.Reason]int64)
		}
		c.Rejected[r] += v
	}
}

// LogValue renders the counts as one group of log attributes. Rejections
// are listed by reason, only the reasons that occurred, as reason:count.
func (c Counts) LogValue() slog.Value {
	var by []string
	for _, r := range record.RejectReasons() {
		if n := c.Rejected[r]; n > 0 {
			by = append(by, r.String()+":"+strconv.FormatInt(n, 10))
		}
	}
	return slog.GroupValue(
		slog.Int64("read", c.Read),
		slog.Int64("aggregated", c.Aggregated),
		slog.Int64("duplicate", c.Duplicate),
		slog.Int64("late", c.Late),
		slog.Int64("unknown_campaign", c.Unknown),
		slog.Int64("rejected", c.RejectedTotal()),
		slog.String("rejected_by", strings.Join(by, ",")),
	)
}
