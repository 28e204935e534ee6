package consumer

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/viewlog/viewlog/internal/record"
)

// Status keeps what /api/state serves: the consumer's state as of its last
// batch, for scripts and for the dashboard. It observes batch reports and is
// safe for concurrent use.
type Status struct {
	topic, group string
	health       *Health
	campaigns    func() CampaignsInfo
	now          func() time.Time

	mu         sync.Mutex
	generation int32
	partitions []PartitionReport
	totals     Counts
	// reads is records read per batch cut over the last minute, for the
	// rate.
	reads   []timedCount
	history []historyPoint
	windows []windowRow
	files   []fileRow
}

// CampaignsInfo describes the campaign table in use.
type CampaignsInfo struct {
	Version  int       `json:"version"`
	Count    int       `json:"count"`
	LoadedAt time.Time `json:"loaded_at"`
	// Rejected is why the last change to campaigns.csv that was not
	// taken was refused; empty if none was.
	Rejected   string    `json:"rejected,omitempty"`
	RejectedAt time.Time `json:"rejected_at,omitzero"`
}

type timedCount struct {
	at time.Time
	n  int64
}

type historyPoint struct {
	Time             time.Time `json:"time"`
	RecordsPerSecond float64   `json:"records_per_second"`
	Lag              int64     `json:"lag"`
}

type windowRow struct {
	CampaignID  int32     `json:"campaign_id"`
	NetworkID   int32     `json:"network_id"`
	WindowStart time.Time `json:"window_start"`
	Count       int64     `json:"count"`
	AvgDuration float64   `json:"avg_duration"`
}

type fileRow struct {
	Key       string    `json:"key"`
	WrittenAt time.Time `json:"written_at"`
	Rows      int       `json:"rows"`
}

// How much history Status keeps.
const (
	historyPoints  = 600 // at most one a second: ten minutes
	windowStarts   = 60  // rows of the newest 60 window starts written
	newestFiles    = 20
	rateSpan       = time.Minute
	historyEvery   = time.Second
	maxRateSamples = 10000
)

// NewStatus returns the status of a consumer of topic in group. campaigns
// describes the campaign table in use; now is the clock.
func NewStatus(topic, group string, health *Health, campaigns func() CampaignsInfo, now func() time.Time) *Status {
	return &Status{topic: topic, group: group, health: health, campaigns: campaigns, now: now}
}

// ObserveBatch implements Observer.
func (s *Status) ObserveBatch(r *BatchReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Pending() {
		// Partitions as of the newest cut: a batch is done after the
		// next one has been cut.
		s.generation = r.Generation
		s.partitions = slices.Clone(r.Partitions)
		return
	}
	s.totals = Counts{}
	s.totals.add(r.Totals)

	s.reads = append(s.reads, timedCount{r.Cut, r.Counts.Read})
	cutoff := r.Cut.Add(-rateSpan)
	i := 0
	for i < len(s.reads) && (s.reads[i].at.Before(cutoff) || len(s.reads)-i > maxRateSamples) {
		i++
	}
	s.reads = s.reads[i:]

	// One history point a second at most: catching up, batches come
	// many a second.
	if n := len(s.history); n > 0 && r.Cut.Sub(s.history[n-1].Time) < historyEvery {
		s.history[n-1].Lag = r.Lag()
	} else {
		s.history = append(s.history, historyPoint{Time: r.Cut, RecordsPerSecond: s.rateLocked(r.Cut), Lag: r.Lag()})
		if len(s.history) > historyPoints {
			s.history = slices.Delete(s.history, 0, len(s.history)-historyPoints)
		}
	}

	for _, f := range r.Files {
		for _, row := range f.File.Rows {
			s.windows = append(s.windows, windowRow{CampaignID: row.CampaignID, NetworkID: f.File.NetworkID,
				WindowStart: row.WindowStart.UTC(), Count: row.TotalCount, AvgDuration: row.AvgDuration})
		}
		s.files = append(s.files, fileRow{Key: f.Key, WrittenAt: f.WrittenAt.UTC(), Rows: len(f.File.Rows)})
	}
	if len(s.files) > newestFiles {
		s.files = slices.Delete(s.files, 0, len(s.files)-newestFiles)
	}
	s.trimWindowsLocked()
}

// trimWindowsLocked keeps the rows of the newest windowStarts window starts.
func (s *Status) trimWindowsLocked() {
	starts := map[time.Time]bool{}
	for _, w := range s.windows {
		starts[w.WindowStart] = true
	}
	if len(starts) <= windowStarts {
		return
	}
	keep := make([]time.Time, 0, len(starts))
	for t := range starts {
		keep = append(keep, t)
	}
	slices.SortFunc(keep, func(a, b time.Time) int { return b.Compare(a) })
	oldest := keep[windowStarts-1]
	s.windows = slices.DeleteFunc(s.windows, func(w windowRow) bool { return w.WindowStart.Before(oldest) })
}

