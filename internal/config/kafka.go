package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/viewlog/viewlog/internal/kafkaio"
)

// Kafka is how a program reaches the cluster: the bootstrap brokers and the
// security settings, named as Kafka's own clients name them
// (security.protocol, sasl.mechanism, ...). The producer and the consumer
// embed it. LoadConsumer and LoadProducer read the files it names and build
// the TLS and SASL configuration once; ClientConfig hands them out.
type Kafka struct {
	Brokers          Brokers          `env:"KAFKA_SERVER" envDefault:"localhost:9092" forms:"comma-separated host:port list (\"localhost:9092,other:9092\")"`
	SecurityProtocol SecurityProtocol `env:"KAFKA_SECURITY_PROTOCOL" envDefault:"PLAINTEXT" forms:"PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"`
	SASLMechanism    SASLMechanism    `env:"KAFKA_SASL_MECHANISM" forms:"PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"`
	SASLUsername     string           `env:"KAFKA_SASL_USERNAME"`
	SASLPassword     Secret           `env:"KAFKA_SASL_PASSWORD"`
	// SASLPasswordFile holds the password instead of KAFKA_SASL_PASSWORD,
	// for Docker and Kubernetes secrets; one trailing newline is ignored.
	SASLPasswordFile string `env:"KAFKA_SASL_PASSWORD_FILE"`
	// TLSCAFile is a PEM bundle of the authorities to trust; empty means
	// the system's roots.
	TLSCAFile   string `env:"KAFKA_TLS_CA_FILE"`
	TLSCertFile string `env:"KAFKA_TLS_CERT_FILE"`
	TLSKeyFile  string `env:"KAFKA_TLS_KEY_FILE"`
	// TLSServerName is the name the broker's certificate must carry, when
	// it is not the host the client connects to.
	TLSServerName         string `env:"KAFKA_TLS_SERVER_NAME"`
	TLSInsecureSkipVerify bool   `env:"KAFKA_TLS_INSECURE_SKIP_VERIFY" envDefault:"false" forms:"true or false"`

	// conn returns what resolve built from the settings. A function, as
	// fmt prints a function's address and cannot look inside it: a
	// struct or a pointer would show the client certificate's key or the
	// mechanism's password to %s.
	conn func() connection
}

type connection struct {
	tls  *tls.Config
	sasl sasl.Mechanism
}

// hiddenMechanism is a SASL mechanism that fmt, slog and encoding/json
// print as its name and user, without the password it holds.
type hiddenMechanism struct {
	sasl.Mechanism
	user string
}

func (m hiddenMechanism) String() string   { return m.Name() + " as " + strconv.Quote(m.user) }
func (m hiddenMechanism) GoString() string { return "SASL " + m.String() }

// Format implements fmt.Formatter, for every verb.
func (m hiddenMechanism) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue implements slog.LogValuer.
func (m hiddenMechanism) LogValue() slog.Value { return slog.StringValue(m.String()) }

// MarshalText implements encoding.TextMarshaler (and so JSON).
func (m hiddenMechanism) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// InsecureSkipVerifyWarning is what a program logs at every start while
// KAFKA_TLS_INSECURE_SKIP_VERIFY=true.
const InsecureSkipVerifyWarning = "KAFKA_TLS_INSECURE_SKIP_VERIFY=true: the broker's TLS certificate is not verified, so anyone on the network path can pose as the broker and read the credentials and records; use it only to diagnose, and set KAFKA_TLS_CA_FILE instead"

// ClientConfig is the configuration every connection to the cluster is built
// from. The TLS and SASL configuration were built when the settings were
// loaded; a Kafka that was not loaded by LoadConsumer or LoadProducer builds
// them now, and gets no security if its settings are unusable.
func (k Kafka) ClientConfig() kafkaio.ClientConfig {
	if k.conn == nil {
		_ = k.resolve()
	}
	cfg := kafkaio.ClientConfig{Brokers: k.Brokers}
	if k.conn != nil {
		conn := k.conn()
		cfg.TLS = conn.tls
		if conn.sasl != nil {
			cfg.SASL, cfg.SASLUser = hiddenMechanism{conn.sasl, k.SASLUsername}, k.SASLUsername
		}
	}
	return cfg
}

