package consumer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/viewlog/viewlog/internal/record"
)

// Metrics are the consumer's Prometheus metrics. Records are counted at one
// place, per batch, labelled by outcome and reason.
type Metrics struct {
	records     *prometheus.CounterVec
	windows     prometheus.Counter
	writeErrors prometheus.Counter
	// deadLetterErrors counts failed dead-letter writes; each is retried.
	deadLetterErrors prometheus.Counter
	batchDuration    prometheus.Histogram
}

// NewMetrics registers the metrics with reg; a nil reg keeps them
// unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
			Help: "Failed attempts to write to the dead-letter topic; each is retried.",
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "viewlog_consumer_batch_duration_seconds",
			Help:    "Time to process, write and commit one micro-batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
	}
	// Create every series up front so that zeros are visible.
	for _, o := range []string{"aggregated", "duplicate", "late", "unknown_campaign"} {
		m.records.WithLabelValues(o, "")
	}
	for _, r := range record.RejectReasons() {
		m.records.WithLabelValues("rejected", r.String())
	}
	if reg != nil {
		reg.MustRegister(m.records, m.windows, m.writeErrors, m.deadLetterErrors, m.batchDuration)
	}
	return m
}

func (m *Metrics) observeBatch(c Counts, files int, d time.Duration) {
	m.records.WithLabelValues("aggregated", "").Add(float64(c.Aggregated))
	m.records.WithLabelValues("duplicate", "").Add(float64(c.Duplicate))
	m.records.WithLabelValues("late", "").Add(float64(c.Late))
	m.records.WithLabelValues("unknown_campaign", "").Add(float64(c.Unknown))
	for r, n := range c.Rejected {
		m.records.WithLabelValues("rejected", r.String()).Add(float64(n))
	}
	m.windows.Add(float64(files))
	m.batchDuration.Observe(d.Seconds())
}
