package config

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/viewlog/viewlog/internal/kafkaio"
	"github.com/viewlog/viewlog/internal/testpki"
)

const password = "hunter2-Pa55"

// files are certificates, keys and password files for the tests, good and
// bad, written to a temporary folder.
type files struct {
	ca, cert, key, otherKey, clientCA     string
	expiredCert, expiredKey               string
	futureCert, futureKey                 string
	garbage, badCertPEM, encryptedKey     string
	passwordFile, emptyFile, missing, dir string
	pki                                   *testpki.CA
}

func testFiles(t *testing.T) files {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test CA")
	client := ca.Client(t, "app").Write(t, dir, "client")
	other := ca.Client(t, "other").Write(t, dir, "other")
	expired := ca.Issue(t, testpki.Spec{CommonName: "old", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).Write(t, dir, "expired")
	future := ca.Issue(t, testpki.Spec{CommonName: "new", Client: true, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}).Write(t, dir, "future")
	return files{
		dir:          dir,
		pki:          ca,
		ca:           testpki.WriteFile(t, dir, "ca.pem", ca.CertPEM),
		clientCA:     testpki.WriteFile(t, dir, "client-ca.pem", ca.CertPEM),
		cert:         client.Cert,
		key:          client.Key,
		otherKey:     other.Key,
		expiredCert:  expired.Cert,
		expiredKey:   expired.Key,
		futureCert:   future.Cert,
		futureKey:    future.Key,
		garbage:      testpki.WriteFile(t, dir, "garbage.txt", []byte("not a certificate\n")),
		badCertPEM:   testpki.WriteFile(t, dir, "bad.pem", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")),
		encryptedKey: testpki.WriteFile(t, dir, "encrypted-key.pem", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nbm90IHJlYWxseQ==\n-----END ENCRYPTED PRIVATE KEY-----\n")),
		passwordFile: testpki.WriteFile(t, dir, "password", []byte(password+"\n")),
		emptyFile:    testpki.WriteFile(t, dir, "empty", nil),
		missing:      filepath.Join(dir, "missing.pem"),
	}
}

// configErrors flattens the joined errors of a load into its *Errors.
func configErrors(err error) []*Error {
	var out []*Error
	var e *Error
	switch x := err.(type) {
	case nil:
	case interface{ Unwrap() []error }:
		for _, inner := range x.Unwrap() {
			out = append(out, configErrors(inner)...)
		}
	default:
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	return out
}

// TestInvalidSecuritySettings: every mistake in the security settings
// stops the program at start with an error of its own, naming the variable,
// the reason and the accepted forms, and never the password. The other
// settings of each case are right, so that exactly one error is expected.
func TestInvalidSecuritySettings(t *testing.T) {
	f := testFiles(t)
	saslSSL := map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "app", "KAFKA_SASL_PASSWORD": password}
	ssl := map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		if m == nil {
			m = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name          string
		load          func(map[string]string) error
		env           map[string]string
		variable      string
		reason, forms string
	}{
		{"unknown protocol", consumer, with(nil, "KAFKA_SECURITY_PROTOCOL", "kerberos"), "KAFKA_SECURITY_PROTOCOL", "unknown protocol", "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"},
		{"TLS for SSL", producer, with(nil, "KAFKA_SECURITY_PROTOCOL", "TLS"), "KAFKA_SECURITY_PROTOCOL", `Kafka calls TLS "SSL"`, "SASL_SSL"},
		{"unknown mechanism", consumer, with(saslSSL, "KAFKA_SASL_MECHANISM", "MD5"), "KAFKA_SASL_MECHANISM", "unknown mechanism", "SCRAM-SHA-256"},
		{"unsupported mechanism", consumer, with(saslSSL, "KAFKA_SASL_MECHANISM", "GSSAPI"), "KAFKA_SASL_MECHANISM", "not supported", "PLAIN"},
		{"mechanism without SASL", consumer, with(nil, "KAFKA_SASL_MECHANISM", "PLAIN"), "KAFKA_SASL_MECHANISM", "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL", "SASL_PLAINTEXT or SASL_SSL"},
		{"user without SASL", producer, with(ssl, "KAFKA_SASL_USERNAME", "app"), "KAFKA_SASL_USERNAME", "KAFKA_SECURITY_PROTOCOL=SSL does not use SASL", "SASL_SSL"},
		{"password without SASL", consumer, with(nil, "KAFKA_SASL_PASSWORD", password), "KAFKA_SASL_PASSWORD", "does not use SASL", "SASL_PLAINTEXT"},
		{"password file without SASL", consumer, with(nil, "KAFKA_SASL_PASSWORD_FILE", f.passwordFile), "KAFKA_SASL_PASSWORD_FILE", "does not use SASL", "SASL_PLAINTEXT"},
		{"SASL without mechanism", consumer, with(saslSSL, "KAFKA_SASL_MECHANISM", ""), "KAFKA_SASL_MECHANISM", "required with KAFKA_SECURITY_PROTOCOL=SASL_SSL", "SCRAM-SHA-512"},
		{"SASL without user", producer, with(saslSSL, "KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME", ""), "KAFKA_SASL_USERNAME", "required with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT", "user name"},
		{"SASL without password", consumer, with(saslSSL, "KAFKA_SASL_PASSWORD", ""), "KAFKA_SASL_PASSWORD", "required", "KAFKA_SASL_PASSWORD_FILE"},
		{"password and password file", consumer, with(saslSSL, "KAFKA_SASL_PASSWORD_FILE", f.passwordFile), "KAFKA_SASL_PASSWORD_FILE", "set together with KAFKA_SASL_PASSWORD", "one of"},
		{"password file missing", consumer, with(saslSSL, "KAFKA_SASL_PASSWORD", "", "KAFKA_SASL_PASSWORD_FILE", f.missing), "KAFKA_SASL_PASSWORD_FILE", "cannot be read: no such file", "readable file"},
		{"password file empty", producer, with(saslSSL, "KAFKA_SASL_PASSWORD", "", "KAFKA_SASL_PASSWORD_FILE", f.emptyFile), "KAFKA_SASL_PASSWORD_FILE", "empty", "holding the password"},
		{"SCRAM user name SASLprep refuses", consumer, with(saslSSL, "KAFKA_SASL_USERNAME", "app\x07"), "KAFKA_SASL_USERNAME", "SASLprep", "printable"},
		{"SCRAM password SASLprep refuses", consumer, with(saslSSL, "KAFKA_SASL_PASSWORD", password+"\x07"), "KAFKA_SASL_PASSWORD", "SASLprep", "printable"},
		{"CA file without TLS", consumer, with(nil, "KAFKA_TLS_CA_FILE", f.ca), "KAFKA_TLS_CA_FILE", "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS", "SSL or SASL_SSL"},
		{"certificate without TLS", consumer, with(saslSSL, "KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT", "KAFKA_TLS_CERT_FILE", f.cert, "KAFKA_TLS_KEY_FILE", ""), "KAFKA_TLS_CERT_FILE", "SASL_PLAINTEXT does not use TLS", "SASL_SSL"},
		{"key without TLS", producer, with(nil, "KAFKA_TLS_KEY_FILE", f.key), "KAFKA_TLS_KEY_FILE", "does not use TLS", "SSL"},
		{"server name without TLS", consumer, with(nil, "KAFKA_TLS_SERVER_NAME", "broker"), "KAFKA_TLS_SERVER_NAME", "does not use TLS", "SSL"},
		{"insecure without TLS", consumer, with(nil, "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"), "KAFKA_TLS_INSECURE_SKIP_VERIFY", "does not use TLS", "false"},
		{"insecure not a boolean", consumer, with(ssl, "KAFKA_TLS_INSECURE_SKIP_VERIFY", "yes please"), "KAFKA_TLS_INSECURE_SKIP_VERIFY", "invalid syntax", "true or false"},
		{"insecure with a CA file", consumer, with(ssl, "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true", "KAFKA_TLS_CA_FILE", f.ca), "KAFKA_TLS_INSECURE_SKIP_VERIFY", "skips the verification", "without KAFKA_TLS_CA_FILE"},
		{"CA file missing", consumer, with(ssl, "KAFKA_TLS_CA_FILE", f.missing), "KAFKA_TLS_CA_FILE", "cannot be read: no such file", "PEM file of CA certificates"},
		{"CA file not PEM", consumer, with(ssl, "KAFKA_TLS_CA_FILE", f.garbage), "KAFKA_TLS_CA_FILE", "holds no PEM certificate", "BEGIN CERTIFICATE"},
		{"CA certificate does not parse", producer, with(ssl, "KAFKA_TLS_CA_FILE", f.badCertPEM), "KAFKA_TLS_CA_FILE", "certificate 1 does not parse", "PEM"},
		{"certificate without key", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.cert), "KAFKA_TLS_KEY_FILE", "empty, but KAFKA_TLS_CERT_FILE is set", "private key"},
		{"key without certificate", consumer, with(ssl, "KAFKA_TLS_KEY_FILE", f.key), "KAFKA_TLS_CERT_FILE", "empty, but KAFKA_TLS_KEY_FILE is set", "client certificate"},
		{"certificate missing", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.missing, "KAFKA_TLS_KEY_FILE", f.key), "KAFKA_TLS_CERT_FILE", "cannot be read", "PEM certificate"},
		{"certificate not PEM", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.garbage, "KAFKA_TLS_KEY_FILE", f.key), "KAFKA_TLS_CERT_FILE", "holds no PEM certificate", "PEM certificate"},
		{"certificate does not parse", producer, with(ssl, "KAFKA_TLS_CERT_FILE", f.badCertPEM, "KAFKA_TLS_KEY_FILE", f.key), "KAFKA_TLS_CERT_FILE", "does not parse", "PEM certificate"},
		{"certificate expired", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.expiredCert, "KAFKA_TLS_KEY_FILE", f.expiredKey), "KAFKA_TLS_CERT_FILE", "expired on", "valid now"},
		{"certificate not valid yet", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.futureCert, "KAFKA_TLS_KEY_FILE", f.futureKey), "KAFKA_TLS_CERT_FILE", "valid only from", "valid now"},
		{"key missing", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.cert, "KAFKA_TLS_KEY_FILE", f.missing), "KAFKA_TLS_KEY_FILE", "cannot be read", "private key"},
		{"key file holds no key", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.cert, "KAFKA_TLS_KEY_FILE", f.cert), "KAFKA_TLS_KEY_FILE", "holds no PEM private key", "private key"},
		{"key encrypted", producer, with(ssl, "KAFKA_TLS_CERT_FILE", f.cert, "KAFKA_TLS_KEY_FILE", f.encryptedKey), "KAFKA_TLS_KEY_FILE", "encrypted", "unencrypted"},
		{"key of another certificate", consumer, with(ssl, "KAFKA_TLS_CERT_FILE", f.cert, "KAFKA_TLS_KEY_FILE", f.otherKey), "KAFKA_TLS_KEY_FILE", "not the key of the certificate in KAFKA_TLS_CERT_FILE", "private key"},
		{"server name with a port", consumer, with(ssl, "KAFKA_TLS_SERVER_NAME", "broker-1.example.com:9093"), "KAFKA_TLS_SERVER_NAME", "not a host name", "without port"},
		{"server name as a URL", producer, with(ssl, "KAFKA_TLS_SERVER_NAME", "https://broker"), "KAFKA_TLS_SERVER_NAME", "not a host name", "DNS name or IP address"},
		{"DLQ replication factor 0", consumer, with(nil, "DLQ_REPLICATION_FACTOR", "0"), "DLQ_REPLICATION_FACTOR", "out of range", "-1 (the broker's default.replication.factor)"},
		{"DLQ replication factor not a number", consumer, with(nil, "DLQ_REPLICATION_FACTOR", "three"), "DLQ_REPLICATION_FACTOR", "invalid syntax", "1 to 32767"},
		{"DLQ retention below -1", consumer, with(nil, "DLQ_RETENTION_MS", "-5"), "DLQ_RETENTION_MS", "out of range", "-1 to keep dead letters forever"},
		{"DLQ retention not milliseconds", consumer, with(nil, "DLQ_RETENTION_MS", "7d"), "DLQ_RETENTION_MS", "invalid syntax", "milliseconds"},
		{"topic partitions 0", producer, with(nil, "TOPIC_PARTITIONS", "0"), "TOPIC_PARTITIONS", "out of range", "-1 (the broker's num.partitions)"},
		{"topic replication factor too large", producer, with(nil, "TOPIC_REPLICATION_FACTOR", "40000"), "TOPIC_REPLICATION_FACTOR", "out of range", "1 to 32767"},
		{"devbroker mechanism without users", devbroker, with(nil, "DEVBROKER_SASL_MECHANISM", "PLAIN"), "DEVBROKER_SASL_USERS", "required with DEVBROKER_SASL_MECHANISM", "user:password"},
		{"devbroker users without mechanism", devbroker, with(nil, "DEVBROKER_SASL_USERS", "app:"+password), "DEVBROKER_SASL_MECHANISM", "required with DEVBROKER_SASL_USERS", "SCRAM-SHA-512"},
		{"devbroker unknown mechanism", devbroker, with(nil, "DEVBROKER_SASL_MECHANISM", "PLAIN,KERBEROS", "DEVBROKER_SASL_USERS", "app:"+password), "DEVBROKER_SASL_MECHANISM", "unknown mechanism", "comma-separated list"},
		{"devbroker user without password", devbroker, with(nil, "DEVBROKER_SASL_MECHANISM", "PLAIN", "DEVBROKER_SASL_USERS", "admin:"+password+",app"), "DEVBROKER_SASL_USERS", `user "app" has no password`, "user:password"},
		{"devbroker user without name", devbroker, with(nil, "DEVBROKER_SASL_MECHANISM", "PLAIN", "DEVBROKER_SASL_USERS", ":"+password), "DEVBROKER_SASL_USERS", "an entry has no user name", "user:password"},
		{"devbroker super user unknown", devbroker, with(nil, "DEVBROKER_SASL_MECHANISM", "PLAIN", "DEVBROKER_SASL_USERS", "app:"+password, "DEVBROKER_SUPER_USERS", "admin"), "DEVBROKER_SUPER_USERS", `"admin" is not in DEVBROKER_SASL_USERS`, "names of users"},
		{"devbroker certificate without key", devbroker, with(nil, "DEVBROKER_TLS_CERT_FILE", f.cert), "DEVBROKER_TLS_KEY_FILE", "empty", "private key"},
		{"devbroker key without certificate", devbroker, with(nil, "DEVBROKER_TLS_KEY_FILE", f.key), "DEVBROKER_TLS_CERT_FILE", "empty", "PEM certificate"},
		{"devbroker client CA without TLS", devbroker, with(nil, "DEVBROKER_TLS_CLIENT_CA_FILE", f.ca), "DEVBROKER_TLS_CERT_FILE", "mutual TLS", "PEM certificate"},
		{"devbroker client CA not PEM", devbroker, with(nil, "DEVBROKER_TLS_CERT_FILE", f.cert, "DEVBROKER_TLS_KEY_FILE", f.key, "DEVBROKER_TLS_CLIENT_CA_FILE", f.garbage), "DEVBROKER_TLS_CLIENT_CA_FILE", "holds no PEM certificate", "CA certificates"},
		{"devbroker key of another certificate", devbroker, with(nil, "DEVBROKER_TLS_CERT_FILE", f.cert, "DEVBROKER_TLS_KEY_FILE", f.otherKey), "DEVBROKER_TLS_KEY_FILE", "not the key of the certificate", "private key"},
		{"devbroker auto-create not a boolean", devbroker, with(nil, "DEVBROKER_AUTO_CREATE_TOPICS", "sometimes"), "DEVBROKER_AUTO_CREATE_TOPICS", "invalid syntax", "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load(tt.env)
			errs := configErrors(err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one *config.Error for %s, got %d: %v", tt.variable, len(errs), err)
			}
			e, msg := errs[0], err.Error()
			if e.Var != tt.variable || !strings.Contains(e.Reason, tt.reason) || !strings.Contains(e.Forms, tt.forms) {
				t.Errorf("got %s: %q (forms %q); want %s, reason with %q, forms with %q", e.Var, e.Reason, e.Forms, tt.variable, tt.reason, tt.forms)
			}
			if !strings.HasPrefix(msg, tt.variable+"=") {
				t.Errorf("message %q does not start with the variable", msg)
			}
			if strings.Contains(msg, password) {
				t.Errorf("message holds the password: %q", msg)
			}
		})
	}
}

