package kafkaio

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/viewlog/viewlog/internal/testpki"
)

// advertisingListener makes kfake, which advertises whatever its
// listener's Addr says, advertise another address than the one it listens
// on, as a Kafka broker with advertised.listeners does. It counts the
// connections it accepts.
type advertisingListener struct {
	net.Listener
	advertised string
	accepted   *atomic.Int32
}

func (l advertisingListener) Addr() net.Addr { return hostPort(l.advertised) }

func (l advertisingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// hostPort is an address as a broker advertises it: a name or an IP.
type hostPort string

func (a hostPort) Network() string { return "tcp" }
func (a hostPort) String() string  { return string(a) }

// advertisingBroker is one broker of an advertisingCluster.
type advertisingBroker struct {
	// listen is where it really listens: the bootstrap address;
	// advertised is the address its metadata gives.
	listen, advertised string
	accepted           atomic.Int32
}

// advertisingCluster starts one kfake broker per entry of advertise, each
// listening on host with a free port, with opts; advertise[i] gets that
// address and returns the address broker i advertises.
func advertisingCluster(t *testing.T, host string, advertise []func(listen string) string, opts ...kfake.Opt) []*advertisingBroker {
	t.Helper()
	brokers := make([]*advertisingBroker, len(advertise))
	n := 0
	c, err := kfake.NewCluster(append(opts, kfake.NumBrokers(len(advertise)), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		b := &advertisingBroker{listen: ln.Addr().String()}
		b.advertised = advertise[n](b.listen)
		brokers[n] = b
		n++
		return advertisingListener{Listener: ln, advertised: b.advertised, accepted: &b.accepted}, nil
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return brokers
}

// closedPort returns a port on the loopback interface that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// outsideIP is an IP address of this machine that is not a loopback
// address, or "" if it has none.
func outsideIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// same advertises the address the broker listens on.
func same(listen string) string { return listen }

// localhost advertises the port the broker listens on, as localhost.
func localhost(listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return "localhost:" + port
}

// fixed advertises addr.
func fixed(addr string) func(string) string { return func(string) string { return addr } }

// TestAdvertisedAddressUnreachable: the bootstrap broker answers, but an
// address its metadata advertises cannot be reached. One attempt of the
// broker wait fails with an *AdvertisedAddressError counted under its own
// reason, whose message names the address that answered, the one that
// failed and the listener to use instead; a loopback address advertised to
// a client that reached the broker from elsewhere (the seed's .env inside
// Compose) is said to point back into this host.
func TestAdvertisedAddressUnreachable(t *testing.T) {
	t.Parallel()
	outside := outsideIP(t)
	ca := testpki.NewCA(t, "cluster CA")
	tests := []struct {
		name string
		// host is where the brokers listen; the client bootstraps
		// from the first one's address.
		host      string
		advertise []func(listen string) string
		node      int
		loopback  bool
		// needsOutside: the case needs an IP address outside the
		// loopback interface.
		needsOutside bool
		broker       []kfake.Opt
		client       ClientConfig
	}{
		{
			// From a container: broker:9092 answers, and advertises
			// localhost:9092, which is the container itself.
			name:         "loopback advertised to a client from elsewhere",
			host:         outside,
			advertise:    []func(string) string{fixed("localhost:" + closedPort(t))},
			loopback:     true,
			needsOutside: true,
		},
		{
			name:         "loopback IP advertised to a client from elsewhere",
			host:         outside,
			advertise:    []func(string) string{fixed("127.0.0.1:" + closedPort(t))},
			loopback:     true,
			needsOutside: true,
		},
		{
			// From the host: localhost:9092 answers, and advertises the
			// container's name, which does not resolve here.
			name:      "name that does not resolve",
			host:      "127.0.0.1",
			advertise: []func(string) string{fixed("broker.invalid:29092")},
		},
		{
			name:      "another port on the same loopback host",
			host:      "127.0.0.1",
			advertise: []func(string) string{fixed("127.0.0.1:" + closedPort(t))},
		},
		{
			name:         "outside address nothing listens on",
			host:         "127.0.0.1",
			advertise:    []func(string) string{fixed(net.JoinHostPort(outside, closedPort(t)))},
			needsOutside: true,
		},
		{
			// The bootstrap broker's own address is fine; the second
			// broker's is not, and partitions it leads would stall.
			name:      "second broker of two",
			host:      "127.0.0.1",
			advertise: []func(string) string{same, fixed("broker.invalid:29092")},
			node:      1,
		},
		{
			// The advertised address is dialled as the bootstrap one,
			// TLS and SASL included: the broker's certificate does not
			// carry the advertised name.
			name:      "advertised name not in the certificate",
			host:      "127.0.0.1",
			advertise: []func(string) string{localhost},
			broker: []kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{
				ca.Issue(t, testpki.Spec{CommonName: "b", Hosts: []string{"127.0.0.1"}}).TLS(t)}}),
				kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "pw")},
			client: ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool()}, SASL: plain.Mechanism{Username: "alice", Password: "pw"}, SASLUser: "alice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needsOutside && outside == "" {
				t.Skip("this machine has no IP address outside the loopback interface")
			}
			brokers := advertisingCluster(t, tt.host, tt.advertise, tt.broker...)
			advertised, bootstrap := brokers[tt.node].advertised, brokers[0].listen
			tt.client.Brokers = []string{bootstrap}
			c := newClient(t, tt.client)
			err := c.WaitForBroker(t.Context(), 1, 0)
			var adv *AdvertisedAddressError
			if !errors.As(err, &adv) {
				t.Fatalf("error %v, want an *AdvertisedAddressError", err)
			}
			if adv.Bootstrap != bootstrap || adv.Advertised != advertised || adv.Node != tt.node || adv.Loopback != tt.loopback || adv.Err == nil {
				t.Errorf("got %+v, want bootstrap %s, advertised %s, node %d, loopback %v, and the dial error",
					*adv, bootstrap, advertised, tt.node, tt.loopback)
			}
			if got := Reason(err); got != ReasonAdvertisedAddress {
				t.Errorf("reason %s, want %s", got, ReasonAdvertisedAddress)
			}
			if got := testutil.ToFloat64(c.connectErrors.WithLabelValues(ReasonAdvertisedAddress)); got != 1 {
				t.Errorf("connect errors{reason=%q} = %v, want 1", ReasonAdvertisedAddress, got)
			}
			msg := err.Error()
			t.Log(msg)
			want := []string{bootstrap, advertised, adv.Err.Error(), "broker:29092", "KAFKA_SERVER"}
			if tt.loopback {
				want = append(want, "loopback", "points back into this container")
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			if !tt.loopback && strings.Contains(msg, "loopback") {
				t.Errorf("message calls %s a loopback address the client reached from elsewhere: %s", advertised, msg)
			}
		})
	}
}

