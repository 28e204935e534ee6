package config

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DevBroker is the local development broker's configuration.
type DevBroker struct {
	Addr string `env:"DEVBROKER_ADDR" envDefault:"127.0.0.1:9092"`
	// AdvertisedAddr is the address the broker tells clients to connect
	// to after the first contact, as Kafka's advertised.listeners; empty
	// means the address it listens on. Set it when that address is a
	// wildcard (":9092", "0.0.0.0:9092") or clients know the broker by
	// another name, such as a container's or a host's.
	AdvertisedAddr string `env:"DEVBROKER_ADVERTISED_ADDR" forms:"host:port clients connect to (\"devbroker:9092\"); empty: DEVBROKER_ADDR"`
	Partitions     int    `env:"DEVBROKER_PARTITIONS" envDefault:"3" forms:"an integer from 1 to 1000"`
	// DataDir, if set, keeps topics and committed offsets on disk across
	// restarts; by default everything is in memory.
	DataDir  string   `env:"DEVBROKER_DATA_DIR"`
	LogLevel LogLevel `env:"LOG_LEVEL" envDefault:"INFO" forms:"DEBUG, INFO, WARN, ERROR"`
	// LogFormat is text (key=value) or json (one object a line).
	LogFormat LogFormat `env:"LOG_FORMAT" envDefault:"text" forms:"text or json"`
	// SASLMechanisms turn SASL authentication on, with these mechanisms.
	SASLMechanisms []SASLMechanism `env:"DEVBROKER_SASL_MECHANISM" envSeparator:"," forms:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or a comma-separated list of them"`
	// SASLUsers are the users SASL accepts, under every mechanism.
	SASLUsers Users `env:"DEVBROKER_SASL_USERS"`
	// SuperUsers, if set, turns ACLs on: these users may do anything, the
	// other users anything but create topics, as an application's account
	// on a managed cluster. Empty: every user may do anything.
	SuperUsers []string `env:"DEVBROKER_SUPER_USERS" envSeparator:","`
	// TLSCertFile and TLSKeyFile turn TLS on, with this certificate.
	TLSCertFile string `env:"DEVBROKER_TLS_CERT_FILE"`
	TLSKeyFile  string `env:"DEVBROKER_TLS_KEY_FILE"`
	// TLSClientCAFile, if set, makes TLS mutual: clients must present a
	// certificate signed by one of these authorities.
	TLSClientCAFile string `env:"DEVBROKER_TLS_CLIENT_CA_FILE"`
	// AutoCreateTopics creates a topic on its first use, as Kafka's
	// auto.create.topics.enable does; managed clusters mostly do not.
	AutoCreateTopics bool `env:"DEVBROKER_AUTO_CREATE_TOPICS" envDefault:"true" forms:"true or false"`

	// tls returns the configuration built from the TLS files at load; a
	// function, so that printing the configuration does not print the
	// key (see Kafka.conn).
	tls func() *tls.Config
}

// TLS returns the broker's TLS configuration, or nil for plaintext.
func (c DevBroker) TLS() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls()
}

// SASL reports whether the broker authenticates clients.
func (c DevBroker) SASL() bool { return len(c.SASLMechanisms) > 0 }

// Users is a comma-separated list of user:password. A password may hold a
// colon but not a comma. Printed, the passwords read [REDACTED].
type Users []User

