package kafkaio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/viewlog/viewlog/internal/testpki"
)

// cluster starts an in-process broker and returns its address.
func cluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// connect makes one attempt to reach the broker, as the broker wait does.
func connect(t *testing.T, cfg ClientConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return newClient(t, cfg).WaitForBroker(ctx, 1, 0)
}

func scramMech(t *testing.T, algo scram.Algorithm, user, pass string) sasl.Mechanism {
	t.Helper()
	m, err := scram.Mechanism(algo, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// refusingMechanism is a mechanism the broker does not offer.
type refusingMechanism struct{}

func (refusingMechanism) Name() string { return "GSSAPI" }
func (refusingMechanism) Start(context.Context) (sasl.StateMachine, []byte, error) {
	return nil, nil, errors.New("not reached")
}

// TestConnectFailuresAreClassified: each way a secured connection fails
// comes back as its own error type, whose message names the broker and
// what to change, and never the password. The broker is real (kfake); only
// the client's settings are wrong.
func TestConnectFailuresAreClassified(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster CA")
	other := testpki.NewCA(t, "someone else's CA")
	brokerTLS := &tls.Config{Certificates: []tls.Certificate{ca.Broker(t).TLS(t)}}
	mutualTLS := &tls.Config{Certificates: brokerTLS.Certificates, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	otherName := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, testpki.Spec{CommonName: "b", Hosts: []string{"broker-1.example.com"}}).TLS(t)}}
	expired := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, testpki.Spec{CommonName: "b", Hosts: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}).TLS(t)}}
	trusting := func() *tls.Config { return &tls.Config{RootCAs: ca.Pool()} }

	const password = "s3cret-Pa55"
	sasl512 := []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "alice", password)}
	tests := []struct {
		name   string
		broker []kfake.Opt
		client ClientConfig
		reason string
		want   []string // in the message
	}{
		{
			name:   "wrong SCRAM password",
			broker: sasl512,
			client: ClientConfig{SASL: scramMech(t, scram.SHA512, "alice", "wrong-"+password), SASLUser: "alice"},
			reason: ReasonAuth,
			want:   []string{"refused the credentials", `"alice"`, "SCRAM-SHA-512", "KAFKA_SASL_USERNAME"},
		},
		{
			name:   "unknown SCRAM user",
			broker: sasl512,
			client: ClientConfig{SASL: scramMech(t, scram.SHA512, "mallory", password), SASLUser: "mallory"},
			reason: ReasonAuth,
			want:   []string{"refused the credentials", `"mallory"`},
		},
		{
			name:   "wrong PLAIN password over TLS",
			broker: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "bob", password), kfake.TLS(brokerTLS)},
			client: ClientConfig{TLS: trusting(), SASL: plain.Mechanism{Username: "bob", Password: password + "x"}, SASLUser: "bob"},
			reason: ReasonAuth,
			want:   []string{"refused the credentials", `"bob"`, "PLAIN"},
		},
		{
			name:   "mechanism the broker does not offer",
			broker: sasl512,
			client: ClientConfig{SASL: refusingMechanism{}, SASLUser: "alice"},
			reason: ReasonAuth,
			want:   []string{"does not offer SASL mechanism GSSAPI", "KAFKA_SASL_MECHANISM"},
		},
		{
			name:   "broker certificate from an untrusted CA",
			broker: []kfake.Opt{kfake.TLS(brokerTLS)},
			client: ClientConfig{TLS: &tls.Config{RootCAs: other.Pool()}},
			reason: ReasonTLS,
			want:   []string{"127.0.0.1", `"CN=cluster CA,O=viewlog tests"`, "does not trust", "KAFKA_TLS_CA_FILE"},
		},
		{
			name:   "broker certificate for another name",
			broker: []kfake.Opt{kfake.TLS(otherName)},
			client: ClientConfig{TLS: trusting()},
			reason: ReasonTLS,
			want:   []string{"[broker-1.example.com]", `not for "127.0.0.1"`, "KAFKA_TLS_SERVER_NAME"},
		},
		{
			name:   "expired broker certificate",
			broker: []kfake.Opt{kfake.TLS(expired)},
			client: ClientConfig{TLS: trusting()},
			reason: ReasonTLS,
			want:   []string{"expired"},
		},
		{
			name:   "no client certificate for a broker that requires one",
			broker: []kfake.Opt{kfake.TLS(mutualTLS)},
			client: ClientConfig{TLS: trusting()},
			reason: ReasonTLS,
			want:   []string{"requires a client certificate", "KAFKA_TLS_CERT_FILE"},
		},
		{
			name:   "client certificate from an untrusted CA",
			broker: []kfake.Opt{kfake.TLS(mutualTLS)},
			client: ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{other.Client(t, "app").TLS(t)}}},
			reason: ReasonTLS,
			want:   []string{"refused the client certificate"},
		},
		{
			name:   "plaintext to a TLS port",
			broker: []kfake.Opt{kfake.TLS(brokerTLS)},
			client: ClientConfig{},
			reason: ReasonSecurityProtocol,
			want:   []string{"answers in TLS", "KAFKA_SECURITY_PROTOCOL=PLAINTEXT", "KAFKA_SECURITY_PROTOCOL=SSL"},
		},
		{
			name:   "SASL without TLS to a TLS port",
			broker: append([]kfake.Opt{kfake.TLS(brokerTLS)}, sasl512...),
			client: ClientConfig{SASL: scramMech(t, scram.SHA512, "alice", password), SASLUser: "alice"},
			reason: ReasonSecurityProtocol,
			want:   []string{"answers in TLS", "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT", "KAFKA_SECURITY_PROTOCOL=SASL_SSL"},
		},
		{
			name:   "TLS to a plaintext port",
			client: ClientConfig{TLS: trusting()},
			reason: ReasonSecurityProtocol,
			want:   []string{"without TLS", "KAFKA_SECURITY_PROTOCOL=SSL", "KAFKA_SECURITY_PROTOCOL=PLAINTEXT"},
		},
		{
			name:   "no SASL to a SASL listener",
			broker: sasl512,
			client: ClientConfig{},
			reason: ReasonSecurityProtocol,
			want:   []string{"requires SASL", "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.client.Brokers = []string{cluster(t, tt.broker...)}
			err := connect(t, tt.client)
			if err == nil {
				t.Fatal("connected")
			}
			if got := Reason(err); got != tt.reason {
				t.Fatalf("reason %s, want %s: %v", got, tt.reason, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range append(tt.want, tt.client.Brokers[0]) {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("message holds the password: %s", msg)
			}
		})
	}
}

