package kafkaio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Why connecting failed: the values of Reason, and the reason label of
// viewlog_kafka_connect_errors_total.
const (
	// ReasonAuth: the broker refused the SASL credentials or mechanism.
	ReasonAuth = "auth"
	// ReasonTLS: the TLS handshake failed: the broker's certificate is not
	// trusted, or the broker refused this client's.
	ReasonTLS = "tls"
	// ReasonSecurityProtocol: the broker's listener speaks another
	// security protocol (TLS or not, SASL or not) than the client.
	ReasonSecurityProtocol = "security_protocol"
	// ReasonAdvertisedAddress: a bootstrap broker answered, but an
	// address the cluster advertises could not be reached.
	ReasonAdvertisedAddress = "advertised_address"
	// ReasonNetwork: anything else, such as a refused connection or a
	// name that does not resolve.
	ReasonNetwork = "network"
)

// Reason classifies an error from connecting to the cluster.
func Reason(err error) string {
	var (
		a   *AuthError
		t   *TLSError
		p   *ProtocolMismatchError
		adv *AdvertisedAddressError
	)
	switch {
	case errors.As(err, &adv):
		return ReasonAdvertisedAddress
	case errors.As(err, &a):
		return ReasonAuth
	case errors.As(err, &t):
		return ReasonTLS
	case errors.As(err, &p):
		return ReasonSecurityProtocol
	default:
		return ReasonNetwork
	}
}

// AuthError is a broker refusing this client's SASL credentials, or not
// offering its mechanism. Retrying does not help until the settings change.
type AuthError struct {
	Broker    string
	Mechanism string
	User      string
	Err       error
}

func (e *AuthError) Error() string {
	if errors.Is(e.Err, kafka.UnsupportedSASLMechanism) {
		return fmt.Sprintf("broker %s does not offer SASL mechanism %s (user %q): set KAFKA_SASL_MECHANISM to one the cluster enables (%v)",
			e.Broker, e.Mechanism, e.User, e.Err)
	}
	return fmt.Sprintf("broker %s refused the credentials of user %q (SASL %s): check KAFKA_SASL_USERNAME, the password (KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE) and KAFKA_SASL_MECHANISM (%v)",
		e.Broker, e.User, e.Mechanism, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// TLSError is a failed TLS handshake: the broker's certificate did not
// verify, or the broker refused this client's certificate.
type TLSError struct {
	Broker string
	// ServerName is the name the broker's certificate was checked against.
	ServerName string
	// Reason says what failed and which setting changes it.
	Reason string
	Err    error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS with broker %s (certificate checked for %q) failed: %s (%v)", e.Broker, e.ServerName, e.Reason, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// ProtocolMismatchError is a broker listener that speaks another security
// protocol than the client: plaintext to a TLS port, TLS to a plaintext
// port, SASL where none is expected, or none where it is.
type ProtocolMismatchError struct {
	Broker string
	// Detail says what the broker did.
	Detail string
	// Configured is the client's protocol, Suggested the one that
	// probably matches the listener.
	Configured, Suggested string
	Err                   error
}

func (e *ProtocolMismatchError) Error() string {
	return fmt.Sprintf("broker %s %s, but KAFKA_SECURITY_PROTOCOL=%s: probably KAFKA_SECURITY_PROTOCOL=%s is wanted (%v)",
		e.Broker, e.Detail, e.Configured, e.Suggested, e.Err)
}

func (e *ProtocolMismatchError) Unwrap() error { return e.Err }

// Metrics returns the client's collector, viewlog_kafka_connect_errors_total,
// for the caller to register.
func (c *Client) Metrics() prometheus.Collector { return c.connectErrors }

func newConnectErrors() *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "viewlog_kafka_connect_errors_total",
		Help: "Failed attempts to reach the Kafka cluster while waiting for it at start, by reason: auth (credentials refused), tls (certificate), security_protocol (client and listener disagree), advertised_address (the bootstrap broker answers, an address it advertises does not), network.",
	}, []string{"reason"})
	for _, r := range []string{ReasonAuth, ReasonTLS, ReasonSecurityProtocol, ReasonAdvertisedAddress, ReasonNetwork} {
		v.WithLabelValues(r)
	}
	return v
}