// SecurityProtocol is Kafka's security.protocol.
type SecurityProtocol string

// The security protocols.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

// UnmarshalText implements encoding.TextUnmarshaler; case does not matter.
func (p *SecurityProtocol) UnmarshalText(text []byte) error {
	switch v := SecurityProtocol(strings.ToUpper(strings.TrimSpace(string(text)))); v {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		*p = v
		return nil
	case "":
		*p = Plaintext
		return nil
	case "TLS":
		return errors.New("unknown protocol; Kafka calls TLS \"SSL\"")
	default:
		return errors.New("unknown protocol")
	}
}

func (p SecurityProtocol) String() string {
	if p == "" {
		return string(Plaintext)
	}
	return string(p)
}

func (p SecurityProtocol) tls() bool  { return p == SSL || p == SASLSSL }
func (p SecurityProtocol) sasl() bool { return p == SASLPlaintext || p == SASLSSL }

// SASLMechanism is Kafka's sasl.mechanism.
type SASLMechanism string

// The SASL mechanisms.
const (
	Plain       SASLMechanism = "PLAIN"
	ScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	ScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

const mechanismForms = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"

// UnmarshalText implements encoding.TextUnmarshaler; case does not matter.
func (m *SASLMechanism) UnmarshalText(text []byte) error {
	switch v := SASLMechanism(strings.ToUpper(strings.TrimSpace(string(text)))); v {
	case Plain, ScramSHA256, ScramSHA512, "":
		*m = v
		return nil
	case "GSSAPI", "OAUTHBEARER", "AWS_MSK_IAM":
		return errors.New("mechanism not supported by this program")
	default:
		return errors.New("unknown mechanism")
	}
}

// Secret is a setting that must never be shown. Printed with fmt, logged
// with slog or marshalled as text or JSON, it reads [REDACTED] (or nothing
// when unset); Reveal returns the value.
type Secret struct{ value string }

const redacted = "[REDACTED]"

// NewSecret returns a Secret holding v.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret is not empty.
func (s Secret) IsSet() bool { return s.value != "" }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format implements fmt.Formatter, so that no verb (%x, %q, %d...) prints
// the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler (and so JSON).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(text []byte) error {
	s.value = string(text)
	return nil
}

