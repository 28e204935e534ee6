package consumer

import (
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/record"
)

// The dead-letter wire format: each record that is in no output row goes to
// the dead-letter topic with its original key, value and headers, plus these
// headers.
const (
	HeaderOutcome   = "viewlog.outcome" // rejected, late or unknown_campaign
	HeaderReason    = "viewlog.reason"  // the rejection reason
	HeaderTopic     = "viewlog.source.topic"
	HeaderPartition = "viewlog.source.partition"
	HeaderOffset    = "viewlog.source.offset"
	// HeaderValueSize is set when the value was cut to record.MaxSize.
	HeaderValueSize = "viewlog.value_size"
)

// outcome is why a record is dead-lettered.
type outcome uint8

const (
	outcomeRejected outcome = iota
	outcomeLate
	outcomeUnknown
)

func (o outcome) String() string {
	switch o {
	case outcomeRejected:
		return "rejected"
	case outcomeLate:
		return "late"
	default:
		return "unknown_campaign"
	}
}

// deadRef is a record to dead-letter, by offset: the batch keeps no record
// bytes, and the original is read again when the batch is flushed.
type deadRef struct {
	offset  int64
	outcome outcome
	reason  record.Reason // for outcomeRejected
}

// partitionDead is one partition's dead letters of a batch, in offset order.
type partitionDead struct {
	partition int
	refs      []deadRef
}

// deadLetters builds the dead-letter messages of pd from the originals read
// back by offset. It returns how many originals were missing (deleted by
// retention before the batch was flushed).
func deadLetters(topic string, pd partitionDead, originals map[int64]kafka.Message) (msgs []kafka.Message, missing int) {
	msgs = make([]kafka.Message, 0, len(pd.refs))
	partition := strconv.AppendInt(nil, int64(pd.partition), 10)
	for _, ref := range pd.refs {
		m, ok := originals[ref.offset]
		if !ok {
			missing++
			continue
		}
		headers := make([]kafka.Header, 0, len(m.Headers)+6)
		headers = append(headers, m.Headers...)
		headers = append(headers,
			kafka.Header{Key: HeaderOutcome, Value: []byte(ref.outcome.String())},
			kafka.Header{Key: HeaderTopic, Value: []byte(topic)},
			kafka.Header{Key: HeaderPartition, Value: partition},
			kafka.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, ref.offset, 10)},
		)
		if ref.outcome == outcomeRejected {
			headers = append(headers, kafka.Header{Key: HeaderReason, Value: []byte(ref.reason.String())})
		}
		value := m.Value
		if len(value) > record.MaxSize {
			// Keep the dead letter well under the broker's message size
			// limit, or it could never be written and would block commits.
			headers = append(headers, kafka.Header{Key: HeaderValueSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
			value = value[:record.MaxSize]
		}
		// The original's topic, partition and offset would steer the
		// writer; the dead letter is a new message.
		msgs = append(msgs, kafka.Message{Key: m.Key, Value: value, Headers: headers})
	}
	return msgs, missing
}
