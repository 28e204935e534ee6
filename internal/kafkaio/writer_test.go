package kafkaio

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
)

// countingTransport answers metadata requests with res (or err) and counts
// the requests it is sent.
type countingTransport struct {
	res   *metadata.Response
	err   error
	calls int
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if _, ok := req.(*metadata.Request); !ok {
		return &produce.Response{}, nil
	}
	return c.res, c.err
}

func topicMetadata(name string, code int16, partitions int) *metadata.Response {
	return &metadata.Response{Topics: []metadata.ResponseTopic{{
		Name: name, ErrorCode: code, Partitions: make([]metadata.ResponsePartition, partitions),
	}}}
}

func TestPartitionCache(t *testing.T) {
	ctx, addr := t.Context(), kafka.TCP("broker:9092")
	lookup := &metadata.Request{TopicNames: []string{"views"}, AllowAutoTopicCreation: true}
	for _, tc := range []struct {
		name      string
		transport *countingTransport
		requests  []kafka.Request
		wantCalls int
	}{
		{"lookups answered from the first", &countingTransport{res: topicMetadata("views", 0, 3)},
			[]kafka.Request{lookup, lookup, lookup}, 1},
		{"other requests pass", &countingTransport{res: topicMetadata("views", 0, 3)},
			[]kafka.Request{&produce.Request{}, &produce.Request{}, &metadata.Request{TopicNames: []string{"other"}}, &metadata.Request{}}, 4},
		{"a topic being created is asked again", &countingTransport{res: topicMetadata("views", 3, 0)},
			[]kafka.Request{lookup, lookup}, 2},
		{"a topic without partitions is asked again", &countingTransport{res: topicMetadata("views", 0, 0)},
			[]kafka.Request{lookup, lookup}, 2},
		{"an error is asked again", &countingTransport{err: errors.New("connection refused")},
			[]kafka.Request{lookup, lookup}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &partitionCache{RoundTripper: tc.transport, topic: "views"}
			for _, req := range tc.requests {
				res, err := c.RoundTrip(ctx, addr, req)
				if err != tc.transport.err {
					t.Fatalf("err %v, want the transport's %v", err, tc.transport.err)
				}
				if m, ok := req.(*metadata.Request); ok && err == nil && res != tc.transport.res && len(m.TopicNames) == 1 && m.TopicNames[0] == "views" {
					t.Fatalf("answered %v, want the transport's answer", res)
				}
			}
			if tc.transport.calls != tc.wantCalls {
				t.Fatalf("transport asked %d times, want %d", tc.transport.calls, tc.wantCalls)
			}
		})
	}

	// After partitionCacheTTL the transport is asked again, and a new
	// partition count is seen.
	tr := &countingTransport{res: topicMetadata("views", 0, 3)}
	c := &partitionCache{RoundTripper: tr, topic: "views"}
	if _, err := c.RoundTrip(ctx, addr, lookup); err != nil {
		t.Fatal(err)
	}
	tr.res = topicMetadata("views", 0, 6)
	c.last.Load().at = time.Now().Add(-partitionCacheTTL)
	res, err := c.RoundTrip(ctx, addr, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.(*metadata.Response).Topics[0].Partitions); n != 6 || tr.calls != 2 {
		t.Fatalf("%d partitions after %d calls, want 6 after 2", n, tr.calls)
	}
}
