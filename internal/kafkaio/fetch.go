package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Fetched is a run of consecutive messages of one partition.
type Fetched struct {
	Partition int
	Messages  []kafka.Message
}

// PartitionReader reads one partition from its leader, reconnecting when the
// connection or the leader is lost.
type PartitionReader struct {
	g         *Group
	partition int
	offset    int64
	log       *slog.Logger

	// mu guards conn against the close that interrupts a fetch in flight.
	mu      sync.Mutex
	conn    *kafka.Conn
	stopped bool
}

// fetchMaxBytes bounds one fetch response, and so the memory one fetch can
// hold.
const fetchMaxBytes = 1 << 20

// OpenPartition connects to the leader of partition and positions the reader
// at committed, or, if committed is negative, at the partition's beginning or
// end as configured. A committed offset the log no longer has (deleted by
// retention) is logged and replaced by the earliest available one. It returns
// the offset reading starts from.
func (g *Group) OpenPartition(ctx context.Context, partition int, committed int64) (*PartitionReader, int64, error) {
	r := &PartitionReader{g: g, partition: partition, log: g.log.With("partition", partition)}
	if err := r.dial(ctx); err != nil {
		return nil, 0, err
	}
	first, last, err := r.conn.ReadOffsets()
	if err != nil {
		r.Close()
		return nil, 0, fmt.Errorf("partition %d offsets: %w", partition, err)
	}
	switch {
	case committed < 0 && g.cfg.Latest:
		r.offset = last
	case committed < 0:
		r.offset = first
	case committed < first:
		r.log.Warn("committed offset is before the log start: records in between were deleted by retention before they were processed",
			"committed", committed, "log_start", first, "lost", first-committed)
		r.offset = first
	case committed > last:
		r.log.Warn("committed offset is past the log end (topic re-created?); resuming at the end", "committed", committed, "log_end", last)
		r.offset = last
	default:
		r.offset = committed
	}
	return r, r.offset, nil
}

func (r *PartitionReader) dial(ctx context.Context) error {
	var err error
	for _, b := range r.g.brokers {
		var conn *kafka.Conn
		conn, err = r.g.dialer.DialLeader(ctx, "tcp", b, r.g.cfg.Topic, r.partition)
		if err != nil {
			continue
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.stopped {
			conn.Close()
			return context.Canceled
		}
		r.conn = conn
		return nil
	}
	return fmt.Errorf("dial leader of partition %d: %w", r.partition, err)
}

// closeConn closes the connection; with stop, it also prevents new ones.
func (r *PartitionReader) closeConn(stop bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = r.stopped || stop
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

// Close releases the connection of a reader whose Run was never called.
func (r *PartitionReader) Close() { r.closeConn(true) }

// Run fetches from the current offset and sends what it reads to out until
// ctx is done. Connection failures are logged and retried with backoff;
// Run returns only when ctx is done.
func (r *PartitionReader) Run(ctx context.Context, out chan<- Fetched) error {
	// Closing the connection is what interrupts a fetch in flight.
	stop := context.AfterFunc(ctx, func() { r.closeConn(true) })
	defer stop()
	defer r.closeConn(true)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if r.current() == nil {
			if err := r.dial(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				r.log.Warn("reconnect failed, retrying", "retry_in", backoff, "err", err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
		}
		msgs, err := r.fetch(r.current())
		if len(msgs) > 0 {
			backoff = 100 * time.Millisecond
			select {
			case out <- Fetched{Partition: r.partition, Messages: msgs}:
			case <-ctx.Done():
				return nil
			}
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			first, last, oerr := r.current().ReadOffsets()
			if oerr == nil {
				next := min(max(r.offset, first), last)
				r.log.Warn("fetch offset out of range; repositioning", "offset", r.offset, "log_start", first, "log_end", last, "resume_at", next)
				r.offset = next
				continue
			}
			err = oerr
		}
		r.log.Warn("fetch failed, reconnecting", "offset", r.offset, "retry_in", backoff, "err", err)
		r.closeConn(false)
		sleep(ctx, backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// fetch reads one batch from r.offset and advances it past what it returns.
func (r *PartitionReader) fetch(conn *kafka.Conn) ([]kafka.Message, error) {
	const maxWait = 250 * time.Millisecond
	if conn == nil {
		return nil, context.Canceled
	}
	if _, err := conn.Seek(r.offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(maxWait + 10*time.Second)); err != nil {
		return nil, err
	}
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: maxWait})
	var msgs []kafka.Message
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		// A fetch may start inside a compressed batch that holds
		// records before the offset asked for.
		if m.Offset < r.offset {
			continue
		}
		msgs = append(msgs, m)
		r.offset = m.Offset + 1
	}
	err := batch.Close()
	// kafka-go reports a fetch that waited MaxWait and found nothing new
	// as RequestTimedOut; the connection is fine.
	if errors.Is(err, kafka.RequestTimedOut) {
		err = nil
	}
	return msgs, err
}

func (r *PartitionReader) current() *kafka.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
