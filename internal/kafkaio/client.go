package kafkaio

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ClientConfig is how to reach the cluster. It is the only source of
// connection settings: every dialer and transport the programs use is built
// from one Client made from it, so that TLS, SASL and timeouts are set once.
type ClientConfig struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// TLS, if not nil, wraps every connection in TLS with this
	// configuration (security protocols SSL and SASL_SSL).
	TLS *tls.Config
	// SASL, if not nil, authenticates every connection with this mechanism
	// (security protocols SASL_PLAINTEXT and SASL_SSL).
	SASL sasl.Mechanism
	// SASLUser is the user SASL authenticates as. The mechanism holds it
	// too, but not where messages can read it: an error that says whose
	// credentials were refused names it.
	SASLUser string
}

// SecurityProtocol is the Kafka name of the protocol cfg speaks: PLAINTEXT,
// SSL, SASL_PLAINTEXT or SASL_SSL.
func (cfg ClientConfig) SecurityProtocol() string {
	switch {
	case cfg.TLS != nil && cfg.SASL != nil:
		return "SASL_SSL"
	case cfg.TLS != nil:
		return "SSL"
	case cfg.SASL != nil:
		return "SASL_PLAINTEXT"
	default:
		return "PLAINTEXT"
	}
}

// Client builds every connection to the cluster from one ClientConfig. It
// holds no connection itself: the dialer dials on demand, and the transport
// pools its connections until CloseIdleConnections.
type Client struct {
	cfg       ClientConfig
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	// connectErrors counts the broker wait's failed attempts by Reason.
	connectErrors *prometheus.CounterVec
}

// dialTimeout bounds connecting, TLS and SASL handshakes included.
const dialTimeout = 10 * time.Second

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig, log *slog.Logger) (*Client, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka client: no bootstrap brokers")
	}
	c := &Client{cfg: cfg, log: log, connectErrors: newConnectErrors()}
	c.dialer = &kafka.Dialer{
		Timeout:       dialTimeout,
		DualStack:     true,
		TLS:           cfg.TLS,
		SASLMechanism: cfg.SASL,
	}
	c.transport = &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: dialTimeout}).DialContext,
		DialTimeout: dialTimeout,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 6 * time.Second,
		ClientID:    "viewlog",
		TLS:         cfg.TLS,
		SASL:        cfg.SASL,
	}
	return c, nil
}

// Brokers are the bootstrap addresses.
func (c *Client) Brokers() []string { return c.cfg.Brokers }

// Dialer is for APIs that dial their own connections: the consumer group
// and the partition fetchers.
func (c *Client) Dialer() *kafka.Dialer { return c.dialer }

// Transport is for request-level APIs: kafka.Client and kafka.Writer.
func (c *Client) Transport() *kafka.Transport { return c.transport }

// Requests returns a kafka.Client that sends requests over the transport to
// the bootstrap brokers, with timeout bounding each request.
func (c *Client) Requests(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: c.transport, Timeout: timeout}
}

// Close releases the transport's pooled connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }
