package kafkaio

import (
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/viewlog/viewlog/internal/testpki"
)

// describe returns a topic's partition count and its retention.ms as the
// broker reports them.
func describe(t *testing.T, c *Client, topic string) (int, string) {
	t.Helper()
	client := c.Requests(5 * time.Second)
	meta, err := client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v", topic, meta.Topics)
	}
	cfg, err := client.DescribeConfigs(t.Context(), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"retention.ms"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	retention := ""
	for _, r := range cfg.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "retention.ms" {
				retention = e.ConfigValue
			}
		}
	}
	return len(meta.Topics[0].Partitions), retention
}

func TestEnsureTopicCreatesAMissingTopic(t *testing.T) {
	t.Parallel()
	c := newClient(t, ClientConfig{Brokers: []string{cluster(t, kfake.DefaultNumPartitions(7))}})
	spec := TopicSpec{Name: "events", Partitions: 4, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "86400000"}}
	if err := c.EnsureTopic(t.Context(), spec, 1, 0); err != nil {
		t.Fatal(err)
	}
	if n, r := describe(t, c, "events"); n != 4 || r != "86400000" {
		t.Errorf("created with %d partitions, retention.ms %s; want 4, 86400000", n, r)
	}
	// The broker's defaults when the spec leaves them.
	if err := c.EnsureTopic(t.Context(), TopicSpec{Name: "defaults", Partitions: -1, ReplicationFactor: -1}, 1, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := describe(t, c, "defaults"); n != 7 {
		t.Errorf("created with %d partitions, want the broker's 7", n)
	}
	// An existing topic is left alone, whatever the spec says.
	if err := c.EnsureTopic(t.Context(), TopicSpec{Name: "events", Partitions: 9}, 1, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := describe(t, c, "events"); n != 4 {
		t.Errorf("existing topic now has %d partitions, want 4", n)
	}
}

// TestEnsureTopicConcurrently: instances starting together race to create
// the topic; the losers get TOPIC_ALREADY_EXISTS, which is success.
func TestEnsureTopicConcurrently(t *testing.T) {
	t.Parallel()
	addr := cluster(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		c := newClient(t, ClientConfig{Brokers: []string{addr}})
		wg.Go(func() { errs[i] = c.EnsureTopic(t.Context(), TopicSpec{Name: "raced", Partitions: 3}, 1, 0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n, _ := describe(t, newClient(t, ClientConfig{Brokers: []string{addr}}), "raced"); n != 3 {
		t.Errorf("%d partitions, want 3", n)
	}
}

// TestEnsureTopicTakesThePartitionsOfAnother: the dead-letter topic gets as
// many partitions as the input topic, once that exists.
func TestEnsureTopicTakesThePartitionsOfAnother(t *testing.T) {
	t.Parallel()
	addr := cluster(t)
	c := newClient(t, ClientConfig{Brokers: []string{addr}})
	done := make(chan error, 1)
	go func() {
		done <- c.EnsureTopic(t.Context(), TopicSpec{Name: "input.dlq", PartitionsOf: "input", Partitions: 1}, 0, 50*time.Millisecond)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned before the input topic existed: %v", err)
	default:
	}
	if err := c.EnsureTopic(t.Context(), TopicSpec{Name: "input", Partitions: 5}, 1, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after the input topic was created")
	}
	if n, _ := describe(t, c, "input.dlq"); n != 5 {
		t.Errorf("%d partitions, want the input topic's 5", n)
	}
}

// appACLs: everything on topics and groups but creating topics.
var appACLs = []kfake.ACL{
	{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true},
	{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationCreate},
	{Resource: kmsg.ACLResourceTypeGroup, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true},
}

// TestEnsureTopicRefused: a user who may not create topics gets a
// *TopicError that names the topic and the principal and gives the admin
// command and the ACL that would fix it; it is not retried.
func TestEnsureTopicRefused(t *testing.T) {
	t.Parallel()
	addr := cluster(t, kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser("PLAIN", "admin", "pw"),
		kfake.User("PLAIN", "app", "pw", appACLs...))
	as := func(user string) *Client {
		return newClient(t, ClientConfig{Brokers: []string{addr}, SASL: plain.Mechanism{Username: user, Password: "pw"}, SASLUser: user})
	}
	admin := as("admin")
	if err := admin.EnsureTopic(t.Context(), TopicSpec{Name: "view_log", Partitions: 3}, 1, 0); err != nil {
		t.Fatal(err)
	}

	spec := TopicSpec{Name: "view_log.dlq", PartitionsOf: "view_log", ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "-1"}}
	began := time.Now()
	err := as("app").EnsureTopic(t.Context(), spec, 0, time.Second)
	var te *TopicError
	if !errors.As(err, &te) || te.Topic != "view_log.dlq" || !errors.Is(err, kafka.TopicAuthorizationFailed) {
		t.Fatalf("error %v, want a *TopicError for view_log.dlq with TOPIC_AUTHORIZATION_FAILED", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("took %v: a refusal must not be retried", d)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		`topic "view_log.dlq" does not exist`, "User:app may not create topics",
		"kafka-topics.sh --bootstrap-server " + addr + " --command-config admin.properties --create --topic view_log.dlq --partitions 3 --replication-factor 3 --config retention.ms=-1",
		"kafka-acls.sh --bootstrap-server " + addr + " --command-config admin.properties --add --allow-principal User:app --operation Create --topic view_log.dlq",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

// TestEnsureTopicInvalidSettings: settings the broker refuses (here three
// replicas on one broker) are reported with the settings to change.
func TestEnsureTopicInvalidSettings(t *testing.T) {
	t.Parallel()
	c := newClient(t, ClientConfig{Brokers: []string{cluster(t)}})
	err := c.EnsureTopic(t.Context(), TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 3, Settings: "TOPIC_PARTITIONS or TOPIC_REPLICATION_FACTOR"}, 0, time.Second)
	var te *TopicError
	if !errors.As(err, &te) || !errors.Is(err, kafka.InvalidReplicationFactor) {
		t.Fatalf("error %v, want a *TopicError with INVALID_REPLICATION_FACTOR", err)
	}
	for _, want := range []string{"Change TOPIC_PARTITIONS or TOPIC_REPLICATION_FACTOR", "--partitions 2 --replication-factor 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

// TestTopicErrorMessages covers what a broker here cannot be made to
// answer: a create-topic policy, and a principal from a client
// certificate, which needs quoting in the command.
func TestTopicErrorMessages(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	c := newClient(t, ClientConfig{Brokers: []string{"b1:9093", "b2:9093"}, TLS: &tls.Config{Certificates: []tls.Certificate{ca.Client(t, "app").TLS(t)}}})
	err := &TopicError{Topic: "view_log", Spec: TopicSpec{Name: "view_log", Settings: "TOPIC_PARTITIONS"}, Partitions: 6,
		Principal: c.principal(), Brokers: c.cfg.Brokers, Secured: true, Err: kafka.PolicyViolation}
	for _, want := range []string{"topic policy forbids it", "change TOPIC_PARTITIONS", "--bootstrap-server b1:9093,b2:9093 --command-config admin.properties --create --topic view_log --partitions 6"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	err.Err = kafka.ClusterAuthorizationFailed
	if want := "--allow-principal 'User:CN=app,O=viewlog tests' --operation Create"; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}
}
