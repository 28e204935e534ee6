// Package producer emits simulated ad views to Kafka: a batch of records
// every interval, keyed by campaign so that one campaign's views stay in one
// partition, in order. At interval 0 it is a load generator: it generates
// without pause and keeps many records in flight.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/kafkaio"
)

// Writer is the part of an asynchronous kafka-go Writer the producer uses.
// WriteMessages hands messages over and returns without waiting for the
// broker; it fails only for messages it did not take (all of them, or the
// one a kafka.MessageTooLargeError names). The writer then calls the
// completion function it was made with exactly once for every message it
// took, with the broker's verdict, from its own goroutines. Close sends what
// the writer still holds and returns once every completion has been called.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// NewWriter makes the writer a producer sends with: it puts at most
// batchSize records in one produce request, and reports to complete.
type NewWriter func(batchSize int, complete func(msgs []kafka.Message, err error)) Writer

// KafkaWriter makes the producer's writers from client: kafka-go Writers on
// topic, asynchronous, with client's transport and the pipeline's
// partitioning and acknowledgement settings.
func KafkaWriter(client *kafkaio.Client, topic string) NewWriter {
	return func(batchSize int, complete func([]kafka.Message, error)) Writer {
		return client.NewWriter(kafkaio.WriterConfig{Topic: topic, BatchSize: batchSize, Completion: complete})
	}
}

// Sizes of the send pipeline. A chunk is the unit in which records are
// generated, handed to the writer and their buffers reused; at most
// maxChunks are in flight. kafka-go sends one produce request per partition
// at a time, so enough records must wait behind each request for the next
// one to be full when it leaves: maxChunks*chunkRecords (about 32,000
// records, 13 MB with their buffers) keeps several requests' worth queued
// for each of a few dozen partitions. requestRecords caps a produce request
// at interval 0 (with kafkaio's 1 MiB cap on its bytes): larger requests
// cost the broker and the client less per record, but kafka-go allocates
// each request's message list at this size, full or not, so at an interval
// the cap is the batch size.
const (
	chunkRecords   = 1024
	maxChunks      = 32
	requestRecords = 2048
)

// Config sets the pace.
type Config struct {
	// Interval is the period of batches; 0 sends without pause.
	Interval time.Duration
	// BatchSize is the number of records generated each interval. At
	// interval 0 it makes no difference: records are handed to the writer
	// in the producer's own chunks, and the writer groups them into
	// requests by partition.
	BatchSize int
	// Count stops the producer after this many records; 0 runs until ctx
	// is done.
	Count int64
}

// Stats is what the producer did.
type Stats struct {
	Sent int64 `json:"sent"` // acknowledged by the broker
	// Failed records were given up on: by the writer, after its retries
	// or before sending, or by Run, when the broker had not answered
	// for them within drainTimeout of stopping.
	Failed int64 `json:"failed"`
}

// Producer generates views and writes them. Run drives it; Stats, Ready and
// Live may be called from any goroutine.
type Producer struct {
	cfg       Config
	log       *slog.Logger
	newWriter NewWriter
	gen       *Generator
	now       func() time.Time

	chunks chunkPool
	// window is the most chunks in flight: maxChunks at interval 0; else
	// two intervals' batches, so that a batch can still be in flight when
	// the next is due, but a broker that stops answering does not collect
	// a long queue of small batches that each take seconds to fail.
	window int
	// drainTimeout is drainTimeout but in tests.
	drainTimeout time.Duration
	// failing says whether the writer's latest completion was a failure.
	// While it is, one chunk at a time is in flight: kafka-go retries each
	// partition's batches one after another, so a full window of small
	// batches failing slowly against an unreachable broker would hold up
	// Ctrl-C for minutes.
	failing atomic.Bool

	sent, failed atomic.Int64
	sentRecords  prometheus.Counter
	failRecords  prometheus.Counter
	latency      prometheus.Histogram

	health health
}

// chunk is a run of generated records and the buffers behind them. The
// writer holds on to the messages' keys and values until it has completed
// them (kafka-go reads them when it encodes a request, on every retry), so
// a chunk is reused only once every one of its messages has completed.
type chunk struct {
	msgs   []kafka.Message
	values []byte
	ends   []int // end offset of each record in values
	handed time.Time
	// pending counts the messages the writer has not completed yet;
	// failed says whether any of them failed.
	pending atomic.Int64
	failed  atomic.Bool
}

