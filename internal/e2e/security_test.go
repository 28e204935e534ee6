package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/viewlog/viewlog/internal/childproc"
	"github.com/viewlog/viewlog/internal/testpki"
)

// secureBroker is a development broker process started with security
// settings, and the files a client needs to reach it.
type secureBroker struct {
	addr string
	proc *childproc.Proc
	dir  string
	ca   *testpki.CA
	// caFile is the CA that signed the broker's certificate; client the
	// certificate and key of a client it trusts (with mutual TLS).
	caFile string
	client testpki.Files
	// mechanism is the SASL mechanism, "" for none.
	mechanism   string
	tls, mutual bool
}

// brokerSpec is how to start a secureBroker.
type brokerSpec struct {
	tls, mutual bool
	mechanism   string
	users       string // user:password,...
	superUsers  string
	noAutoTopic bool
}

func startSecureBroker(t *testing.T, s brokerSpec) *secureBroker {
	t.Helper()
	b := &secureBroker{addr: childproc.FreeAddr(t), dir: t.TempDir(), ca: testpki.NewCA(t, "viewlog test CA"), mechanism: s.mechanism, tls: s.tls, mutual: s.mutual}
	b.caFile = testpki.WriteFile(t, b.dir, "ca.pem", b.ca.CertPEM)
	b.client = b.ca.Client(t, "viewlog-app").Write(t, b.dir, "client")
	env := map[string]string{"DEVBROKER_ADDR": b.addr, "DEVBROKER_PARTITIONS": "3", "LOG_LEVEL": "INFO"}
	if s.tls {
		broker := b.ca.Broker(t).Write(t, b.dir, "broker")
		env["DEVBROKER_TLS_CERT_FILE"], env["DEVBROKER_TLS_KEY_FILE"] = broker.Cert, broker.Key
		if s.mutual {
			env["DEVBROKER_TLS_CLIENT_CA_FILE"] = b.caFile
		}
	}
	if s.mechanism != "" {
		env["DEVBROKER_SASL_MECHANISM"], env["DEVBROKER_SASL_USERS"], env["DEVBROKER_SUPER_USERS"] = s.mechanism, s.users, s.superUsers
	}
	if s.noAutoTopic {
		env["DEVBROKER_AUTO_CREATE_TOPICS"] = "false"
	}
	b.proc = start(t, "devbroker", env)
	childproc.WaitTCP(t, b.addr, b.proc, 20*time.Second)
	return b
}