// classify turns err, from connecting to broker, into an *AuthError,
// *TLSError or *ProtocolMismatchError when it is one of those. When the
// broker only closed the connection or stopped answering, which is how a
// listener reacts to the wrong protocol, it asks the broker what it speaks.
// Other errors are returned unchanged.
func (c *Client) classify(ctx context.Context, broker string, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	proto := c.cfg.SecurityProtocol()
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		switch kerr {
		case kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism:
			return &AuthError{Broker: broker, Mechanism: c.mechanism(), User: c.cfg.SASLUser, Err: err}
		case kafka.IllegalSASLState:
			return &ProtocolMismatchError{Broker: broker, Detail: "does not expect SASL on this listener",
				Configured: proto, Suggested: strings.TrimPrefix(proto, "SASL_"), Err: err}
		}
	}
	if c.cfg.TLS != nil {
		if t := c.tlsFailure(broker, err); t != nil {
			return t
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			return &ProtocolMismatchError{Broker: broker, Detail: "does not answer in TLS",
				Configured: proto, Suggested: withoutTLS(proto), Err: err}
		}
	}
	if dialFailed(err) || !cutShort(err) {
		return err
	}
	if m := c.diagnose(ctx, broker); m != nil {
		m.Err = err
		return m
	}
	return err
}

func (c *Client) mechanism() string {
	if c.cfg.SASL == nil {
		return ""
	}
	return c.cfg.SASL.Name()
}

// tlsFailure explains a certificate that did not verify, or a handshake the
// broker refused; it returns nil for other errors.
func (c *Client) tlsFailure(broker string, err error) *TLSError {
	name := c.cfg.TLS.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(broker)
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		op       *net.OpError
		reason   string
	)
	switch {
	case errors.As(err, &unknown):
		issuer := "an unknown issuer"
		if unknown.Cert != nil {
			issuer = fmt.Sprintf("%q", unknown.Cert.Issuer.String())
		}
		reason = fmt.Sprintf("its certificate is signed by %s, an authority this client does not trust: set KAFKA_TLS_CA_FILE to the cluster's CA bundle (when empty, the system's roots are trusted)", issuer)
	case errors.As(err, &hostname):
		reason = fmt.Sprintf("its certificate is not valid for %q: connect to a name the certificate carries, or set KAFKA_TLS_SERVER_NAME to one", hostname.Host)
		if hostname.Certificate != nil {
			var names []string
			names = append(names, hostname.Certificate.DNSNames...)
			for _, ip := range hostname.Certificate.IPAddresses {
				names = append(names, ip.String())
			}
			reason = fmt.Sprintf("its certificate is valid for %v, not for %q: connect to one of those names, or set KAFKA_TLS_SERVER_NAME to one", names, hostname.Host)
		}
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			reason = "its certificate has expired or is not valid yet (check the clocks, and the broker's certificate)"
		default:
			reason = "its certificate is not valid here: " + invalid.Error()
		}
	case errors.As(err, &verify):
		reason = "its certificate does not verify: " + verify.Err.Error()
	case errors.As(err, &op) && op.Op == "remote error":
		// An alert from the broker: after the handshake in TLS 1.3, so
		// the first read is where it shows.
		alert := op.Err.Error()
		switch {
		case len(c.cfg.TLS.Certificates) == 0 && (strings.Contains(alert, "certificate required") || strings.Contains(alert, "bad certificate") || strings.Contains(alert, "handshake failure")):
			reason = fmt.Sprintf("the broker refused the handshake (%s): it probably requires a client certificate: set KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE", alert)
		case strings.Contains(alert, "certificate"):
			reason = fmt.Sprintf("the broker refused the client certificate (%s): KAFKA_TLS_CERT_FILE must be signed by an authority the broker trusts, and valid", alert)
		default:
			reason = fmt.Sprintf("the broker refused the handshake (%s)", alert)
		}
	default:
		return nil
	}
	return &TLSError{Broker: broker, ServerName: name, Reason: reason, Err: err}
}