// TestSecuritySettingsBuildTheClient: the settings become the client
// configuration every connection is built from, and it authenticates to a
// broker that asks for SCRAM over mutual TLS, with the password read from
// a file whose trailing newline is not part of it.
func TestSecuritySettingsBuildTheClient(t *testing.T) {
	f := testFiles(t)
	broker := f.pki.Broker(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "app", password),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{broker.TLS(t)}, ClientCAs: f.pki.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	c, err := LoadConsumer(map[string]string{
		"KAFKA_SERVER":             cluster.ListenAddrs()[0],
		"KAFKA_SECURITY_PROTOCOL":  "sasl_ssl", // case does not matter
		"KAFKA_SASL_MECHANISM":     "scram-sha-512",
		"KAFKA_SASL_USERNAME":      "app",
		"KAFKA_SASL_PASSWORD_FILE": f.passwordFile,
		"KAFKA_TLS_CA_FILE":        f.ca,
		"KAFKA_TLS_CERT_FILE":      f.cert,
		"KAFKA_TLS_KEY_FILE":       f.key,
		"KAFKA_TLS_SERVER_NAME":    "localhost",
	})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.ClientConfig()
	if cc.TLS == nil || cc.TLS.RootCAs == nil || len(cc.TLS.Certificates) != 1 || cc.TLS.ServerName != "localhost" || cc.TLS.InsecureSkipVerify ||
		cc.SASL == nil || cc.SASL.Name() != "SCRAM-SHA-512" || cc.SASLUser != "app" || cc.SecurityProtocol() != "SASL_SSL" {
		t.Fatalf("client configuration %+v", cc)
	}
	if c.ClientConfig().TLS != cc.TLS {
		t.Error("the TLS configuration is built again on each call, not once at load")
	}
	client, err := kafkaio.NewClient(cc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.WaitForBroker(t.Context(), 1, 0); err != nil {
		t.Fatalf("the broker refused the configuration: %v", err)
	}

	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "PLAINTEXT"},
		{map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL"}, "SSL"},
		{map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "SASL_PLAINTEXT"},
	} {
		p, err := LoadProducer(tt.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ClientConfig().SecurityProtocol(); got != tt.want {
			t.Errorf("%v: security protocol %s, want %s", tt.env, got, tt.want)
		}
	}
	p, err := LoadProducer(map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_TLS_INSECURE_SKIP_VERIFY": "true"})
	if err != nil || !p.ClientConfig().TLS.InsecureSkipVerify || p.ClientConfig().TLS.RootCAs != nil {
		t.Errorf("insecure: %v, %+v", err, p.ClientConfig().TLS)
	}
}

// TestPasswordIsNeverPrinted: however the configuration is printed,
// logged or marshalled, the password does not appear.
func TestPasswordIsNeverPrinted(t *testing.T) {
	c, err := LoadConsumer(map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
		"KAFKA_SASL_USERNAME": "app", "KAFKA_SASL_PASSWORD": password})
	if err != nil {
		t.Fatal(err)
	}
	if c.SASLPassword.Reveal() != password {
		t.Fatalf("Reveal = %q", c.SASLPassword.Reveal())
	}
	var out bytes.Buffer
	for _, v := range []any{c, &c, c.Kafka, c.SASLPassword, c.ClientConfig()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		slog.New(slog.NewTextHandler(&out, nil)).Info("config", "v", v)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "v", v)
	}
	s := out.String()
	for _, leak := range []string{password, fmt.Sprintf("%x", password), fmt.Sprintf("%X", password)} {
		if strings.Contains(s, leak) {
			t.Fatalf("the password is printed:\n%s", s)
		}
	}
	if !strings.Contains(s, "[REDACTED]") {
		t.Errorf("the password is not even shown as redacted:\n%s", s)
	}
	d, err := LoadDevBroker(map[string]string{"DEVBROKER_SASL_MECHANISM": "PLAIN", "DEVBROKER_SASL_USERS": "app:" + password})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", d, d, d, d.SASLUsers); strings.Contains(s, password) {
		t.Fatalf("a development broker password is printed: %s", s)
	}
}

