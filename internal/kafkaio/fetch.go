package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Record is one record of a fetch. Value aliases the reader's buffer: it is
// valid only until the FetchHandler that received it returns.
type Record struct {
	Offset int64
	Value  []byte
	// Size is the value's length in the log. It is more than len(Value)
	// when the value was longer than FetchConfig.MaxValueBytes and was cut.
	Size int
}

// Fetch is what one fetch of one partition returned. Fetches that found
// nothing new are delivered too: they carry the partition's high-water
// mark, which is how the consumer knows it is caught up.
type Fetch struct {
	Partition int
	// HighWatermark is the log end offset the broker reported: the offset
	// of the next record to be written.
	HighWatermark int64
	// Next is the offset the next fetch starts at: past the last record
	// of this one, or where this one started if it returned none.
	Next    int64
	Records []Record
	// At is when the broker's response arrived.
	At time.Time
}

// FetchHandler receives a partition's fetches in order, on the reader's
// goroutine. The Fetch and its records are valid only until it returns; it
// copies what it keeps. An error stops the reader.
type FetchHandler func(*Fetch) error

// FetchConfig sizes fetches.
type FetchConfig struct {
	// MaxBytes bounds one fetch response.
	MaxBytes int
	// MaxWait is how long the broker holds a fetch that finds nothing new.
	MaxWait time.Duration
	// MaxValueBytes is the longest value delivered whole; longer ones are
	// cut to MaxValueBytes+1 bytes (see Record.Size), so that one huge
	// record cannot make the reader hold a huge buffer.
	MaxValueBytes int
}

// DefaultFetch is what the consumer fetches with.
var DefaultFetch = FetchConfig{MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond, MaxValueBytes: 64 << 10}

// PartitionReader reads one partition from its leader, reconnecting when the
// connection or the leader is lost.
type PartitionReader struct {
	g         *Group
	cfg       FetchConfig
	partition int
	offset    int64
	log       *slog.Logger

	// buf holds the values of the fetch being delivered; f is reused.
	buf []byte
	f   Fetch

	// mu guards conn against the close that interrupts a fetch in flight.
	mu      sync.Mutex
	conn    *kafka.Conn
	stopped bool
}