// TestConnectSucceedsWhenSettingsMatch is the control for the test above:
// the same brokers accept the right settings.
func TestConnectSucceedsWhenSettingsMatch(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster CA")
	brokerTLS := &tls.Config{Certificates: []tls.Certificate{ca.Broker(t).TLS(t)}}
	mutualTLS := &tls.Config{Certificates: brokerTLS.Certificates, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	otherName := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, testpki.Spec{CommonName: "b", Hosts: []string{"broker-1.example.com"}}).TLS(t)}}
	for name, tt := range map[string]struct {
		broker []kfake.Opt
		client ClientConfig
	}{
		"SASL_SSL SCRAM-SHA-512": {
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "alice", "pw"), kfake.TLS(brokerTLS)},
			ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool()}, SASL: scramMech(t, scram.SHA512, "alice", "pw"), SASLUser: "alice"},
		},
		"SASL_PLAINTEXT SCRAM-SHA-256": {
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "alice", "pw")},
			ClientConfig{SASL: scramMech(t, scram.SHA256, "alice", "pw"), SASLUser: "alice"},
		},
		"SASL_PLAINTEXT PLAIN": {
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "pw")},
			ClientConfig{SASL: plain.Mechanism{Username: "alice", Password: "pw"}, SASLUser: "alice"},
		},
		"SSL with a client certificate": {
			[]kfake.Opt{kfake.TLS(mutualTLS)},
			ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Client(t, "app").TLS(t)}}},
		},
		"SSL with a server name": {
			[]kfake.Opt{kfake.TLS(otherName)},
			ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "broker-1.example.com"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tt.client.Brokers = []string{cluster(t, tt.broker...)}
			if err := connect(t, tt.client); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWaitForBrokerCountsFailuresByReason: every failed attempt is counted
// under its reason, and the wait goes on until the attempts run out.
func TestWaitForBrokerCountsFailuresByReason(t *testing.T) {
	t.Parallel()
	addr := cluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "pw"))
	c := newClient(t, ClientConfig{Brokers: []string{addr}, SASL: plain.Mechanism{Username: "alice", Password: "nope"}, SASLUser: "alice"})
	err := c.WaitForBroker(t.Context(), 3, time.Millisecond)
	var auth *AuthError
	if !errors.As(err, &auth) || auth.User != "alice" || auth.Mechanism != "PLAIN" {
		t.Fatalf("error %v, want an *AuthError for alice, PLAIN", err)
	}
	for reason, want := range map[string]float64{ReasonAuth: 3, ReasonTLS: 0, ReasonNetwork: 0, ReasonSecurityProtocol: 0} {
		if got := testutil.ToFloat64(c.connectErrors.WithLabelValues(reason)); got != want {
			t.Errorf("connect errors{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestNetworkErrorsStayUnclassified: a port nothing listens on is a network
// problem, not a security one.
func TestNetworkErrorsStayUnclassified(t *testing.T) {
	t.Parallel()
	c := newClient(t, ClientConfig{Brokers: []string{"127.0.0.1:1"}, TLS: &tls.Config{}})
	err := c.WaitForBroker(t.Context(), 1, 0)
	if err == nil || Reason(err) != ReasonNetwork {
		t.Fatalf("error %v, reason %s; want a network error", err, Reason(err))
	}
}

// TestIllegalSASLState: a broker that answers the SASL handshake with
// ILLEGAL_SASL_STATE, as Kafka's PLAINTEXT and SSL listeners do, has no
// SASL on that listener.
func TestIllegalSASLState(t *testing.T) {
	c := newClient(t, ClientConfig{Brokers: []string{"b:9093"}, TLS: &tls.Config{}, SASL: plain.Mechanism{Username: "u", Password: "p"}, SASLUser: "u"})
	err := c.classify(t.Context(), "b:9093", fmt.Errorf("could not successfully authenticate to b:9093 with SASL: SASL handshake failed: %w", kafka.IllegalSASLState))
	var m *ProtocolMismatchError
	if !errors.As(err, &m) || m.Configured != "SASL_SSL" || m.Suggested != "SSL" {
		t.Fatalf("got %#v", err)
	}
	if !strings.Contains(err.Error(), "KAFKA_SECURITY_PROTOCOL=SSL") {
		t.Errorf("message %q does not suggest SSL", err)
	}
}
