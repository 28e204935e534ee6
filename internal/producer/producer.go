// Package producer emits simulated ad views to Kafka: a batch of records
// every interval, keyed by campaign so that one campaign's views stay in one
// partition, in order.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/record"
)

// Writer is the part of kafka-go's Writer the producer uses: WriteMessages
// blocks until every message is acknowledged or has failed.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Config sets the pace.
type Config struct {
	// Interval is the pause between batches; 0 sends back to back.
	Interval  time.Duration
	BatchSize int
	// Count stops the producer after this many records; 0 runs until ctx
	// is done.
	Count int64
}

// Stats is what the producer did.
type Stats struct {
	Sent   int64 `json:"sent"`   // acknowledged by the broker
	Failed int64 `json:"failed"` // given up on after the writer's retries
}

// Producer generates views and writes them.
type Producer struct {
	cfg     Config
	log     *slog.Logger
	w       Writer
	gen     *Generator
	now     func() time.Time
	sent    atomic.Int64
	failed  atomic.Int64
	metrics *prometheus.CounterVec
}

// New returns a producer. now is the clock that stamps end_timestamp.
func New(cfg Config, log *slog.Logger, w Writer, gen *Generator, now func() time.Time, reg prometheus.Registerer) *Producer {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "viewlog_producer_records_total",
		Help: "Records the producer tried to send, by result (sent, failed).",
	}, []string{"result"})
	m.WithLabelValues("sent")
	m.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m)
	}
	return &Producer{cfg: cfg, log: log, w: w, gen: gen, now: now, metrics: m}
}

// Stats returns what was sent and what failed so far.
func (p *Producer) Stats() Stats {
	return Stats{Sent: p.sent.Load(), Failed: p.failed.Load()}
}

// Run sends batches until ctx is done or Count records were sent. A batch in
// flight when ctx is done is still delivered (or reported as failed), so that
// Ctrl-C loses nothing silently. Delivery failures are logged and counted;
// Run carries on after them.
func (p *Producer) Run(ctx context.Context) error {
	var total int64
	for ctx.Err() == nil && (p.cfg.Count == 0 || total < p.cfg.Count) {
		n := p.cfg.BatchSize
		if p.cfg.Count > 0 {
			n = int(min(int64(n), p.cfg.Count-total))
		}
		msgs, err := p.batch(n)
		if err != nil {
			return err
		}
		total += int64(n)
		p.deliver(ctx, msgs)
		if p.cfg.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(p.cfg.Interval):
			}
		}
	}
	s := p.Stats()
	p.log.Info("producer stopped", "sent", s.Sent, "failed", s.Failed)
	return nil
}

func (p *Producer) batch(n int) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, n)
	now := p.now()
	for i := range msgs {
		v := p.gen.View(now)
		b, err := record.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode view: %w", err)
		}
		msgs[i] = kafka.Message{Key: strconv.AppendInt(nil, int64(v.CampaignID), 10), Value: b}
	}
	return msgs, nil
}

// deliver writes msgs and accounts for each. kafka-go refuses a whole call
// when one message exceeds the batch size limit; that message is counted as
// failed and the others are sent again.
func (p *Producer) deliver(ctx context.Context, msgs []kafka.Message) {
	for len(msgs) > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := p.w.WriteMessages(wctx, msgs...)
		cancel()
		var tooLarge kafka.MessageTooLargeError
		if !errors.As(err, &tooLarge) {
			p.account(msgs, err)
			return
		}
		p.account([]kafka.Message{tooLarge.Message}, kafka.WriteErrors{tooLarge})
		msgs = tooLarge.Remaining
	}
}

// account counts a batch's outcome. kafka-go reports per-message failures as
// kafka.WriteErrors; any other error failed the whole batch.
func (p *Producer) account(msgs []kafka.Message, err error) {
	if err == nil {
		p.sent.Add(int64(len(msgs)))
		p.metrics.WithLabelValues("sent").Add(float64(len(msgs)))
		return
	}
	failed := int64(len(msgs))
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		failed = int64(werrs.Count())
		reasons := make(map[string]int)
		for _, e := range werrs {
			if e != nil {
				reasons[e.Error()]++
			}
		}
		for reason, n := range reasons {
			p.log.Error("records not delivered", "count", n, "reason", reason)
		}
	} else {
		p.log.Error("batch not delivered", "count", failed, "err", err)
	}
	p.failed.Add(failed)
	p.sent.Add(int64(len(msgs)) - failed)
	p.metrics.WithLabelValues("failed").Add(float64(failed))
	p.metrics.WithLabelValues("sent").Add(float64(int64(len(msgs)) - failed))
}