// New returns a producer. newWriter makes the writer when Run starts; now is
// the clock that stamps end_timestamp. The producer's metrics are
// registered with reg unless it is nil.
func New(cfg Config, log *slog.Logger, newWriter NewWriter, gen *Generator, now func() time.Time, reg prometheus.Registerer) *Producer {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "viewlog_producer_records_total",
		Help: "Records the producer tried to send, by result (sent, failed).",
	}, []string{"result"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "viewlog_producer_send_latency_seconds",
		Help: "Time from handing a batch of records to the writer until the broker has acknowledged all of them " +
			"(a batch is PRODUCER_BATCH_SIZE records, or up to 1024 at PRODUCER_INTERVAL=0). Batches with a failed record are not observed.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 17), // 0.5 ms to 33 s
	})
	if reg != nil {
		reg.MustRegister(records, latency)
	}
	p := &Producer{
		cfg: cfg, log: log, newWriter: newWriter, gen: gen, now: now,
		chunks:      chunkPool{returned: make(chan struct{}, 1)},
		sentRecords: records.WithLabelValues("sent"),
		failRecords: records.WithLabelValues("failed"),
		latency:     latency,
	}
	p.window, p.drainTimeout = maxChunks, drainTimeout
	if cfg.Interval > 0 {
		p.window = min(maxChunks, 2*((cfg.BatchSize+chunkRecords-1)/chunkRecords))
	}
	p.health.init(cfg.Interval)
	return p
}

// Stats returns what was sent and what failed so far.
func (p *Producer) Stats() Stats {
	return Stats{Sent: p.sent.Load(), Failed: p.failed.Load()}
}

// Run generates and sends records until ctx is done or Count records were
// generated. It returns once every record it generated has been
// acknowledged or has failed, so that Ctrl-C loses nothing silently: what
// is in flight when ctx is done is still delivered, and counted. Delivery
// failures are logged and counted; Run carries on after them.
//
// Records the broker has not answered for within drainTimeout of stopping
// are counted as failed, and Run returns without closing the writer:
// kafka-go retries a batch until its attempts are used up and offers no
// way to cancel that, so the writer's goroutines are left to end with the
// process.
func (p *Producer) Run(ctx context.Context) error {
	w := p.newWriter(p.requestRecords(), p.complete)
	p.health.looped(p.now())
	if p.cfg.Interval > 0 {
		p.paced(ctx, w)
	} else {
		p.flat(ctx, w)
	}
	p.health.stopped()
	var err error
	if p.drain() {
		err = w.Close() // nothing left to send: it returns at once
	}
	s := p.Stats()
	p.log.Info("producer stopped", "sent", s.Sent, "failed", s.Failed)
	return err
}

// drainTimeout bounds how long a stopped producer waits for the broker to
// answer for the records in flight. A healthy broker answers within
// milliseconds; against one that is down, the writer gives up on a batch
// after a few seconds of retries, but each partition's batches are retried
// one after another.
const drainTimeout = 10 * time.Second

// drain waits until the writer has completed every record handed to it,
// for at most drainTimeout; the writer sends its last, partial batches
// after its batch timeout. It reports whether everything completed; if
// not, what is still in flight is counted as failed.
func (p *Producer) drain() bool {
	deadline := time.NewTimer(p.drainTimeout)
	defer deadline.Stop()
	for p.chunks.inFlight() > 0 {
		select {
		case <-p.chunks.returned:
		case <-deadline.C:
			n := p.health.abandon()
			p.failed.Add(n)
			p.failRecords.Add(float64(n))
			p.log.Error("records not delivered", "count", n, "reason", fmt.Sprintf("no answer from the broker within %v of stopping", p.drainTimeout))
			return false
		}
	}
	return true
}

// requestRecords is the most records the writer puts in one request.
func (p *Producer) requestRecords() int {
	if p.cfg.Interval > 0 {
		return min(requestRecords, max(p.cfg.BatchSize, 1))
	}
	return requestRecords
}

// flat generates without pause, as fast as the writer takes records.
func (p *Producer) flat(ctx context.Context, w Writer) {
	for remaining := p.remaining(0); ctx.Err() == nil && remaining > 0; remaining -= chunkRecords {
		if !p.send(ctx, w, int(min(remaining, chunkRecords))) {
			return
		}
	}
}

// paced generates BatchSize records every Interval. A batch that cannot be
// handed over within the interval (the writer is full) delays the next; the
// ticker drops the ticks missed meanwhile.
func (p *Producer) paced(ctx context.Context, w Writer) {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	var generated int64
	for ctx.Err() == nil {
		batch := min(int64(p.cfg.BatchSize), p.remaining(generated))
		if batch <= 0 {
			return
		}
		for n := batch; n > 0; n -= chunkRecords {
			if !p.send(ctx, w, int(min(n, chunkRecords))) {
				return
			}
		}
		generated += batch
		select {
		case <-ctx.Done():
		case <-tick.C:
			p.health.looped(p.now())
		}
	}
}

// remaining is how many records are still to be generated after generated,
// with no Count as good as unbounded.
func (p *Producer) remaining(generated int64) int64 {
	if p.cfg.Count == 0 {
		return 1 << 62
	}
	return p.cfg.Count - generated
}

