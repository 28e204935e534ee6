package consumer

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/viewlog/viewlog/internal/record"
)

// Metrics are the consumer's Prometheus metrics. Records are counted at one
// place, per batch, labelled by outcome and reason; the per-partition gauges
// follow the partitions this member owns, and the series of a partition it
// no longer owns are deleted.
type Metrics struct {
	topic       string
	records     *prometheus.CounterVec
	windows     prometheus.Counter
	writeErrors prometheus.Counter
	// deadLetterErrors counts failed dead-letter reads and writes; each is
	// retried.
	deadLetterErrors prometheus.Counter
	commitErrors     prometheus.Counter
	batchDuration    prometheus.Histogram
	windowDelay      prometheus.Histogram
	lag              *prometheus.GaugeVec
	uncommitted      *prometheus.GaugeVec
	watermark        *prometheus.GaugeVec
	idle             *prometheus.GaugeVec
	follows          *prometheus.GaugeVec
	campaignsVersion prometheus.Gauge
	reloads          *prometheus.CounterVec
	openWindows      prometheus.Gauge
	assigned         prometheus.Gauge

	mu sync.Mutex
	// owned is the partitions with series.
	owned map[int]bool
}

// NewMetrics registers the metrics with reg; a nil reg keeps them
// unregistered.
func NewMetrics(topic string, reg prometheus.Registerer) *Metrics {
	tp := []string{"topic", "partition"}
	m := &Metrics{
		topic: topic,
		owned: map[int]bool{},
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "viewlog_consumer_records_total",
			Help: "Records read, by outcome (aggregated, duplicate, late, unknown_campaign, rejected) and rejection reason.",
		}, []string{"outcome", "reason"}),
		windows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "viewlog_consumer_window_files_written_total",
			Help: "Parquet files written, one per network, window and partition.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "viewlog_consumer_write_errors_total",
			Help: "Failed attempts to write an output file; each is retried.",
		}),
		deadLetterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "viewlog_consumer_dead_letter_errors_total",
			Help: "Failed attempts to read back or write dead letters; each is retried.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "viewlog_consumer_commit_errors_total",
			Help: "Offset commits the broker refused or that failed; the next batch commits again.",
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "viewlog_consumer_batch_duration_seconds",
			Help:    "Time from a micro-batch's first record to its output being durable and its offsets committed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		windowDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "viewlog_consumer_window_delay_seconds",
			Help:    "Wall time a window's file was written minus the window's end.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600, 1800, 3600},
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "viewlog_consumer_lag_records",
			Help: "Log end offset minus the next offset to read, per owned partition.",
		}, tp),
		uncommitted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "viewlog_consumer_uncommitted_records",
			Help: "Log end offset minus the committed offset, per owned partition.",
		}, tp),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "viewlog_consumer_watermark_seconds",
			Help: "The partition's event-time watermark, Unix seconds; windows ending at or before it are final.",
		}, tp),
		idle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "viewlog_consumer_partition_idle",
			Help: "1 if the partition is caught up and has had no record for PARTITION_IDLE_TIMEOUT, else 0.",
		}, tp),
		follows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "viewlog_consumer_followed_watermark_seconds",
			Help: "For an idle partition, the group's event time its watermark follows (the smallest watermark of the partitions that are not idle), Unix seconds.",
		}, tp),
		campaignsVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "viewlog_consumer_campaigns_version",
			Help: "The campaign table in use: 1 at start, one more at each reload of campaigns.csv that added campaigns.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "viewlog_consumer_campaign_reloads_total",
			Help: "Changes to campaigns.csv seen while running, by result: accepted (campaigns added) or rejected (does not parse, or changes or removes a campaign).",
		}, []string{"result"}),
		openWindows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "viewlog_consumer_open_windows",
			Help: "Windows not yet final, over the owned partitions.",
		}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "viewlog_consumer_assigned_partitions",
			Help: "Partitions this member owns in the current generation.",
		}),
	}
	// Create every series up front so that zeros are visible.
	for _, o := range []string{"aggregated", "duplicate", "late", "unknown_campaign"} {
		m.records.WithLabelValues(o, "")
	}
	for _, r := range record.RejectReasons() {
		m.records.WithLabelValues("rejected", r.String())
	}
	m.reloads.WithLabelValues("accepted")
	m.reloads.WithLabelValues("rejected")
	if reg != nil {
		reg.MustRegister(m.records, m.windows, m.writeErrors, m.deadLetterErrors, m.commitErrors, m.batchDuration,
			m.windowDelay, m.lag, m.uncommitted, m.watermark, m.idle, m.follows, m.campaignsVersion, m.reloads, m.openWindows, m.assigned)
	}
	return m
}