// diagnose asks broker, on separate short-lived connections, which
// security protocol it speaks when that is not the client's. It returns
// nil when it finds no mismatch. Plain Kafka is asked first: a TLS
// listener drops it at once, while a ClientHello sent to a plaintext
// listener can wait unanswered for the whole timeout.
func (c *Client) diagnose(ctx context.Context, broker string) *ProtocolMismatchError {
	step := func(f func(context.Context) bool) bool {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return f(ctx)
	}
	proto := c.cfg.SecurityProtocol()
	requiresSASL := func() *ProtocolMismatchError {
		suggest := "SASL_PLAINTEXT"
		if c.cfg.TLS != nil {
			suggest = "SASL_SSL"
		}
		return &ProtocolMismatchError{Broker: broker, Detail: "closes the connection on the first request after ApiVersions, as a listener that requires SASL authentication does",
			Configured: proto, Suggested: suggest}
	}
	if c.cfg.TLS == nil {
		answers, closes := c.afterAPIVersions(ctx, broker)
		switch {
		case answers && closes && c.cfg.SASL == nil:
			return requiresSASL()
		case !answers && step(func(ctx context.Context) bool { return speaksTLS(ctx, broker) }):
			suggest := "SSL (or SASL_SSL, if the cluster also asks for a user name and password)"
			if c.cfg.SASL != nil {
				suggest = "SASL_SSL"
			}
			return &ProtocolMismatchError{Broker: broker, Detail: "answers in TLS", Configured: proto, Suggested: suggest}
		}
		return nil
	}
	if step(func(ctx context.Context) bool { return speaksPlainKafka(ctx, broker) }) {
		return &ProtocolMismatchError{Broker: broker, Detail: "answers Kafka requests without TLS", Configured: proto, Suggested: withoutTLS(proto)}
	}
	if c.cfg.SASL == nil {
		if answers, closes := c.afterAPIVersions(ctx, broker); answers && closes {
			return requiresSASL()
		}
	}
	return nil
}

// speaksTLS reports whether broker completes a TLS handshake, or refuses
// one with a TLS alert. Nothing is verified: the answer is only used to
// explain a failure.
func speaksTLS(ctx context.Context, broker string) bool {
	host, _, _ := net.SplitHostPort(broker)
	// No verification: the connection carries no credentials and no
	// data, and only tells whether the port speaks TLS at all.
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: host}}
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err == nil {
		conn.Close()
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// speaksPlainKafka reports whether broker answers an ApiVersions request
// sent without TLS.
func speaksPlainKafka(ctx context.Context, broker string) bool {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return false
	}
	conn := kafka.NewConnWith(nc, kafka.ConnConfig{ClientID: "viewlog"})
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	_, err = conn.ApiVersions()
	return err == nil
}

// afterAPIVersions connects as the client does but without SASL, and
// reports whether broker answers ApiVersions, and whether it then drops the
// connection on a metadata request: what a SASL listener does to a client
// that does not authenticate.
func (c *Client) afterAPIVersions(ctx context.Context, broker string) (answers, closes bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d := *c.dialer
	d.SASLMechanism = nil
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return false, false
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.ApiVersions(); err != nil {
		return false, false
	}
	_, err = conn.Brokers()
	return true, err != nil && cutShort(err)
}

// dialFailed reports whether err is a failure to open the TCP connection
// (refused, unreachable, unknown host): a network problem, not a protocol one.
func dialFailed(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}

// cutShort reports whether err is the peer closing the connection or not
// answering in time.
func cutShort(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func withoutTLS(proto string) string {
	if proto == "SASL_SSL" {
		return "SASL_PLAINTEXT"
	}
	return "PLAINTEXT"
}
