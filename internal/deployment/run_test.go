package deployment

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// TestComposeEnvironmentRunsPipeline runs the producer and consumer, built
// as their Dockerfiles build them, with the environment Compose resolves for
// their containers. Only what differs between a container and this machine
// is changed: the broker address (a development broker instead of the
// broker service), the container paths (mapped through the consumer's
// volume to a temporary copy of the data folder), and the timings, shortened
// so that a window closes within seconds. It passes once the consumer has
// written a Parquet file where the deployment promises it, and both
// programs then stop cleanly on SIGTERM, as `docker compose stop` asks.
func TestComposeEnvironmentRunsPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker, producer and consumer")
	}
	p, _ := loadCompose(t, nil)
	bin := t.TempDir()
	producerBin := buildLikeDockerfile(t, inspect(t, "Dockerfile.producer", images["Dockerfile.producer"]), bin)
	consumerBin := buildLikeDockerfile(t, inspect(t, "Dockerfile.consumer", images["Dockerfile.consumer"]), bin)
	devbrokerBin := goBuild(t, bin, "./cmd/devbroker")

	// The broker, with as many partitions as the Compose broker gives the
	// topic.
	addr := freeAddr(t)
	partitions := environment(t, service(t, p, brokerService))["KAFKA_NUM_PARTITIONS"]
	broker := start(t, "devbroker", devbrokerBin, map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_PARTITIONS": partitions})
	waitTCP(t, addr, broker, 30*time.Second)

	producerEnv := environment(t, service(t, p, producerService))
	producerEnv["KAFKA_SERVER"] = addr
	producerEnv["PRODUCER_INTERVAL"] = "200ms"

	consumer := service(t, p, consumerService)
	consumerEnv := environment(t, consumer)
	consumerEnv["KAFKA_SERVER"] = addr
	consumerEnv["WINDOW_DURATION"] = "2 seconds"
	consumerEnv["WATERMARK_DELAY"] = "1 seconds"
	consumerEnv["CONSUMER_INTERVAL"] = "1"
	// The container's data folder becomes a temporary one holding the
	// repository's campaigns.csv where the container would find it.
	mount, ok := dataMount(consumer, consumerEnv)
	if !ok {
		t.Fatalf("%s: no volume holds CAMPAIGNS_CSV_PATH and OUTPUT_DIR", consumerService)
	}
	data := t.TempDir()
	local := mount
	local.Source = data
	campaigns := hostPath(local, consumerEnv["CAMPAIGNS_CSV_PATH"])
	if err := copyFile(hostPath(mount, consumerEnv["CAMPAIGNS_CSV_PATH"]), campaigns); err != nil {
		t.Fatal(err)
	}
	output := hostPath(local, consumerEnv["OUTPUT_DIR"])
	consumerEnv["CAMPAIGNS_CSV_PATH"] = campaigns
	consumerEnv["OUTPUT_DIR"] = output

	producer := start(t, producerService, producerBin, producerEnv)
	cons := start(t, consumerService, consumerBin, consumerEnv)
	started := time.Now()

	// The first window closes WINDOW_DURATION + WATERMARK_DELAY after the
	// first record; joining the group and creating the topic take a few
	// seconds more. The deadline only bounds a run that went wrong.
	pattern := filepath.Join(output, "network_id=*", "minute_timestamp=*", "*.parquet")
	deadline := time.Now().Add(60 * time.Second)
	var files []string
	for len(files) == 0 {
		for _, c := range []*child{broker, producer, cons} {
			if c.exited() {
				t.Fatalf("%s exited early: %v\n%s", c.name, c.err, c.out.String())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Parquet file under %s after 60s\nproducer:\n%s\nconsumer:\n%s", output, producer.out.String(), cons.out.String())
		}
		time.Sleep(250 * time.Millisecond)
		var err error
		if files, err = filepath.Glob(pattern); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first Parquet file after %v: %s", time.Since(started).Round(time.Millisecond), files[0])
	checkParquet(t, files[0])

	// Producer and consumer first, while the broker is there to take the
	// last records and commits, as Compose stops dependents first.
	for _, c := range []*child{producer, cons, broker} {
		if err := c.stop(30 * time.Second); err != nil {
			t.Errorf("%s: %v\n%s", c.name, err, c.out.String())
		}
	}
}

// checkParquet opens an output file and checks it holds rows with the
// columns readers expect, and that its directory names a known network.
func checkParquet(t *testing.T, file string) {
	t.Helper()
	network := strings.TrimPrefix(filepath.Base(filepath.Dir(filepath.Dir(file))), "network_id=")
	if n, err := strconv.Atoi(network); err != nil || n < 1 || n > 4 {
		t.Errorf("%s: network_id=%s, want one of campaigns.csv's networks 1 to 4", file, network)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if pf.NumRows() == 0 {
		t.Errorf("%s has no rows", file)
	}
	for _, col := range []string{"campaign_id", "avg_duration", "total_count"} {
		if _, ok := pf.Schema().Lookup(col); !ok {
			t.Errorf("%s has no column %s: %s", file, col, pf.Schema())
		}
	}
}

// goBuild builds pkg into dir with the flags the Dockerfiles use, so that
// it shares their build cache, and returns the binary's path.
func goBuild(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitTCP waits until addr accepts connections, or c exits, or timeout.
func waitTCP(t *testing.T, addr string, c *child, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if c.exited() {
			t.Fatalf("%s exited: %v\n%s", c.name, c.err, c.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing listens on %s after %v\n%s", c.name, addr, timeout, c.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// child is a program the test runs.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // set when done is closed
}

// start runs bin with exactly env as its environment, as a container would
// get it: nothing of the test's own environment leaks in. t.Cleanup kills it
// if the test ends first.
func start(t *testing.T, name, bin string, env map[string]string) *child {
	t.Helper()
	c := &child{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin)
	c.cmd.Env = []string{}
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	slices.Sort(c.cmd.Env)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if !c.exited() {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (c *child) stop(timeout time.Duration) error {
	if c.exited() {
		return fmt.Errorf("had already exited: %v", c.err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.done:
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after SIGTERM", timeout)
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return fmt.Errorf("exit status %d after SIGTERM, want 0", ee.ExitCode())
	}
	return c.err
}

// syncBuffer is a bytes.Buffer that a child writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