// rateLocked is records read per second over the minute before now.
func (s *Status) rateLocked(now time.Time) float64 {
	if len(s.reads) == 0 {
		return 0
	}
	var n int64
	for _, c := range s.reads {
		if !c.at.Before(now.Add(-rateSpan)) {
			n += c.n
		}
	}
	span := min(now.Sub(s.reads[0].at), rateSpan)
	if len(s.reads) == 1 || span <= 0 {
		span = rateSpan
	}
	return float64(n) / span.Seconds()
}

// State is the JSON /api/state serves.
type State struct {
	Service          string           `json:"service"`
	Time             time.Time        `json:"time"`
	Topic            string           `json:"topic"`
	Group            string           `json:"group"`
	Generation       int32            `json:"generation"`
	Ready            ReadyState       `json:"ready"`
	Campaigns        CampaignsInfo    `json:"campaigns"`
	Partitions       []PartitionState `json:"partitions"`
	Totals           TotalsState      `json:"totals"`
	RecordsPerSecond float64          `json:"records_per_second"`
	History          []historyPoint   `json:"history"`
	Windows          []windowRow      `json:"windows"`
	Files            []fileRow        `json:"files"`
}

// ReadyState is the readiness probe's answer.
type ReadyState struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// PartitionState is one owned partition.
type PartitionState struct {
	Partition        int        `json:"partition"`
	LogEnd           int64      `json:"log_end"`
	NextOffset       int64      `json:"next_offset"`
	Committed        int64      `json:"committed"`
	Lag              int64      `json:"lag"`
	Uncommitted      int64      `json:"uncommitted"`
	Watermark        *time.Time `json:"watermark"`
	Idle             bool       `json:"idle"`
	FollowsWatermark *time.Time `json:"follows_watermark"`
	OpenWindows      int        `json:"open_windows"`
	// CampaignsSince is the offset from which the campaign table in use
	// applies to the partition.
	CampaignsSince int64 `json:"campaigns_since"`
}

// TotalsState is where the records read since start went.
type TotalsState struct {
	Read            int64            `json:"read"`
	Aggregated      int64            `json:"aggregated"`
	Duplicate       int64            `json:"duplicate"`
	Late            int64            `json:"late"`
	UnknownCampaign int64            `json:"unknown_campaign"`
	Rejected        int64            `json:"rejected"`
	RejectedBy      map[string]int64 `json:"rejected_by"`
}

// TotalsOf is c as /api/state and the consumer's exit summary show it.
func TotalsOf(c Counts) TotalsState {
	t := TotalsState{Read: c.Read, Aggregated: c.Aggregated, Duplicate: c.Duplicate, Late: c.Late,
		UnknownCampaign: c.Unknown, Rejected: c.RejectedTotal(), RejectedBy: map[string]int64{}}
	for _, r := range record.RejectReasons() {
		if n := c.Rejected[r]; n > 0 {
			t.RejectedBy[r.String()] = n
		}
	}
	return t
}

// State returns the current state.
func (s *Status) State() State {
	now := s.now()
	st := State{Service: "consumer", Time: now.UTC(), Topic: s.topic, Group: s.group, Ready: ReadyState{OK: true}}
	if err := s.health.Ready(); err != nil {
		st.Ready = ReadyState{Reason: err.Error()}
	}
	if s.campaigns != nil {
		st.Campaigns = s.campaigns()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Generation = s.generation
	st.Partitions = make([]PartitionState, 0, len(s.partitions))
	for _, p := range s.partitions {
		ps := PartitionState{Partition: p.Partition, LogEnd: p.LogEnd, NextOffset: p.Next, Committed: p.Committed,
			Lag: p.Lag(), Uncommitted: max(p.LogEnd-p.Committed, 0), OpenWindows: p.OpenWindows}
		if p.Checkpoint.HasWatermark {
			wm := time.Unix(0, p.Checkpoint.Watermark).UTC()
			ps.Watermark = &wm
		}
		ps.Idle = p.Idle
		ps.CampaignsSince = p.CampaignsSince
		if p.HasFollows {
			f := time.Unix(0, p.Follows).UTC()
			ps.FollowsWatermark = &f
		}
		st.Partitions = append(st.Partitions, ps)
	}
	st.Totals = TotalsOf(s.totals)
	st.RecordsPerSecond = s.rateLocked(now)
	st.History = append([]historyPoint{}, s.history...)
	st.Windows = append([]windowRow{}, s.windows...)
	st.Files = make([]fileRow, 0, len(s.files))
	for i := len(s.files) - 1; i >= 0; i-- {
		st.Files = append(st.Files, s.files[i])
	}
	return st
}

// Handler serves State as JSON.
func (s *Status) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.State()) // a client gone away is not an error of ours
	})
}
