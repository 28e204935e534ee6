package consumer

import (
	"context"
	"log/slog"
	"time"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/output"
	"github.com/viewlog/viewlog/internal/window"
)

// BatchReport is what one batch did, published to the observers (the batch
// log line, the metrics, the status page) once the batch is durable and
// committed, or has failed.
type BatchReport struct {
	Generation int32
	Seq        int
	// Began is when the batch's first record was taken, Cut when the
	// batch was closed, Done when it was durable and committed. A report
	// with Done zero is published at the cut, before the batch is made
	// durable: it carries only the partitions as of the cut.
	Began, Cut, Done time.Time
	Counts           Counts
	// Totals are the counts since the consumer started, this batch
	// included.
	Totals       Counts
	Files        []FileReport
	DeadLettered int
	// Advances is how many idle advances were committed first.
	Advances int
	// CampaignsVersion is the campaign table in use: 1 at start, one more
	// at each reload that added campaigns.
	CampaignsVersion int
	// Commits are the checkpoints committed; CommitErr says why they were
	// not.
	Commits   []kafkaio.Commit
	CommitErr error
	// Err is why the batch could not be made durable; nothing of it was
	// committed.
	Err        error
	Partitions []PartitionReport
}

// FileReport is one file a batch wrote.
type FileReport struct {
	Key       string
	File      *output.File
	WrittenAt time.Time
}

// PartitionReport is one assigned partition as of the batch's cut.
type PartitionReport struct {
	Partition int
	// LogEnd is the broker's high-water mark, Next the next offset to read.
	LogEnd, Next int64
	// Checkpoint is what the batch commits for the partition; Committed
	// is the offset committed for it once the batch is done.
	Checkpoint   window.Checkpoint
	Committed    int64
	OpenWindows  int
	LastRecordAt time.Time
	// Idle says the partition is caught up and has been quiet for
	// PARTITION_IDLE_TIMEOUT; its watermark then follows the group's
	// event time, Follows (valid if HasFollows).
	Idle       bool
	Follows    int64
	HasFollows bool
	// CampaignsSince is the offset from which the campaign table in use
	// (BatchReport.CampaignsVersion) applies to the partition.
	CampaignsSince int64
	// Campaigns and Additions go into the partition's checkpoint.
	Campaigns string
	Additions []addition
}

// Lag is how many records the partition has that are not read yet.
func (p PartitionReport) Lag() int64 { return max(p.LogEnd-p.Next, 0) }

// Lag is the total over the report's partitions.
func (r *BatchReport) Lag() int64 {
	var n int64
	for _, p := range r.Partitions {
		n += p.Lag()
	}
	return n
}

// Pending reports whether this is the report published at the cut, before
// the batch is durable.
func (r *BatchReport) Pending() bool { return r.Done.IsZero() }

// empty reports whether the batch did nothing worth a log line.
func (r *BatchReport) empty() bool {
	return r.Counts.Read == 0 && len(r.Files) == 0 && len(r.Commits) == 0 && r.Advances == 0 && r.Err == nil && r.CommitErr == nil
}

// LogReports writes the batch log line: one line per batch that did
// something, with counts by category and reason, files written, dead
// letters, offsets committed, duration, lag and, while behind, an estimate
// of the time to catch up; plus the running totals.
type LogReports struct {
	Log *slog.Logger
	// rate is records read per second, smoothed over recent batches.
	rate   float64
	lastAt time.Time
}

// ObserveBatch implements Observer.
func (l *LogReports) ObserveBatch(r *BatchReport) {
	if r.Pending() {
		return
	}
	if !l.lastAt.IsZero() {
		if d := r.Cut.Sub(l.lastAt).Seconds(); d > 0 {
			inst := float64(r.Counts.Read) / d
			if l.rate == 0 {
				l.rate = inst
			} else {
				l.rate = 0.7*l.rate + 0.3*inst
			}
		}
	}
	l.lastAt = r.Cut
	level := slog.LevelInfo
	if r.empty() {
		level = slog.LevelDebug
	}
	if r.Err != nil {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.Any("counts", r.Counts.LogValue()),
		slog.Int("windows_written", len(r.Files)),
		slog.Int("dead_lettered", r.DeadLettered),
		slog.Int("offsets_committed", len(r.Commits)),
		slog.Int("idle_advances", r.Advances),
		slog.Int("campaigns_version", r.CampaignsVersion),
		slog.Duration("duration", r.Done.Sub(r.Began).Round(time.Microsecond)),
		slog.Int64("lag", r.Lag()),
	}
	if lag := r.Lag(); lag > 0 && l.rate > 0 {
		attrs = append(attrs, slog.Duration("catch_up_in", time.Duration(float64(lag)/l.rate*float64(time.Second)).Round(time.Second)))
	}
	if r.CommitErr != nil {
		attrs = append(attrs, slog.String("commit_error", r.CommitErr.Error()))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("error", r.Err.Error()))
	}
	attrs = append(attrs, slog.Any("total", r.Totals.LogValue()))
	l.Log.LogAttrs(context.Background(), level, "batch", attrs...)
}