// User is one SASL user of the development broker.
type User struct {
	Name     string
	Password Secret
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts anything:
// LoadDevBroker reports malformed entries without repeating the passwords.
func (u *Users) UnmarshalText(text []byte) error {
	var out Users
	for e := range strings.SplitSeq(string(text), ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		name, pass, _ := strings.Cut(e, ":")
		out = append(out, User{Name: name, Password: NewSecret(pass)})
	}
	*u = out
	return nil
}

// String lists the users with their passwords redacted.
func (u Users) String() string {
	parts := make([]string, len(u))
	for i, x := range u {
		parts[i] = x.Name + ":" + x.Password.String()
	}
	return strings.Join(parts, ",")
}

// LoadDevBroker reads the development broker's configuration from environ,
// or from the process environment if environ is nil.
func LoadDevBroker(environ map[string]string) (DevBroker, error) {
	c, err := parse[DevBroker](environ)
	if err != nil {
		return c, err
	}
	var errs []error
	fail := func(name, value, reason, forms string) {
		errs = append(errs, &Error{Var: name, Value: value, Reason: reason, Forms: forms})
	}
	_, port, err := net.SplitHostPort(c.Addr)
	n, perr := strconv.Atoi(port)
	check(&errs, err == nil && perr == nil && n >= 0 && n <= 65535, "DEVBROKER_ADDR", c.Addr, "not host:port", "host:port to listen on (\"127.0.0.1:9092\")")
	if c.AdvertisedAddr != "" {
		host, port, err := net.SplitHostPort(c.AdvertisedAddr)
		n, perr := strconv.Atoi(port)
		check(&errs, err == nil && host != "" && perr == nil && n >= 1 && n <= 65535, "DEVBROKER_ADVERTISED_ADDR", c.AdvertisedAddr, "not host:port",
			"host:port clients connect to (\"devbroker:9092\"); empty: DEVBROKER_ADDR")
	}
	check(&errs, c.Partitions >= 1 && c.Partitions <= 1000, "DEVBROKER_PARTITIONS", strconv.Itoa(c.Partitions), "out of range", "an integer from 1 to 1000")

	c.SASLMechanisms = slices.DeleteFunc(c.SASLMechanisms, func(m SASLMechanism) bool { return m == "" })
	const usersForms = "user:password,... (a password may hold ':' but not ',')"
	switch {
	case c.SASL() && len(c.SASLUsers) == 0:
		fail("DEVBROKER_SASL_USERS", "", "required with DEVBROKER_SASL_MECHANISM", usersForms)
	case !c.SASL() && len(c.SASLUsers) > 0:
		fail("DEVBROKER_SASL_MECHANISM", "", "required with DEVBROKER_SASL_USERS", mechanismForms)
	}
	for _, u := range c.SASLUsers {
		switch {
		case u.Name == "":
			fail("DEVBROKER_SASL_USERS", c.SASLUsers.String(), "an entry has no user name", usersForms)
		case !u.Password.IsSet():
			fail("DEVBROKER_SASL_USERS", c.SASLUsers.String(), "user "+strconv.Quote(u.Name)+" has no password", usersForms)
		}
	}
	c.SuperUsers = slices.DeleteFunc(c.SuperUsers, func(s string) bool { return strings.TrimSpace(s) == "" })
	for i, s := range c.SuperUsers {
		c.SuperUsers[i] = strings.TrimSpace(s)
		if !slices.ContainsFunc(c.SASLUsers, func(u User) bool { return u.Name == c.SuperUsers[i] }) {
			fail("DEVBROKER_SUPER_USERS", strings.Join(c.SuperUsers, ","), strconv.Quote(c.SuperUsers[i])+" is not in DEVBROKER_SASL_USERS", "names of users in DEVBROKER_SASL_USERS, comma-separated")
		}
	}

	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		fail("DEVBROKER_TLS_KEY_FILE", "", "empty, but DEVBROKER_TLS_CERT_FILE is set", "the path of the PEM private key of DEVBROKER_TLS_CERT_FILE")
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		fail("DEVBROKER_TLS_CERT_FILE", "", "empty, but DEVBROKER_TLS_KEY_FILE is set", "the path of the PEM certificate of DEVBROKER_TLS_KEY_FILE")
	case c.TLSCertFile == "" && c.TLSClientCAFile != "":
		fail("DEVBROKER_TLS_CERT_FILE", "", "empty, but DEVBROKER_TLS_CLIENT_CA_FILE asks for mutual TLS", "the path of the broker's PEM certificate")
	case c.TLSCertFile != "":
		cert, kerrs := readKeyPair("DEVBROKER_TLS_CERT_FILE", c.TLSCertFile, "DEVBROKER_TLS_KEY_FILE", c.TLSKeyFile, time.Now())
		errs = append(errs, kerrs...)
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if c.TLSClientCAFile != "" {
			pool, err := readCAs(c.TLSClientCAFile)
			if err != nil {
				fail("DEVBROKER_TLS_CLIENT_CA_FILE", c.TLSClientCAFile, err.Error(), "the path of a PEM file of CA certificates")
			}
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		c.tls = func() *tls.Config { return cfg }
	}
	if len(errs) > 0 {
		c.tls = nil
	}
	return c, errors.Join(errs...)
}