// resolve checks the security settings against each other, reads the files
// they name, and builds the TLS and SASL configuration. Every problem is an
// *Error of its own.
func (k *Kafka) resolve() error {
	var errs []error
	fail := func(name, value, reason, forms string) {
		errs = append(errs, &Error{Var: name, Value: value, Reason: reason, Forms: forms})
	}
	proto := k.SecurityProtocol
	if proto == "" {
		proto = Plaintext
	}
	conn := &connection{}

	// SASL.
	password := k.SASLPassword.Reveal()
	if !proto.sasl() {
		notUsed := fmt.Sprintf("set, but KAFKA_SECURITY_PROTOCOL=%s does not use SASL", proto)
		const forms = "leave it empty, or set KAFKA_SECURITY_PROTOCOL to SASL_PLAINTEXT or SASL_SSL"
		for _, s := range []struct{ name, value, shown string }{
			{"KAFKA_SASL_MECHANISM", string(k.SASLMechanism), string(k.SASLMechanism)},
			{"KAFKA_SASL_USERNAME", k.SASLUsername, k.SASLUsername},
			{"KAFKA_SASL_PASSWORD", password, k.SASLPassword.String()},
			{"KAFKA_SASL_PASSWORD_FILE", k.SASLPasswordFile, k.SASLPasswordFile},
		} {
			if s.value != "" {
				fail(s.name, s.shown, notUsed, forms)
			}
		}
	} else {
		required := fmt.Sprintf("required with KAFKA_SECURITY_PROTOCOL=%s", proto)
		if k.SASLMechanism == "" {
			fail("KAFKA_SASL_MECHANISM", "", required, mechanismForms)
		}
		if k.SASLUsername == "" {
			fail("KAFKA_SASL_USERNAME", "", required, "the user name (for Confluent Cloud, the API key)")
		}
		switch {
		case password != "" && k.SASLPasswordFile != "":
			fail("KAFKA_SASL_PASSWORD_FILE", k.SASLPasswordFile, "set together with KAFKA_SASL_PASSWORD", "one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE")
		case k.SASLPasswordFile != "":
			b, err := os.ReadFile(k.SASLPasswordFile)
			password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			switch {
			case err != nil:
				fail("KAFKA_SASL_PASSWORD_FILE", k.SASLPasswordFile, "cannot be read: "+pathError(err), "the path of a readable file holding the password")
			case password == "":
				fail("KAFKA_SASL_PASSWORD_FILE", k.SASLPasswordFile, "the file is empty", "the path of a file holding the password")
			}
		case password == "":
			fail("KAFKA_SASL_PASSWORD", "", required+", or KAFKA_SASL_PASSWORD_FILE", "the password, or KAFKA_SASL_PASSWORD_FILE with the path of a file holding it")
		}
		if k.SASLMechanism != "" && k.SASLUsername != "" && password != "" {
			m, err := mechanism(k.SASLMechanism, k.SASLUsername, password)
			switch {
			case errors.Is(err, errUsername):
				fail("KAFKA_SASL_USERNAME", k.SASLUsername, "not allowed by SCRAM (SASLprep): it holds control or unassigned characters", "a user name of printable characters")
			case errors.Is(err, errPassword):
				// The library's own message repeats the password.
				fail(passwordVar(k), redacted, "not allowed by SCRAM (SASLprep): it holds control or unassigned characters", "a password of printable characters")
			}
			conn.sasl = m
		}
	}

	// TLS.
	if !proto.tls() {
		notUsed := fmt.Sprintf("set, but KAFKA_SECURITY_PROTOCOL=%s does not use TLS", proto)
		const forms = "leave it empty, or set KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL"
		for _, s := range []struct{ name, value string }{
			{"KAFKA_TLS_CA_FILE", k.TLSCAFile},
			{"KAFKA_TLS_CERT_FILE", k.TLSCertFile},
			{"KAFKA_TLS_KEY_FILE", k.TLSKeyFile},
			{"KAFKA_TLS_SERVER_NAME", k.TLSServerName},
		} {
			if s.value != "" {
				fail(s.name, s.value, notUsed, forms)
			}
		}
		if k.TLSInsecureSkipVerify {
			fail("KAFKA_TLS_INSECURE_SKIP_VERIFY", "true", notUsed, "false, or set KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL")
		}
	} else {
		conn.tls = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         k.TLSServerName,
			InsecureSkipVerify: k.TLSInsecureSkipVerify,
		}
		if k.TLSCAFile != "" {
			pool, err := readCAs(k.TLSCAFile)
			if err != nil {
				fail("KAFKA_TLS_CA_FILE", k.TLSCAFile, err.Error(), "the path of a PEM file of CA certificates (-----BEGIN CERTIFICATE-----), or empty for the system's roots")
			}
			conn.tls.RootCAs = pool
			if k.TLSInsecureSkipVerify {
				fail("KAFKA_TLS_INSECURE_SKIP_VERIFY", "true", "skips the verification KAFKA_TLS_CA_FILE is for", "false, or true without KAFKA_TLS_CA_FILE")
			}
		}
		switch {
		case k.TLSCertFile != "" && k.TLSKeyFile == "":
			fail("KAFKA_TLS_KEY_FILE", "", "empty, but KAFKA_TLS_CERT_FILE is set", "the path of the PEM private key of KAFKA_TLS_CERT_FILE")
		case k.TLSCertFile == "" && k.TLSKeyFile != "":
			fail("KAFKA_TLS_CERT_FILE", "", "empty, but KAFKA_TLS_KEY_FILE is set", "the path of the PEM client certificate of KAFKA_TLS_KEY_FILE")
		case k.TLSCertFile != "":
			cert, errs2 := readKeyPair("KAFKA_TLS_CERT_FILE", k.TLSCertFile, "KAFKA_TLS_KEY_FILE", k.TLSKeyFile, time.Now())
			errs = append(errs, errs2...)
			if errs2 == nil {
				conn.tls.Certificates = []tls.Certificate{cert}
			}
		}
		if n := k.TLSServerName; n != "" && !validServerName(n) {
			fail("KAFKA_TLS_SERVER_NAME", n, "not a host name", "a DNS name or IP address, without port or scheme (\"broker-1.example.com\")")
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	k.conn = func() connection { return *conn }
	return nil
}

func passwordVar(k *Kafka) string {
	if k.SASLPasswordFile != "" {
		return "KAFKA_SASL_PASSWORD_FILE"
	}
	return "KAFKA_SASL_PASSWORD"
}

var (
	errUsername = errors.New("user name not allowed")
	errPassword = errors.New("password not allowed")
)

// mechanism builds the SASL mechanism. SCRAM normalizes the user name and
// password (SASLprep) and refuses some characters; the library's error
// would print the password, so it is replaced by errUsername or
// errPassword.
func mechanism(m SASLMechanism, user, password string) (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch m {
	case Plain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case ScramSHA256:
		algo = scram.SHA256
	case ScramSHA512:
		algo = scram.SHA512
	default:
		return nil, fmt.Errorf("unknown SASL mechanism %q", m)
	}
	if _, err := scram.Mechanism(algo, user, "password"); err != nil {
		return nil, errUsername
	}
	mech, err := scram.Mechanism(algo, user, password)
	if err != nil {
		return nil, errPassword
	}
	return mech, nil
}

// pathError is err without the *PathError's repetition of the path, which
// the message already gives.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readCAs reads a PEM bundle of CA certificates. Text around the blocks, as
// openssl writes it, is ignored; a certificate block that does not parse is
// an error, and so is a file with none.
func readCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %s", pathError(err))
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", n, err)
		}
		pool.AddCert(c)
	}
	if n == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}