// send generates n records (at most chunkRecords) into a free chunk and
// hands them to w. It returns false if ctx was done while it waited for a
// chunk to come free.
func (p *Producer) send(ctx context.Context, w Writer, n int) bool {
	c := p.chunk(ctx)
	if c == nil {
		return false
	}
	now := p.now()
	c.values = c.values[:0]
	c.ends = c.ends[:0]
	for i := range n {
		c.values, c.msgs[i].Key = p.gen.Append(c.values, now)
		c.ends = append(c.ends, len(c.values))
	}
	// Slice the values only now that the buffer has stopped growing.
	start := 0
	for i, end := range c.ends {
		c.msgs[i] = kafka.Message{Key: c.msgs[i].Key, Value: c.values[start:end:end], WriterData: c}
		start = end
	}
	c.pending.Store(int64(n))
	c.handed = p.now()
	p.health.handed(c.handed, int64(n))
	p.hand(ctx, w, c.msgs[:n])
	p.health.looped(p.now())
	return true
}

// chunk returns a chunk to fill: a free one or a new one, once fewer than
// the window's chunks are in flight. It returns nil if ctx is done first.
func (p *Producer) chunk(ctx context.Context) *chunk {
	for {
		window := p.window
		if p.failing.Load() {
			window = 1
		}
		if c := p.chunks.take(window); c != nil {
			return c
		}
		select {
		case <-p.chunks.returned:
		case <-ctx.Done():
			return nil
		}
	}
}

// chunkPool holds the chunks whose records have all completed, and counts
// those in flight.
type chunkPool struct {
	mu       sync.Mutex
	free     []*chunk
	out      int // in flight: taken and not yet put back
	made     int
	returned chan struct{} // signalled when a chunk comes back
}

// take returns a chunk if fewer than window are in flight, or nil.
func (cp *chunkPool) take(window int) *chunk {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.out >= window {
		return nil
	}
	var c *chunk
	switch n := len(cp.free); {
	case n > 0:
		c, cp.free = cp.free[n-1], cp.free[:n-1]
	case cp.made < maxChunks:
		cp.made++
		c = &chunk{msgs: make([]kafka.Message, chunkRecords), ends: make([]int, 0, chunkRecords)}
	default:
		return nil
	}
	cp.out++
	return c
}

func (cp *chunkPool) inFlight() int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.out
}

func (cp *chunkPool) put(c *chunk) {
	cp.mu.Lock()
	cp.free = append(cp.free, c)
	cp.out--
	cp.mu.Unlock()
	select {
	case cp.returned <- struct{}{}:
	default: // a signal is pending already; one taker wakes to it
	}
}

// handTimeout bounds handing records over: the writer looks up the topic's
// partitions first, which waits for the broker when they are not cached.
const handTimeout = 10 * time.Second

// hand gives msgs to w. kafka-go refuses a whole call when one message
// exceeds its request size limit; that message fails and the others are
// handed over again. Messages w did not take fail here; the others complete
// through p.complete.
func (p *Producer) hand(ctx context.Context, w Writer, msgs []kafka.Message) {
	// Records already generated are handed over even when ctx is done, so
	// that they are delivered or counted as failed, not dropped.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handTimeout)
	defer cancel()
	for len(msgs) > 0 {
		err := w.WriteMessages(hctx, msgs...)
		if err == nil {
			return
		}
		var tooLarge kafka.MessageTooLargeError
		if !errors.As(err, &tooLarge) {
			p.complete(msgs, err)
			return
		}
		p.complete([]kafka.Message{tooLarge.Message}, err)
		msgs = tooLarge.Remaining
	}
}

// complete accounts for msgs, all delivered or all failed with err, and
// frees their chunks once every message of a chunk is accounted for. The
// writer calls it from its goroutines, one per partition, concurrently.
func (p *Producer) complete(msgs []kafka.Message, err error) {
	n := int64(len(msgs))
	now := p.now()
	if !p.health.completed(now, n, err, func() {
		if err == nil {
			p.sent.Add(n)
			p.sentRecords.Add(float64(n))
			return
		}
		p.failed.Add(n)
		p.failRecords.Add(float64(n))
	}) {
		return // counted as failed when Run stopped waiting for them
	}
	if err != nil {
		p.log.Error("records not delivered", "count", n, "reason", err)
	}
	p.failing.Store(err != nil)
	// A writer's batch holds the messages of a few chunks, in the order
	// they were handed over: release each chunk once per run of them.
	var c *chunk
	var k int64
	for i := range msgs {
		mc := msgs[i].WriterData.(*chunk)
		if mc != c {
			p.release(c, k, err, now)
			c, k = mc, 0
		}
		k++
	}
	p.release(c, k, err, now)
}

func (p *Producer) release(c *chunk, n int64, err error, now time.Time) {
	if c == nil {
		return
	}
	if err != nil {
		c.failed.Store(true)
	}
	if c.pending.Add(-n) != 0 {
		return
	}
	if !c.failed.Swap(false) {
		p.latency.Observe(now.Sub(c.handed).Seconds())
	}
	p.chunks.put(c)
}
