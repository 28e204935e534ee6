package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec is a topic a program needs, and how to create it when it is
// missing. Managed clusters rarely create topics on first use, and a topic
// created that way gets the broker's defaults, not these.
type TopicSpec struct {
	Name string
	// Partitions is the partition count; 0 or -1 leave it to the broker
	// (num.partitions). PartitionsOf takes precedence.
	Partitions int
	// PartitionsOf, if set, names a topic whose partition count the new
	// one takes, as the dead-letter topic takes its input topic's. The
	// topic is created only once that one exists.
	PartitionsOf string
	// ReplicationFactor is the number of replicas; 0 or -1 leave it to the
	// broker (default.replication.factor).
	ReplicationFactor int
	// Configs are topic configurations, such as retention.ms.
	Configs map[string]string
	// Settings names the settings the values above come from, for the
	// message that says what to change when the broker refuses them.
	Settings string
}

// TopicError is a topic the program needs that is missing and that the
// cluster refused to create. The message says which permission or admin
// command would fix it. Retrying does not help.
type TopicError struct {
	Topic string
	Spec  TopicSpec
	// Partitions is the partition count the topic would have had, or -1.
	Partitions int
	// Principal is the client's identity as Kafka's ACLs name it.
	Principal string
	Brokers   []string
	// Secured is true when the cluster needs the admin tools to
	// authenticate (a --command-config file).
	Secured bool
	Err     error
}

func (e *TopicError) Error() string {
	var b strings.Builder
	admin := "--bootstrap-server " + strings.Join(e.Brokers, ",")
	if e.Secured {
		admin += " --command-config admin.properties"
	}
	acl := "kafka-acls.sh " + admin + " --add --allow-principal " + shellQuote(e.Principal) + " --operation Create --topic " + shellQuote(e.Topic)
	create := "kafka-topics.sh " + admin + " --create --topic " + shellQuote(e.Topic)
	if e.Partitions > 0 {
		create += " --partitions " + strconv.Itoa(e.Partitions)
	}
	if e.Spec.ReplicationFactor > 0 {
		create += " --replication-factor " + strconv.Itoa(e.Spec.ReplicationFactor)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Spec.Configs)) {
		create += " --config " + shellQuote(k+"="+e.Spec.Configs[k])
	}
	fmt.Fprintf(&b, "topic %q does not exist, and the cluster refused to create it (%v)", e.Topic, e.Err)
	switch {
	case errors.Is(e.Err, kafka.TopicAuthorizationFailed), errors.Is(e.Err, kafka.ClusterAuthorizationFailed):
		fmt.Fprintf(&b, ": %s may not create topics. Either an administrator creates it:\n  %s\nor grants %s the right to create it:\n  %s",
			e.Principal, create, e.Principal, acl)
	case errors.Is(e.Err, kafka.PolicyViolation):
		fmt.Fprintf(&b, ": the cluster's topic policy forbids it as asked. Create it as the policy allows, or change %s; as asked it is:\n  %s", e.settings(), create)
	default:
		fmt.Fprintf(&b, ". Change %s, or have an administrator create it:\n  %s", e.settings(), create)
	}
	return b.String()
}

func (e *TopicError) settings() string {
	if e.Spec.Settings == "" {
		return "its settings"
	}
	return e.Spec.Settings
}

func (e *TopicError) Unwrap() error { return e.Err }

// errWaiting is a PartitionsOf topic that does not exist yet.
var errWaiting = errors.New("waiting for the topic to take the partition count from")