// OpenPartition connects to the leader of partition and positions the reader
// at committed, or, if committed is negative, at the partition's beginning or
// end as configured. A committed offset the log no longer has (deleted by
// retention) is logged and replaced by the earliest available one. It returns
// the offset reading starts from and the partition's log end.
func (g *Group) OpenPartition(ctx context.Context, partition int, committed int64, cfg FetchConfig) (*PartitionReader, int64, int64, error) {
	r := &PartitionReader{g: g, cfg: cfg, partition: partition, log: g.log.With("partition", partition)}
	if err := r.dial(ctx); err != nil {
		return nil, 0, 0, err
	}
	first, last, err := r.conn.ReadOffsets()
	if err != nil {
		r.Close()
		return nil, 0, 0, fmt.Errorf("partition %d offsets: %w", partition, err)
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
	return r, r.offset, last, nil
}

func (r *PartitionReader) dial(ctx context.Context) error {
	conn, err := r.g.dialLeader(ctx, r.partition)
	if err != nil {
		return err
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

// Run fetches from the current offset and hands every fetch to handle until
// ctx is done or handle fails. Connection failures are logged and retried
// with backoff. It returns nil when ctx is done, else handle's error.
func (r *PartitionReader) Run(ctx context.Context, handle FetchHandler) error {
	// Closing the connection is what interrupts a fetch in flight.
	stop := context.AfterFunc(ctx, func() { r.closeConn(true) })
	defer stop()
	defer r.closeConn(true)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn := r.current()
		if conn == nil {
			if err := r.dial(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				r.log.Warn("reconnect failed, retrying", "retry_in", backoff, "err", err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			conn = r.current()
		}
		err := r.fetch(conn)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			if herr := handle(&r.f); herr != nil {
				if ctx.Err() != nil {
					break
				}
				return herr
			}
			continue
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			first, last, oerr := conn.ReadOffsets()
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

// fetch reads one fetch response from r.offset into r.f and advances r.offset
// past what it returns. Values are read with Batch.Read into r.buf, which
// allocates nothing per record (Batch.ReadMessage allocates every key and
// value); keys and headers are not read: the consumer needs them only for the
// few records it dead-letters, and reads those again (Group.ReadRecords).
func (r *PartitionReader) fetch(conn *kafka.Conn) error {
	if conn == nil {
		return context.Canceled
	}
	if _, err := conn.Seek(r.offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return err
	}
	if err := conn.SetReadDeadline(time.Now().Add(r.cfg.MaxWait + 10*time.Second)); err != nil {
		return err
	}
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: r.cfg.MaxBytes, MaxWait: r.cfg.MaxWait})
	limit := r.cfg.MaxValueBytes + 1
	if r.buf == nil {
		// Room for a full response, and for one more value of the
		// longest kind after it.
		r.buf = make([]byte, 0, r.cfg.MaxBytes+limit)
	}
	f := &r.f
	*f = Fetch{Partition: r.partition, HighWatermark: batch.HighWaterMark(), Records: f.Records[:0]}
	buf := r.buf[:0]
	tooLarge := false
	for cap(buf)-len(buf) >= limit {
		// The full slice expression caps what Read may use, so that a
		// longer value fails with io.ErrShortBuffer instead of
		// spilling into the rest of the buffer.
		n, err := batch.Read(buf[len(buf) : len(buf)+limit : len(buf)+limit])
		if err != nil {
			tooLarge = errors.Is(err, io.ErrShortBuffer)
			break
		}
		// Offset is the next one after the record just read. A fetch may
		// start inside a compressed batch that holds records before the
		// offset asked for.
		off := batch.Offset() - 1
		if off < r.offset {
			continue
		}
		f.Records = append(f.Records, Record{Offset: off, Value: buf[len(buf) : len(buf)+n], Size: n})
		buf = buf[:len(buf)+n]
		r.offset = off + 1
	}
	err := batch.Close()
	f.At = time.Now()
	switch {
	case tooLarge:
		// The batch stopped at a value longer than limit; read that
		// record on its own, cut it, and go on after it next time.
		err = r.readTooLarge(conn, buf, limit)
	case errors.Is(err, kafka.RequestTimedOut):
		// kafka-go reports a fetch that waited MaxWait and found nothing
		// new as RequestTimedOut; the connection is fine.
		err = nil
	}
	f.Next = r.offset
	return err
}

// readTooLarge reads the record at r.offset, whose value is longer than
// limit, and appends it to r.f cut to limit bytes. buf has room for that.
func (r *PartitionReader) readTooLarge(conn *kafka.Conn, buf []byte, limit int) error {
	if _, err := conn.Seek(r.offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return err
	}
	if err := conn.SetReadDeadline(time.Now().Add(r.cfg.MaxWait + 10*time.Second)); err != nil {
		return err
	}
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: r.cfg.MaxBytes, MaxWait: r.cfg.MaxWait})
	defer batch.Close()
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			return fmt.Errorf("read the oversized record at offset %d: %w", r.offset, err)
		}
		if m.Offset < r.offset {
			continue
		}
		n := min(len(m.Value), limit)
		r.f.Records = append(r.f.Records, Record{Offset: m.Offset, Value: append(buf[len(buf):], m.Value[:n]...), Size: len(m.Value)})
		r.offset = m.Offset + 1
		return nil
	}
}

func (r *PartitionReader) current() *kafka.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// ReadRecords reads the records of partition at the given offsets, sorted
// ascending, whole: key, value and headers, in memory of their own. Offsets
// the log no longer has (deleted by retention) are missing from the result.
// The consumer uses it for dead letters, whose originals its fetchers do not
// keep.
func (g *Group) ReadRecords(ctx context.Context, partition int, offsets []int64) (map[int64]kafka.Message, error) {
	out := make(map[int64]kafka.Message, len(offsets))
	if len(offsets) == 0 {
		return out, nil
	}
	conn, err := g.dialLeader(ctx, partition)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, fmt.Errorf("partition %d offsets: %w", partition, err)
	}
	i := 0
	for i < len(offsets) {
		off := offsets[i]
		if off < first {
			i++
			continue
		}
		if off >= last {
			break
		}
		if _, err := conn.Seek(off, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			return nil, err
		}
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return nil, err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: DefaultFetch.MaxBytes, MaxWait: DefaultFetch.MaxWait})
		progressed := false
		for i < len(offsets) {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			progressed = true
			for i < len(offsets) && offsets[i] < m.Offset {
				i++ // not in the log (compacted away)
			}
			if i < len(offsets) && offsets[i] == m.Offset {
				out[m.Offset] = m
				i++
			}
		}
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
			return nil, fmt.Errorf("read partition %d at %d: %w", partition, off, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !progressed && i < len(offsets) && offsets[i] == off {
			i++ // nothing at off: skip it rather than loop
		}
	}
	return out, nil
}

func (g *Group) dialLeader(ctx context.Context, partition int) (*kafka.Conn, error) {
	var err error
	for _, b := range g.brokers {
		var conn *kafka.Conn
		if conn, err = g.dialer.DialLeader(ctx, "tcp", b, g.cfg.Topic, partition); err == nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("dial leader of partition %d: %w", partition, err)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