// TestAdvertisedAddressDifferentButReachable: managed clusters advertise
// other addresses than the bootstrap one (a load balancer, a DNS alias).
// That is no error as long as they answer, and they are really tried.
func TestAdvertisedAddressDifferentButReachable(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster CA")
	for _, tt := range []struct {
		name      string
		advertise []func(string) string
		broker    []kfake.Opt
		client    ClientConfig
	}{
		{name: "one broker, by name", advertise: []func(string) string{localhost}},
		{name: "two brokers, one by its own address", advertise: []func(string) string{same, localhost}},
		{name: "two brokers, neither by its own address", advertise: []func(string) string{localhost, localhost}},
		{
			name:      "SASL_SSL, by a name the certificate carries",
			advertise: []func(string) string{localhost},
			broker: []kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Broker(t).TLS(t)}}),
				kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "pw")},
			client: ClientConfig{TLS: &tls.Config{RootCAs: ca.Pool()}, SASL: plain.Mechanism{Username: "alice", Password: "pw"}, SASLUser: "alice"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			brokers := advertisingCluster(t, "127.0.0.1", tt.advertise, tt.broker...)
			tt.client.Brokers = []string{brokers[0].listen}
			c := newClient(t, tt.client)
			if err := c.WaitForBroker(t.Context(), 1, 0); err != nil {
				t.Fatal(err)
			}
			for i, b := range brokers {
				// The bootstrap connection, and one to each address
				// advertised that is not the bootstrap address.
				want := int32(0)
				if i == 0 {
					want++
				}
				if b.advertised != brokers[0].listen {
					want++
				}
				if got := b.accepted.Load(); got != want {
					t.Errorf("broker %d accepted %d connections, want %d", i, got, want)
				}
			}
		})
	}
}