// EnsureTopic creates spec's topic if it does not exist: at start, so that a
// program on a cluster that does not create topics on demand fails at once
// with a *TopicError instead of stalling on its first write. A topic
// another instance created at the same moment counts as created. Other
// failures (no broker, no controller) are logged and retried with backoff
// from delay, up to retries attempts (0: until ctx is done), as is the wait
// for a PartitionsOf topic.
func (c *Client) EnsureTopic(ctx context.Context, spec TopicSpec, retries int, delay time.Duration) error {
	delay = max(delay, 100*time.Millisecond)
	for attempt := 1; ; attempt++ {
		err := c.ensureTopic(ctx, spec)
		var te *TopicError
		if err == nil || errors.As(err, &te) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if retries > 0 && attempt >= retries {
			return fmt.Errorf("topic %s: gave up after %d attempts: %w", spec.Name, attempt, err)
		}
		if errors.Is(err, errWaiting) {
			c.log.Info("waiting for a topic to exist (or to be visible to this client) before creating another with as many partitions",
				"topic", spec.PartitionsOf, "for", spec.Name, "principal", c.principal(), "attempt", attempt, "retry_in", delay)
		} else {
			c.log.Warn("checking topic failed, retrying", "topic", spec.Name, "attempt", attempt, "retry_in", delay, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		// Capped low: waiting for a topic should end soon after it appears.
		delay = min(2*delay, 5*time.Second)
	}
}

// ensureTopic makes one attempt. It returns nil when the topic exists or
// was created, a *TopicError when the cluster refuses, and other errors
// when trying again may help. The metadata comes from the transport's
// cache, refreshed every few seconds and after a topic is created: a topic
// another client creates is seen within MetadataTTL. Kafka lists only the
// topics a client may describe, so a topic it may not is missing here.
func (c *Client) ensureTopic(ctx context.Context, spec TopicSpec) error {
	client := c.Requests(10 * time.Second)
	names := []string{spec.Name}
	if spec.PartitionsOf != "" {
		names = append(names, spec.PartitionsOf)
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return c.classify(ctx, c.cfg.Brokers[0], err)
	}
	topics := map[string]kafka.Topic{}
	for _, t := range meta.Topics {
		topics[t.Name] = t
	}
	t := topics[spec.Name]
	switch {
	case t.Error == nil && len(t.Partitions) > 0:
		c.log.Debug("topic exists", "topic", spec.Name, "partitions", len(t.Partitions))
		return nil
	case t.Error != nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition):
		// Being created, or its leader being elected: it exists.
		if errors.Is(t.Error, kafka.LeaderNotAvailable) {
			return nil
		}
		return fmt.Errorf("metadata of topic %s: %w", spec.Name, t.Error)
	}

	partitions := spec.Partitions
	if spec.PartitionsOf != "" {
		src := topics[spec.PartitionsOf]
		if src.Error != nil || len(src.Partitions) == 0 {
			return fmt.Errorf("%w %s", errWaiting, spec.PartitionsOf)
		}
		partitions = len(src.Partitions)
	}
	if partitions <= 0 {
		partitions = -1
	}
	rf := spec.ReplicationFactor
	if rf <= 0 {
		rf = -1
	}
	tc := kafka.TopicConfig{Topic: spec.Name, NumPartitions: partitions, ReplicationFactor: rf}
	for _, k := range slices.Sorted(maps.Keys(spec.Configs)) {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: spec.Configs[k]})
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return c.classify(ctx, c.cfg.Brokers[0], err)
	}
	err = resp.Errors[spec.Name]
	var kerr kafka.Error
	switch {
	case err == nil:
		c.log.Info("created topic", "topic", spec.Name, "partitions", partitions, "replication_factor", rf, "configs", tc.ConfigEntries)
		c.awaitTopic(ctx, spec.Name)
		return nil
	case errors.Is(err, kafka.TopicAlreadyExists):
		c.log.Info("topic created meanwhile by another client", "topic", spec.Name)
		return nil
	case errors.As(err, &kerr) && kerr.Temporary():
		return fmt.Errorf("create topic %s: %w", spec.Name, err)
	default:
		return &TopicError{Topic: spec.Name, Spec: spec, Partitions: partitions, Principal: c.principal(),
			Brokers: c.cfg.Brokers, Secured: c.cfg.TLS != nil || c.cfg.SASL != nil, Err: err}
	}
}

// awaitTopic waits, briefly, until the metadata shows the new topic with a
// leader for every partition, so that the first write does not meet
// UNKNOWN_TOPIC_OR_PARTITION. Not seeing it in time is not an error: the
// writers retry.
func (c *Client) awaitTopic(ctx context.Context, topic string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := c.Requests(2 * time.Second)
	for ctx.Err() == nil {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(meta.Topics) == 1 && meta.Topics[0].Error == nil && len(meta.Topics[0].Partitions) > 0 &&
			!slices.ContainsFunc(meta.Topics[0].Partitions, func(p kafka.Partition) bool { return p.Leader.Host == "" }) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// principal is the client's identity as Kafka's default principal builder
// names it in ACLs: the SASL user, else the subject of the client
// certificate, else ANONYMOUS.
func (c *Client) principal() string {
	if c.cfg.SASL != nil && c.cfg.SASLUser != "" {
		return "User:" + c.cfg.SASLUser
	}
	if c.cfg.TLS != nil && len(c.cfg.TLS.Certificates) > 0 && c.cfg.TLS.Certificates[0].Leaf != nil {
		return "User:" + c.cfg.TLS.Certificates[0].Leaf.Subject.String()
	}
	return "User:ANONYMOUS"
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that need none.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:=,/@+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
