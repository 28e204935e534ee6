package producer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/viewlog/viewlog/internal/childproc"
	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/record"
)

// BenchmarkProducerVsFranz sends b.N records to a fresh development broker
// process, once with this package's producer at PRODUCER_INTERVAL=0 and
// then with a franz-go producer (acks=all, murmur2 on the same keys) sending
// the same number of records generated beforehand, compressed as franz-go
// does by default (snappy) and uncompressed as the producer sends them. It reports records/s and the
// benchmark process's CPU seconds (user+sys) per million records; the
// broker's CPU is not counted. It needs the devbroker binary:
//
//	go build -o bin/ ./cmd/devbroker
//	VIEWLOG_BENCH_DEVBROKER=$PWD/bin/devbroker go test ./internal/producer \
//	    -run '^$' -bench ProducerVsFranz -benchtime 500000x -count 5
//
// -count repeats each sub-benchmark in a row; on a machine shared with other
// work, run -count 1 several times instead, so that each ratio compares
// runs made moments apart.
//
// The producer runs with the default PRODUCER_BATCH_SIZE unless
// VIEWLOG_BENCH_BATCH_SIZE is set.
func BenchmarkProducerVsFranz(b *testing.B) {
	devbroker := os.Getenv("VIEWLOG_BENCH_DEVBROKER")
	if devbroker == "" {
		b.Skip("VIEWLOG_BENCH_DEVBROKER (the devbroker binary) not set")
	}
	batchSize := 10
	if s := os.Getenv("VIEWLOG_BENCH_BATCH_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("VIEWLOG_BENCH_BATCH_SIZE=%q: want a positive integer", s)
		}
		batchSize = n
	}
	const topic = "bench"
	b.Run("producer", func(b *testing.B) {
		addr := startBenchBroker(b, devbroker, topic)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: []string{addr}}, log)
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		p := New(Config{BatchSize: batchSize, Count: int64(b.N)}, log, KafkaWriter(client, topic), NewGenerator(rand.New(rand.NewPCG(1, 2))), time.Now, nil)
		measure(b, func() {
			if err := p.Run(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
		if s := p.Stats(); s.Sent != int64(b.N) {
			b.Fatalf("sent %d of %d records (%d failed)", s.Sent, b.N, s.Failed)
		}
	})
	// franz-go compresses with snappy unless told otherwise; the producer
	// does not compress. Both are references: franz-go as its users get
	// it, and franz-go sending the same bytes as the producer.
	for _, ref := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"franz-go", nil},
		{"franz-go-uncompressed", []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())}},
	} {
		b.Run(ref.name, func(b *testing.B) {
			addr := startBenchBroker(b, devbroker, topic)
			gen := NewGenerator(rand.New(rand.NewPCG(1, 2)))
			recs := make([]*kgo.Record, b.N)
			now := time.Now()
			for i := range recs {
				v := gen.View(now)
				val, err := record.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				recs[i] = &kgo.Record{Key: strconv.AppendInt(nil, int64(v.CampaignID), 10), Value: val}
			}
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
				kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))}, ref.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			var sent, failed atomic.Int64
			measure(b, func() {
				for _, r := range recs {
					cl.Produce(b.Context(), r, func(_ *kgo.Record, err error) {
						if err != nil {
							failed.Add(1)
							return
						}
						sent.Add(1)
					})
				}
				if err := cl.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			})
			if sent.Load() != int64(b.N) {
				b.Fatalf("sent %d of %d records (%d failed)", sent.Load(), b.N, failed.Load())
			}
		})
	}
}

// measure times send and reports records/s and CPU-s per million records.
func measure(b *testing.B, send func()) {
	b.ReportAllocs()
	cpu0, broker0 := cpuTime(b), childrenCPU()
	b.ResetTimer()
	start := time.Now()
	send()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, broker := cpuTime(b)-cpu0, childrenCPU()-broker0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "cpu-s/M")
	b.ReportMetric(broker.Seconds()/float64(b.N)*1e6, "broker-cpu-s/M")
}

// childrenCPU is the user+sys CPU time of this process's running children
// (the broker), from /proc; 0 where /proc is not there.
func childrenCPU() time.Duration {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var total time.Duration
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, pid := range strings.Fields(string(b)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			// Fields after the command name, which is in parentheses:
			// utime and stime are the 12th and 13th, in clock ticks.
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(f) < 13 {
				continue
			}
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(u+s) * time.Second / 100
		}
	}
	return total
}

// cpuTime is this process's user+sys CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBenchBroker starts a fresh devbroker process with topic created (3
// partitions, as the development broker's default), so that neither
// producer pays for topic creation inside the measurement.
func startBenchBroker(b *testing.B, devbroker, topic string) string {
	b.Helper()
	addr := childproc.FreeAddr(b)
	p := childproc.Start(b, devbroker, map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_PARTITIONS": "3", "LOG_LEVEL": "WARN"})
	childproc.WaitTCP(b, addr, p, 10*time.Second)
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
	defer cancel()
	client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: []string{addr}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	res, err := client.Requests(10*time.Second).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := res.Errors[topic]; err != nil {
		b.Fatal(err)
	}
	return addr
}