// TestWaitForBrokerGivesUpOnAdvertisedAddress: told to retry for ever, the
// broker wait still stops once the advertised address has failed
// advertisedAttempts times in a row, and counts each attempt.
func TestWaitForBrokerGivesUpOnAdvertisedAddress(t *testing.T) {
	t.Parallel()
	brokers := advertisingCluster(t, "127.0.0.1", []func(string) string{fixed("127.0.0.1:" + closedPort(t))})
	c := newClient(t, ClientConfig{Brokers: []string{brokers[0].listen}})
	err := c.WaitForBroker(t.Context(), 0, time.Millisecond)
	var adv *AdvertisedAddressError
	if !errors.As(err, &adv) {
		t.Fatalf("error %v, want an *AdvertisedAddressError", err)
	}
	for reason, want := range map[string]float64{ReasonAdvertisedAddress: advertisedAttempts, ReasonNetwork: 0} {
		if got := testutil.ToFloat64(c.connectErrors.WithLabelValues(reason)); got != want {
			t.Errorf("connect errors{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestWaitForBrokerOutlastsBriefAdvertisedFailure: an advertised address
// that answers again within the attempts, as a restarting broker's does,
// ends the wait with success.
func TestWaitForBrokerOutlastsBriefAdvertisedFailure(t *testing.T) {
	t.Parallel()
	advertised := "127.0.0.1:" + closedPort(t)
	brokers := advertisingCluster(t, "127.0.0.1", []func(string) string{fixed(advertised)})
	c := newClient(t, ClientConfig{Brokers: []string{brokers[0].listen}})
	done := make(chan error, 1)
	var wg sync.WaitGroup
	// The test's context ends before its cleanups, which ends the wait.
	t.Cleanup(wg.Wait)
	wg.Go(func() { done <- c.WaitForBroker(t.Context(), 0, time.Millisecond) })
	failures := func() float64 { return testutil.ToFloat64(c.connectErrors.WithLabelValues(ReasonAdvertisedAddress)) }
	for failures() < 2 {
		select {
		case err := <-done:
			t.Fatalf("the wait ended after %v failures: %v", failures(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	forward(t, advertised, brokers[0].listen)
	if err := <-done; err != nil {
		t.Fatalf("the wait failed although the advertised address answers again: %v", err)
	}
	if n := failures(); n >= advertisedAttempts {
		t.Errorf("%v failed attempts, want fewer than %d", n, advertisedAttempts)
	}
}

// forward relays every connection to addr to target, until the test ends.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { relay(conn, target) })
		}
	})
}

// relay copies both ways between conn and a new connection to target,
// until either side closes.
func relay(conn net.Conn, target string) {
	defer conn.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(up, conn)
		up.Close()
	})
	_, _ = io.Copy(conn, up)
	conn.Close()
	wg.Wait()
}

// TestPointsHere: the addresses that mean "this host" to a client.
func TestPointsHere(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost.": true, "kafka.localhost": true,
		"127.0.0.1": true, "127.3.2.1": true, "::1": true, "0.0.0.0": true, "::": true, "::ffff:127.0.0.1": true,
		"broker": false, "localhost.example.com": false, "10.0.0.5": false, "192.0.2.2": false, "fd00::2": false, "": false,
	} {
		if got := pointsHere(host); got != want {
			t.Errorf("pointsHere(%q) = %v, want %v", host, got, want)
		}
	}
}