// ObserveBatch implements Observer.
func (m *Metrics) ObserveBatch(r *BatchReport) {
	// Partitions as of the newest cut: a batch is done after the next
	// one has been cut.
	if r.Pending() {
		m.observePartitions(r)
		return
	}
	m.observeDone(r)
}

func (m *Metrics) observeDone(r *BatchReport) {
	c := r.Counts
	m.records.WithLabelValues("aggregated", "").Add(float64(c.Aggregated))
	m.records.WithLabelValues("duplicate", "").Add(float64(c.Duplicate))
	m.records.WithLabelValues("late", "").Add(float64(c.Late))
	m.records.WithLabelValues("unknown_campaign", "").Add(float64(c.Unknown))
	for reason, n := range c.Rejected {
		m.records.WithLabelValues("rejected", reason.String()).Add(float64(n))
	}
	m.windows.Add(float64(len(r.Files)))
	if r.CommitErr != nil {
		m.commitErrors.Inc()
	}
	if r.Err == nil {
		m.batchDuration.Observe(r.Done.Sub(r.Began).Seconds())
	}
	for _, f := range r.Files {
		m.windowDelay.Observe(f.WrittenAt.Sub(f.File.Rows[0].WindowEnd).Seconds())
	}
}

func (m *Metrics) observeReload(accepted bool) {
	if accepted {
		m.reloads.WithLabelValues("accepted").Inc()
	} else {
		m.reloads.WithLabelValues("rejected").Inc()
	}
}

func (m *Metrics) observePartitions(r *BatchReport) {
	m.campaignsVersion.Set(float64(r.CampaignsVersion))
	m.mu.Lock()
	defer m.mu.Unlock()
	now := map[int]bool{}
	open := 0
	for _, p := range r.Partitions {
		now[p.Partition] = true
		m.owned[p.Partition] = true
		open += p.OpenWindows
		label := strconv.Itoa(p.Partition)
		m.lag.WithLabelValues(m.topic, label).Set(float64(p.Lag()))
		m.uncommitted.WithLabelValues(m.topic, label).Set(float64(max(p.LogEnd-p.Committed, 0)))
		if p.Checkpoint.HasWatermark {
			m.watermark.WithLabelValues(m.topic, label).Set(float64(p.Checkpoint.Watermark) / float64(time.Second))
		}
		idle := 0.0
		if p.Idle {
			idle = 1
		}
		m.idle.WithLabelValues(m.topic, label).Set(idle)
		if p.HasFollows {
			m.follows.WithLabelValues(m.topic, label).Set(float64(p.Follows) / float64(time.Second))
		} else {
			m.follows.DeleteLabelValues(m.topic, label)
		}
	}
	for id := range m.owned {
		if !now[id] {
			label := strconv.Itoa(id)
			m.lag.DeleteLabelValues(m.topic, label)
			m.uncommitted.DeleteLabelValues(m.topic, label)
			m.watermark.DeleteLabelValues(m.topic, label)
			m.idle.DeleteLabelValues(m.topic, label)
			m.follows.DeleteLabelValues(m.topic, label)
			delete(m.owned, id)
		}
	}
	m.openWindows.Set(float64(open))
	m.assigned.Set(float64(len(r.Partitions)))
}