// readKeyPair reads a PEM certificate and its private key, with an error
// naming the variable at fault: unreadable, not PEM, encrypted, not
// matching, or outside its validity at now.
func readKeyPair(certVar, certFile, keyVar, keyFile string, now time.Time) (tls.Certificate, []error) {
	var errs []error
	fail := func(name, value, reason, forms string) {
		errs = append(errs, &Error{Var: name, Value: value, Reason: reason, Forms: forms})
	}
	const certForms = "the path of a PEM certificate (-----BEGIN CERTIFICATE-----)"
	const keyForms = "the path of an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)"
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		fail(certVar, certFile, "cannot be read: "+pathError(err), certForms)
	} else if block, _ := pem.Decode(certPEM); block == nil || block.Type != "CERTIFICATE" {
		fail(certVar, certFile, "holds no PEM certificate", certForms)
	} else if c, err := x509.ParseCertificate(block.Bytes); err != nil {
		fail(certVar, certFile, "the certificate does not parse: "+err.Error(), certForms)
	} else if now.After(c.NotAfter) {
		fail(certVar, certFile, fmt.Sprintf("the certificate expired on %s", c.NotAfter.UTC().Format(time.RFC3339)), "a certificate valid now")
	} else if now.Before(c.NotBefore) {
		fail(certVar, certFile, fmt.Sprintf("the certificate is valid only from %s", c.NotBefore.UTC().Format(time.RFC3339)), "a certificate valid now")
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		fail(keyVar, keyFile, "cannot be read: "+pathError(err), keyForms)
	} else if block := firstKey(keyPEM); block == nil {
		fail(keyVar, keyFile, "holds no PEM private key", keyForms)
	} else if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED" {
		fail(keyVar, keyFile, "the key is encrypted (decrypt it with `openssl pkey -in key.pem -out plain-key.pem`)", keyForms)
	}
	if errs != nil {
		return tls.Certificate{}, errs
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		reason := "the key does not parse or does not match: " + err.Error()
		if strings.Contains(err.Error(), "does not match") {
			reason = "the key is not the key of the certificate in " + certVar
		}
		return tls.Certificate{}, []error{&Error{Var: keyVar, Value: keyFile, Reason: reason, Forms: keyForms}}
	}
	return pair, nil
}

// firstKey returns the first PEM block of b that holds a private key.
func firstKey(b []byte) *pem.Block {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return block
		}
	}
}

// validServerName accepts an IP address or a DNS name: letters, digits,
// hyphens, underscores and dots; a port, a scheme or a space is a mistake.
func validServerName(n string) bool {
	if net.ParseIP(n) != nil {
		return true
	}
	if len(n) > 253 {
		return false
	}
	for _, c := range n {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return !strings.HasPrefix(n, ".") && !strings.HasPrefix(n, "-")
}
