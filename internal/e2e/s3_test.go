package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/storage/s3test"
)

// s3Env is the consumer's environment writing to s3://bucket/views on srv.
func s3Env(t *testing.T, srv *s3test.Server, broker, topic, bucket string) map[string]string {
	t.Helper()
	env, _ := consumerEnv(t, broker, topic)
	maps.Copy(env, srv.Env())
	env["OUTPUT_DIR"] = "s3://" + bucket + "/views"
	return env
}

// objectKey is what an output object's key under the prefix looks like.
var objectKey = regexp.MustCompile(`^views/network_id=\d+/minute_timestamp=\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d/part-[\w.-]+-\d{5}\.parquet$`)

// checkBucket: every object under the prefix is an output file of the
// layout, and no upload is left incomplete.
func checkBucket(t *testing.T, srv *s3test.Server, bucket string) {
	t.Helper()
	keys, err := srv.List(t.Context(), bucket, "views/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no objects under the prefix")
	}
	for _, k := range keys {
		if !objectKey.MatchString(k) {
			t.Errorf("object %q is not an output file of the layout", k)
		}
	}
	if up, err := srv.IncompleteUploads(t.Context(), bucket); err != nil || len(up) > 0 {
		t.Errorf("incomplete uploads %v (%v)", up, err)
	}
}

// TestS3SharedBucket: two consumers on one group write one dataset to one
// bucket of a real S3-protocol server; one of them is killed while records
// arrive; the objects, read back from the server's directory with DuckDB,
// are exactly the expected rows, with nothing partial or temporary under
// the prefix.
func TestS3SharedBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	broker, _ := startBroker(t, 6)
	const topic = "views-s3"
	d := crashDataset(60)
	env := s3Env(t, srv, broker, topic, bucket)

	a, b := startConsumer(t, env), startConsumer(t, env)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	prng := rand.New(rand.NewPCG(seed, 6)) // the producing goroutine's own
	produced := producePhases(broker, topic, d.phases, func() time.Duration {
		return time.Duration(500+prng.IntN(700)) * time.Millisecond
	})
	waitSettled(t, 6, 60*time.Second, a, b)
	time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
	a.Kill()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	keepAlive(t, broker, topic, 12)
	out := srv.BucketDir(bucket) + "/views"
	waitAllRows(t, out, len(d.rows), 120*time.Second, b)
	stopAll(t, b)
	checkRows(t, readOutput(t, out), d)
	checkBucket(t, srv, bucket)
	checkDeadLetters(t, broker, topic, d)
}

// TestS3Refusals: with credentials the store refuses, or a bucket that
// does not exist, the consumer says why it is not ready, keeps retrying,
// and commits nothing past the windows it could not write; once the
// problem is fixed and the consumer restarted, the output is exact.
func TestS3Refusals(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := s3test.Start(t)
	broker, _ := startBroker(t, 3)
	tests := []struct {
		name   string
		spoil  func(env map[string]string, bucket string)
		reason string
	}{
		{"wrong credentials", func(env map[string]string, _ string) { env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret" }, "denied"},
		{"missing bucket", func(env map[string]string, bucket string) {
			env["OUTPUT_DIR"] = "s3://" + bucket + "-missing/views"
		}, "bucket"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("views-s3-refused-%d", i)
			bucket := srv.NewBucket(t)
			d := crashDataset(20)
			for _, phase := range d.phases {
				produceGo(t, broker, topic, phase)
			}
			good := s3Env(t, srv, broker, topic, bucket)
			bad := maps.Clone(good)
			tt.spoil(bad, bucket)

			c := startConsumer(t, bad)
			waitFor(t, 60*time.Second, "a refused write", func() bool {
				n, _ := c.metric(t, "viewlog_consumer_write_errors_total", nil)
				return n > 0
			})
			code, body, err := c.get("/readyz")
			if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(string(body)), tt.reason) {
				t.Errorf("/readyz: %d %q %v; want 503 naming the refusal (%q)", code, body, err, tt.reason)
			}
			if strings.Contains(string(body), "not-the-secret") {
				t.Errorf("/readyz shows the secret: %q", body)
			}
			// Nothing was written, so nothing may be committed: the
			// group has no offset for any partition.
			c.Kill()
			if committed := groupCheckpoints(t, broker, good["CONSUMER_GROUP_ID"], topic, 3); len(committed) > 0 {
				t.Errorf("offsets committed with no window written: %v", committed)
			}

			c = startConsumer(t, good)
			keepAlive(t, broker, topic, 12)
			waitAllRows(t, srv.BucketDir(bucket)+"/views", len(d.rows), 120*time.Second, c)
			stopAll(t, c)
			checkRows(t, readOutput(t, srv.BucketDir(bucket)+"/views"), d)
			checkBucket(t, srv, bucket)
		})
	}
}
