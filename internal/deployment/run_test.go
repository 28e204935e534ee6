package deployment

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/parquet-go/parquet-go"

	"github.com/viewlog/viewlog/internal/childproc"
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
	addr := childproc.FreeAddr(t)
	partitions := environment(t, service(t, p, brokerService))["KAFKA_NUM_PARTITIONS"]
	broker := childproc.Start(t, devbrokerBin, map[string]string{"DEVBROKER_ADDR": addr, "DEVBROKER_PARTITIONS": partitions})
	childproc.WaitTCP(t, addr, broker, 30*time.Second)

	// Each container has its own network, and both listen on :8080 there;
	// here they share the host's.
	producerSvc := service(t, p, producerService)
	producerEnv := environment(t, producerSvc)
	producerEnv["KAFKA_SERVER"] = addr
	producerEnv["PRODUCER_INTERVAL"] = "200ms"
	producerEnv["METRICS_ADDR"] = childproc.FreeAddr(t)

	consumer := service(t, p, consumerService)
	consumerEnv := environment(t, consumer)
	consumerEnv["KAFKA_SERVER"] = addr
	consumerEnv["METRICS_ADDR"] = childproc.FreeAddr(t)
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

	producer := childproc.Start(t, producerBin, producerEnv)
	cons := childproc.Start(t, consumerBin, consumerEnv)
	started := time.Now()

	// The first window closes WINDOW_DURATION + WATERMARK_DELAY after the
	// first record; joining the group and creating the topic take a few
	// seconds more. The deadline only bounds a run that went wrong.
	pattern := filepath.Join(output, "network_id=*", "minute_timestamp=*", "*.parquet")
	deadline := time.Now().Add(60 * time.Second)
	var files []string
	for len(files) == 0 {
		for _, c := range []*childproc.Proc{broker, producer, cons} {
			if c.Exited() {
				t.Fatalf("%s exited early\n%s", c.Name(), c.Output())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Parquet file under %s after 60s\nproducer:\n%s\nconsumer:\n%s", output, producer.Output(), cons.Output())
		}
		time.Sleep(250 * time.Millisecond)
		var err error
		if files, err = filepath.Glob(pattern); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first Parquet file after %v: %s", time.Since(started).Round(time.Millisecond), files[0])
	checkParquet(t, files[0])

	// The services' healthchecks, run as Compose runs them (the image's
	// binary with the service's environment), pass while the programs run
	// and fail once they are gone.
	checks := []struct {
		svc types.ServiceConfig
		bin string
		env map[string]string
	}{{producerSvc, producerBin, producerEnv}, {consumer, consumerBin, consumerEnv}}
	for _, c := range checks {
		if code := runHealthcheck(t, c.svc, c.bin, c.env); code != 0 {
			t.Errorf("%s: healthcheck exited %d while the program runs", c.svc.Name, code)
		}
	}

	// Producer and consumer first, while the broker is there to take the
	// last records and commits, as Compose stops dependents first.
	for _, c := range []*childproc.Proc{producer, cons, broker} {
		if _, err := c.Stop(30 * time.Second); err != nil {
			t.Errorf("%s: %v\n%s", c.Name(), err, c.Output())
		}
	}
	for _, c := range checks {
		if code := runHealthcheck(t, c.svc, c.bin, c.env); code != 1 {
			t.Errorf("%s: healthcheck exited %d with the program stopped, want 1", c.svc.Name, code)
		}
	}
}

// runHealthcheck runs svc's healthcheck command, whose first word is the
// image's binary (bin here), with env, and returns its exit status.
func runHealthcheck(t *testing.T, svc types.ServiceConfig, bin string, env map[string]string) int {
	t.Helper()
	if svc.HealthCheck == nil || len(svc.HealthCheck.Test) < 2 || svc.HealthCheck.Test[0] != "CMD" {
		t.Fatalf("%s: healthcheck %v is not [CMD, binary, args...]", svc.Name, svc.HealthCheck)
	}
	args := svc.HealthCheck.Test[2:]
	cmd := exec.Command(bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("%s: healthcheck: %v\n%s", svc.Name, err, out)
		return -1
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