func TestDevBrokerSecurity(t *testing.T) {
	f := testFiles(t)
	d, err := LoadDevBroker(map[string]string{
		"DEVBROKER_SASL_MECHANISM":     "SCRAM-SHA-512, PLAIN",
		"DEVBROKER_SASL_USERS":         "admin:a:b:c, app:" + password,
		"DEVBROKER_SUPER_USERS":        "admin",
		"DEVBROKER_TLS_CERT_FILE":      f.cert,
		"DEVBROKER_TLS_KEY_FILE":       f.key,
		"DEVBROKER_TLS_CLIENT_CA_FILE": f.clientCA,
		"DEVBROKER_AUTO_CREATE_TOPICS": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !d.SASL() || len(d.SASLMechanisms) != 2 || d.SASLMechanisms[1] != Plain || len(d.SASLUsers) != 2 ||
		d.SASLUsers[0].Name != "admin" || d.SASLUsers[0].Password.Reveal() != "a:b:c" || d.SASLUsers[1].Password.Reveal() != password ||
		len(d.SuperUsers) != 1 || d.AutoCreateTopics {
		t.Errorf("parsed %+v", d)
	}
	if d.TLS() == nil || d.TLS().ClientAuth != tls.RequireAndVerifyClientCert || d.TLS().ClientCAs == nil {
		t.Errorf("TLS %+v", d.TLS())
	}
	d, err = LoadDevBroker(map[string]string{})
	if err != nil || d.SASL() || d.TLS() != nil || !d.AutoCreateTopics {
		t.Errorf("defaults: %+v, %v", d, err)
	}
}

func TestTopicSettings(t *testing.T) {
	c, err := LoadConsumer(map[string]string{"TOPIC_NAME": "in", "DLQ_REPLICATION_FACTOR": "3", "DLQ_RETENTION_MS": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	spec := c.DeadLetterTopicSpec()
	if spec.Name != "in.dlq" || spec.PartitionsOf != "in" || spec.ReplicationFactor != 3 || spec.Configs["retention.ms"] != "-1" {
		t.Errorf("dead-letter topic spec %+v", spec)
	}
	c, err = LoadConsumer(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if spec := c.DeadLetterTopicSpec(); spec.ReplicationFactor != -1 || spec.Configs != nil {
		t.Errorf("default dead-letter topic spec %+v: want the broker's defaults", spec)
	}
	p, err := LoadProducer(map[string]string{"TOPIC_PARTITIONS": "12", "TOPIC_REPLICATION_FACTOR": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if spec := p.TopicSpec(); spec.Name != "view_log" || spec.Partitions != 12 || spec.ReplicationFactor != 3 {
		t.Errorf("producer topic spec %+v", spec)
	}
	p, err = LoadProducer(map[string]string{})
	if err != nil || p.TopicPartitions != -1 || p.TopicReplicationFactor != -1 {
		t.Errorf("producer defaults: %+v, %v", p, err)
	}
}