// clientEnv is what the producer and the consumer are told to reach b as
// user, with the password in a file, as a container is given it.
func (b *secureBroker) clientEnv(t *testing.T, user, password string) map[string]string {
	t.Helper()
	env := map[string]string{"KAFKA_SERVER": b.addr, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
	if b.tls {
		env["KAFKA_SECURITY_PROTOCOL"], env["KAFKA_TLS_CA_FILE"] = "SSL", b.caFile
		if b.mutual {
			env["KAFKA_TLS_CERT_FILE"], env["KAFKA_TLS_KEY_FILE"] = b.client.Cert, b.client.Key
		}
	}
	if b.mechanism != "" {
		env["KAFKA_SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
		if b.tls {
			env["KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"
		}
		env["KAFKA_SASL_MECHANISM"] = b.mechanism
		env["KAFKA_SASL_USERNAME"] = user
		env["KAFKA_SASL_PASSWORD_FILE"] = testpki.WriteFile(t, t.TempDir(), "password", []byte(password+"\n"))
	}
	return env
}

// kgoClient is an independent client (franz-go) on b, as user.
func (b *secureBroker) kgoClient(t *testing.T, user, password string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)
	if b.tls {
		cfg := &tls.Config{RootCAs: b.ca.Pool()}
		if b.mutual {
			cfg.Certificates = []tls.Certificate{clientPair(t, b)}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if b.mechanism != "" {
		var m sasl.Mechanism
		switch b.mechanism {
		case "PLAIN":
			m = plain.Auth{User: user, Pass: password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
		default:
			m = scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
		}
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func clientPair(t *testing.T, b *secureBroker) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(b.client.Cert, b.client.Key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createTopic creates topic as an administrator would, with franz-go.
func createTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// topics lists the topics of the cluster with their partition counts.
func topics(t *testing.T, cl *kgo.Client) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for name, d := range details {
		out[name] = len(d.Partitions)
	}
	return out
}

// produceKgo writes msgs with franz-go; keyed records are partitioned with
// murmur2, as the Java client, kcat's murmur2_random and the project's
// writer do.
func produceKgo(t *testing.T, cl *kgo.Client, topic string, msgs []message) {
	t.Helper()
	if err := writeKgo(cl, topic, msgs); err != nil {
		t.Fatal(err)
	}
}

func writeKgo(cl *kgo.Client, topic string, msgs []message) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(m.key), Value: []byte(m.value)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// readKgo reads every record of topic with franz-go, up to the end
// offsets it finds first.
func readKgo(t *testing.T, cl *kgo.Client, topic string) []deadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(parts))})
	var out []deadLetter
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v (still to read: %v)", topic, err, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out = append(out, deadLetter{key: string(r.Key), value: string(r.Value), headers: h})
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// kcatTLS are kcat's settings for b's mutual TLS.
func kcatTLS(b *secureBroker) []string {
	return []string{"-b", b.addr, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + b.caFile,
		"-X", "ssl.certificate.location=" + b.client.Cert, "-X", "ssl.key.location=" + b.client.Key}
}

// requireKcat returns kcat's path, or skips the test when kcat is not
// installed and the environment does not require it.
func requireKcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("VIEWLOG_REQUIRE_KCAT") != "" {
			t.Fatal("kcat not found; install it (apt-get install kcat)")
		}
		t.Skip("kcat not found (apt-get install kcat): the mutual-TLS run needs it as its independent client")
	}
	return path
}

// produceKcatTLS writes msgs with kcat over mutual TLS, partitioned by key
// with murmur2.
func produceKcatTLS(t *testing.T, b *secureBroker, topic string, msgs []message) {
	t.Helper()
	var in bytes.Buffer
	for _, m := range msgs {
		if strings.ContainsAny(m.key+m.value, "\n\t") {
			t.Fatalf("kcat input cannot hold tab or newline: %q", m.value)
		}
		in.WriteString(m.key + "\t" + m.value + "\n")
	}
	args := append(kcatTLS(b), "-P", "-t", topic, "-K", "\t", "-X", "partitioner=murmur2_random", "-X", "acks=all")
	cmd := exec.Command(requireKcat(t), args...)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

// readKcatTLS reads every record of topic with kcat over mutual TLS: its
// headers and its value.
func readKcatTLS(t *testing.T, b *secureBroker, topic string) []deadLetter {
	t.Helper()
	args := append(kcatTLS(b), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%h\t%s\n`)
	out, err := exec.Command(requireKcat(t), args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kcat: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var recs []deadLetter
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		hs, value, _ := strings.Cut(sc.Text(), "\t")
		h := map[string]string{}
		for kv := range strings.SplitSeq(hs, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				h[k] = v
			}
		}
		recs = append(recs, deadLetter{value: value, headers: h})
	}
	return recs
}

// runToExit runs one of the binaries to its end, or kills it after
// timeout, and returns its exit code and output.
func runToExit(t *testing.T, name string, env map[string]string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s still running after %v:\n%s", name, timeout, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// connectErrors reads viewlog_kafka_connect_errors_total{reason} from the
// /metrics of a program serving on addr, or -1 if it does not answer.
func connectErrors(addr, reason string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	prefix := `viewlog_kafka_connect_errors_total{reason="` + reason + `"} `
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func metricsBody(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// securedDataset is TestPipeline's stream: valid records, every kind of
// rejection, duplicates, late stragglers and an unknown campaign.
func securedDataset() *dataset {
	d := newDataset()
	d.addMinute(0, 1)
	d.badRecords("m0")
	m1 := d.addMinute(1, 1)
	d.appendTo("duplicate", m1[0].message(0), m1[3].message(2))
	d.addMinute(2, 1)
	d.badRecords("m2")
	m3 := d.addMinute(3, 1)
	for i, v := range m3[:4] {
		late := view{id: fmt.Sprintf("late-%d", i), campaign: v.campaign, start: base.Add(time.Minute), end: base.Add(time.Minute + 30*time.Second)}
		d.appendTo("late", late.message(i))
	}
	d.closers(5)
	return d
}

// expectRow adds v to the expected output rows only (its record is
// already counted where it was appended).
func (d *dataset) expectRow(v view) {
	key := fmt.Sprintf("%d/%s/%d", networks[v.campaign], v.end.Truncate(time.Minute).Format("2006-01-02_15-04-05"), v.campaign)
	e := d.rows[key]
	e.count++
	e.sum += v.end.Unix() - v.start.Unix()
	d.rows[key] = e
}

// independent is a Kafka client this project did not write, on a secured
// broker.
type independent struct {
	produce func(t *testing.T, topic string, msgs []message)
	read    func(t *testing.T, topic string) []deadLetter
}

// runSecuredPipeline is the whole pipeline on a secured broker: the data
// set written by an independent client, then the producer binary's own
// records, then records that close every window; the consumer running
// throughout. The output, read with DuckDB, must be exactly the data set's
// rows plus rows computed here from the producer's records as the
// independent client reads them back; the dead-letter topic, read by the
// independent client, exactly the data set's rejected, late and
// unknown-campaign records.
func runSecuredPipeline(t *testing.T, clientEnv map[string]string, topic string, cl independent) {
	t.Helper()
	d := securedDataset()
	env, out := consumerEnv(t, clientEnv["KAFKA_SERVER"], topic)
	maps.Copy(env, clientEnv)
	c := startConsumer(t, env)

	for _, phase := range d.phases {
		cl.produce(t, topic, phase)
	}
	// The data set's closer ends a window that the producer's records,
	// much later in event time, close in turn.
	end := base.Add(5*time.Minute + 15*time.Second)
	d.expectRow(view{campaign: closerCampaign, start: end.Add(-time.Second), end: end})

	penv := maps.Clone(clientEnv)
	maps.Copy(penv, map[string]string{"TOPIC_NAME": topic, "PRODUCER_INTERVAL": "0", "PRODUCER_BATCH_SIZE": "50", "TOPIC_PARTITIONS": "3"})
	const produced = 300
	if code, pout := runToExit(t, "producer", penv, 60*time.Second, "-count", strconv.Itoa(produced)); code != 0 {
		t.Fatalf("producer exited %d:\n%s", code, pout)
	}
	dataRows := len(d.rows)
	var last time.Time
	n := 0
	for _, r := range cl.read(t, topic) {
		var v struct {
			ID         string    `json:"view_id"`
			Start      time.Time `json:"start_timestamp"`
			End        time.Time `json:"end_timestamp"`
			CampaignID int       `json:"campaign_id"`
		}
		if json.Unmarshal([]byte(r.value), &v) != nil || v.End.Before(base.Add(24*time.Hour)) {
			continue // the data set's
		}
		d.expectRow(view{id: v.ID, campaign: v.CampaignID, start: v.Start, end: v.End})
		if v.End.After(last) {
			last = v.End
		}
		n++
	}
	if n != produced {
		t.Fatalf("the topic holds %d of the producer's records, want %d", n, produced)
	}
	var closers []message
	for ci := 10; ci <= 140; ci += 10 {
		end := last.Add(2 * time.Minute)
		closers = append(closers, view{id: fmt.Sprintf("final-c%d", ci), campaign: ci, start: end.Add(-time.Second), end: end}.message(0))
	}
	cl.produce(t, topic, closers)

	waitAllRows(t, out, len(d.rows), 90*time.Second, c)
	stopAll(t, c)
	rows := readOutput(t, out)
	checkRows(t, rows, d)
	checkFiles(t, out)
	checkBalanced(t, exitTotals(t, c.Proc))
	t.Logf("%d rows, %d of them from the producer's %d records", len(rows), len(rows)-dataRows, produced)

	byOutcome := map[string]int64{}
	for _, m := range cl.read(t, topic+".dlq") {
		o := m.headers["viewlog.outcome"]
		if o == "rejected" {
			o += "." + m.headers["viewlog.reason"]
		}
		byOutcome[o]++
		if m.headers["viewlog.source.topic"] != topic {
			t.Errorf("dead letter without its source: %v", m.headers)
		}
	}
	wantDead := map[string]int64{"late": d.late, "unknown_campaign": d.unknown}
	for r, n := range d.rejected {
		wantDead["rejected."+r] = n
	}
	if !maps.Equal(byOutcome, wantDead) {
		t.Errorf("dead letters by outcome %v, want %v", byOutcome, wantDead)
	}
}

// TestSecuredPipelineSASLSSL: SCRAM-SHA-512 over TLS, on a broker that does
// not create topics on demand and holds only the input topic: the consumer
// creates the dead-letter topic with the input's partition count, and the
// producer finds its topic there.
func TestSecuredPipelineSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker, the producer and the consumer")
	}
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{tls: true, mechanism: "SCRAM-SHA-512", users: "admin:admin-pw,app:app-pw", noAutoTopic: true})
	admin := b.kgoClient(t, "admin", "admin-pw")
	const topic = "views-scram"
	createTopic(t, admin, topic, 3)
	runSecuredPipeline(t, b.clientEnv(t, "app", "app-pw"), topic, independent{
		produce: func(t *testing.T, topic string, msgs []message) { produceKgo(t, admin, topic, msgs) },
		read:    func(t *testing.T, topic string) []deadLetter { return readKgo(t, admin, topic) },
	})
	if got := topics(t, admin); !maps.Equal(got, map[string]int{topic: 3, topic + ".dlq": 3}) {
		t.Errorf("topics %v, want only the input and the dead-letter topic, 3 partitions each", got)
	}
}

// TestSecuredPipelineSASLPlaintext: PLAIN without TLS, on a broker that
// creates topics on demand, with the consumer started before the topic
// exists: it waits for it before creating the dead-letter topic.
func TestSecuredPipelineSASLPlaintext(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker, the producer and the consumer")
	}
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{mechanism: "PLAIN", users: "admin:admin-pw,app:app-pw"})
	admin := b.kgoClient(t, "admin", "admin-pw", kgo.AllowAutoTopicCreation())
	runSecuredPipeline(t, b.clientEnv(t, "app", "app-pw"), "views-plain", independent{
		produce: func(t *testing.T, topic string, msgs []message) { produceKgo(t, admin, topic, msgs) },
		read:    func(t *testing.T, topic string) []deadLetter { return readKgo(t, admin, topic) },
	})
}

// TestSecuredPipelineMutualTLS: SSL with a client certificate; kcat
// (librdkafka) writes the data set and reads the dead-letter topic, on a
// broker that does not create topics on demand.
func TestSecuredPipelineMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker, the producer and the consumer")
	}
	requireKcat(t)
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{tls: true, mutual: true, noAutoTopic: true})
	const topic = "views-mtls"
	createTopic(t, b.kgoClient(t, "", ""), topic, 3)
	runSecuredPipeline(t, b.clientEnv(t, "", ""), topic, independent{
		produce: func(t *testing.T, topic string, msgs []message) { produceKcatTLS(t, b, topic, msgs) },
		read:    func(t *testing.T, topic string) []deadLetter { return readKcatTLS(t, b, topic) },
	})
}

// TestWrongPassword: with a wrong password the consumer does not exit and
// is not restarted in a loop: it stays up, retries with backoff, and counts
// each refusal as an authentication failure on /metrics, where the
// password does not appear; it commits and writes nothing. Restarted with
// the right password, it catches up exactly. The producer, whose attempts
// are bounded by MAX_RETRIES, exits non-zero.
func TestWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and the consumer")
	}
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{tls: true, mechanism: "SCRAM-SHA-512", users: "admin:admin-pw,app:right-pw"})
	admin := b.kgoClient(t, "admin", "admin-pw", kgo.AllowAutoTopicCreation())
	const topic = "views-auth"
	d := newDataset()
	d.addMinute(0, 1)
	d.badRecords("m0")
	d.addMinute(1, 1)
	d.closers(3)
	for _, phase := range d.phases {
		produceKgo(t, admin, topic, phase)
	}

	env, out := consumerEnv(t, b.addr, topic)
	maps.Copy(env, b.clientEnv(t, "app", "wrong-pw"))
	c := startConsumer(t, env)
	metrics := c.http
	waitFor(t, 30*time.Second, "two refused logins on /metrics", func() bool {
		if c.Exited() {
			t.Fatalf("the consumer exited on refused credentials:\n%s", c.Output())
		}
		return connectErrors(metrics, "auth") >= 2
	})
	if n := connectErrors(metrics, "network"); n != 0 {
		t.Errorf("refused credentials counted as %v network errors", n)
	}
	for _, where := range []string{metricsBody(t, metrics), c.Output()} {
		if strings.Contains(where, "wrong-pw") || strings.Contains(where, "right-pw") {
			t.Errorf("a password is shown:\n%s", where)
		}
	}
	stopAll(t, c)
	offsets, err := kadm.NewClient(admin).FetchOffsets(t.Context(), env["CONSUMER_GROUP_ID"])
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatal(err)
	}
	if len(offsets) != 0 || len(readOutput(t, out)) != 0 {
		t.Errorf("without credentials, the group committed %v and the output holds %d rows", offsets, len(readOutput(t, out)))
	}

	penv := b.clientEnv(t, "app", "wrong-pw")
	maps.Copy(penv, map[string]string{"TOPIC_NAME": topic, "MAX_RETRIES": "2", "RETRY_DELAY": "100ms"})
	if code, pout := runToExit(t, "producer", penv, 30*time.Second, "-count", "1"); code == 0 || strings.Contains(pout, "wrong-pw") {
		t.Errorf("producer with a wrong password: exit %d, want non-zero, without the password:\n%s", code, pout)
	}

	maps.Copy(env, b.clientEnv(t, "app", "right-pw"))
	c = startConsumer(t, env)
	keepAliveWith(t, 3, func(m message) error { return writeKgo(admin, topic, []message{m}) })
	waitAllRows(t, out, len(d.rows), 60*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
}

// TestTLSRefused: a broker certificate signed by an authority the client
// does not trust, plaintext to a TLS port, and no client certificate for a
// broker that requires one are each refused and counted under their reason
// on /metrics; the consumer keeps retrying, the producer gives up after
// MAX_RETRIES with a non-zero exit. The one broker requires client
// certificates.
func TestTLSRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker and the consumer")
	}
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{tls: true, mutual: true})
	stranger := testpki.WriteFile(t, t.TempDir(), "other-ca.pem", testpki.NewCA(t, "someone else's CA").CertPEM)
	good := b.clientEnv(t, "", "")
	for _, tt := range []struct {
		name   string
		change map[string]string
		reason string
	}{
		{"untrusted broker certificate", map[string]string{"KAFKA_TLS_CA_FILE": stranger}, "tls"},
		{"plaintext to a TLS port", map[string]string{"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_TLS_CA_FILE": "", "KAFKA_TLS_CERT_FILE": "", "KAFKA_TLS_KEY_FILE": ""}, "security_protocol"},
		{"no client certificate", map[string]string{"KAFKA_TLS_CERT_FILE": "", "KAFKA_TLS_KEY_FILE": ""}, "tls"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := maps.Clone(good)
			for k, v := range tt.change {
				if v == "" {
					delete(client, k)
				} else {
					client[k] = v
				}
			}
			env, out := consumerEnv(t, b.addr, "views-tls")
			maps.Copy(env, client)
			c := startConsumer(t, env)
			metrics := c.http
			waitFor(t, 30*time.Second, "a refusal counted under "+tt.reason, func() bool {
				if c.Exited() {
					t.Fatalf("the consumer exited:\n%s", c.Output())
				}
				return connectErrors(metrics, tt.reason) >= 1
			})
			for _, other := range []string{"auth", "tls", "security_protocol", "network"} {
				if n := connectErrors(metrics, other); other != tt.reason && n != 0 {
					t.Errorf("also counted as %v %s errors", n, other)
				}
			}
			stopAll(t, c)
			if rows := readOutput(t, out); len(rows) != 0 {
				t.Errorf("%d rows written without a connection", len(rows))
			}
			penv := maps.Clone(client)
			maps.Copy(penv, map[string]string{"TOPIC_NAME": "views-tls", "MAX_RETRIES": "1"})
			if code, pout := runToExit(t, "producer", penv, 30*time.Second, "-count", "1"); code == 0 {
				t.Errorf("the producer exited 0:\n%s", pout)
			}
		})
	}
}

// TestTopicCreationRefused: on a broker whose ACLs let the application's
// user do everything but create topics, and that creates none on demand,
// the consumer stops at start, with a non-zero exit, when the dead-letter
// topic is missing, and the producer when its topic is; neither stalls. The
// same user produces to a topic that exists.
func TestTopicCreationRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker, the producer and the consumer")
	}
	t.Parallel()
	b := startSecureBroker(t, brokerSpec{mechanism: "SCRAM-SHA-512", users: "admin:admin-pw,app:app-pw", superUsers: "admin", noAutoTopic: true})
	admin := b.kgoClient(t, "admin", "admin-pw")
	const topic = "views-acl"
	createTopic(t, admin, topic, 3)
	app := b.clientEnv(t, "app", "app-pw")

	env, out := consumerEnv(t, b.addr, topic)
	maps.Copy(env, app)
	began := time.Now()
	if code, cout := runToExit(t, "consumer", env, 30*time.Second); code == 0 {
		t.Errorf("the consumer exited 0 without its dead-letter topic:\n%s", cout)
	}
	if d := time.Since(began); d > 15*time.Second {
		t.Errorf("the consumer took %v to give up", d)
	}
	if rows := readOutput(t, out); len(rows) != 0 {
		t.Errorf("%d rows written", len(rows))
	}

	penv := maps.Clone(app)
	maps.Copy(penv, map[string]string{"TOPIC_NAME": "views-new", "MAX_RETRIES": "3"})
	if code, pout := runToExit(t, "producer", penv, 30*time.Second, "-count", "10"); code == 0 {
		t.Errorf("the producer exited 0 without its topic:\n%s", pout)
	}
	penv["TOPIC_NAME"] = topic
	if code, pout := runToExit(t, "producer", penv, 30*time.Second, "-count", "10"); code != 0 {
		t.Errorf("the producer could not write to an existing topic: exit %d\n%s", code, pout)
	}
	if got := topics(t, admin); !maps.Equal(got, map[string]int{topic: 3}) {
		t.Errorf("topics %v, want only %s", got, topic)
	}
}

// TestSecuredCrashRestart is TestCrashRestart on a broker that wants
// SCRAM-SHA-256 over TLS and creates no topic on demand: the consumer is
// killed with SIGKILL three times while records arrive, and the output is
// still exactly the expected rows.
func TestSecuredCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the consumer against a broker")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	b := startSecureBroker(t, brokerSpec{tls: true, mechanism: "SCRAM-SHA-256", users: "admin:admin-pw,app:app-pw", noAutoTopic: true})
	admin := b.kgoClient(t, "admin", "admin-pw")
	const topic = "views-crash-secured"
	createTopic(t, admin, topic, 3)
	d := crashDataset(80)
	env, out := consumerEnv(t, b.addr, topic)
	maps.Copy(env, b.clientEnv(t, "app", "app-pw"))

	prng := rand.New(rand.NewPCG(seed, 3))
	produced := make(chan error, 1)
	go func() {
		produced <- func() error {
			for _, phase := range d.phases {
				if err := writeKgo(admin, topic, phase); err != nil {
					return err
				}
				time.Sleep(time.Duration(1500+prng.IntN(1000)) * time.Millisecond)
			}
			return nil
		}()
	}()

	const kills = 3
	for i := range kills {
		c := startConsumer(t, env)
		waitSettled(t, 3, 60*time.Second, c)
		time.Sleep(time.Duration(200+rng.IntN(1800)) * time.Millisecond)
		if c.Exited() {
			t.Fatalf("consumer %d exited on its own", i)
		}
		c.Kill()
		t.Logf("kill %d: %d rows visible", i+1, len(readOutput(t, out)))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	keepAliveWith(t, 12, func(m message) error { return writeKgo(admin, topic, []message{m}) })

	c := startConsumer(t, env)
	waitAllRows(t, out, len(d.rows), 120*time.Second, c)
	stopAll(t, c)
	checkRows(t, readOutput(t, out), d)
	checkFiles(t, out)
	checkBalanced(t, exitTotals(t, c.Proc))

	var want int64 = d.late + d.unknown
	for _, n := range d.rejected {
		want += n
	}
	sources := map[string]bool{}
	for _, m := range readKgo(t, admin, topic+".dlq") {
		sources[m.headers["viewlog.source.partition"]+"/"+m.headers["viewlog.source.offset"]] = true
		var v struct {
			ViewID string `json:"view_id"`
		}
		_ = json.Unmarshal([]byte(m.value), &v)
		if aggregatedID.MatchString(v.ViewID) {
			t.Errorf("dead letter %q (%v) is in an output row", v.ViewID, m.headers)
		}
	}
	if int64(len(sources)) != want {
		t.Errorf("%d distinct records dead-lettered, want %d", len(sources), want)
	}
}
