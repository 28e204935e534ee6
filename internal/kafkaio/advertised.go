package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// advertisedAttempts is how many broker-wait attempts in a row must find
// the bootstrap broker answering and an advertised address failing before
// the wait gives up, however many retries it was allowed.
//
// One attempt is not enough: a broker that crashed stays in the metadata
// until its session with the controller expires (broker.session.timeout.ms,
// 9 s in KRaft), so for a few seconds another broker can advertise an
// address nothing answers on. With the backoff doubling from the wait's
// first delay, five attempts span 15 delays (15 s for the consumer, 30 s
// for the producer's default RETRY_DELAY), beyond that expiry.
//
// Retrying for ever does not help either, unlike refused credentials:
// the cluster is up (it answered) and names an address this client cannot
// use. That is nearly always the client's setting (KAFKA_SERVER pointing
// at the listener meant for another network), which no waiting changes;
// a program that stops says so where operators look, its exit status.
const advertisedAttempts = 5

// AdvertisedAddressError is a bootstrap broker that answers, while an
// address its metadata advertises, where clients go after the first
// contact, cannot be reached. Advertised addresses may differ from the
// bootstrap address, as they do on managed clusters; only one that fails
// is an error.
type AdvertisedAddressError struct {
	// Bootstrap is the configured address that answered.
	Bootstrap string
	// Advertised is the address, host:port, that failed, and Node the
	// broker the metadata gives it for.
	Advertised string
	Node       int
	// Loopback reports that Advertised points back into this host (a
	// loopback or wildcard address) while Bootstrap reached another:
	// the broker advertises the listener meant for its own host.
	Loopback bool
	Err      error
}

func (e *AdvertisedAddressError) Error() string {
	if e.Loopback {
		return fmt.Sprintf("broker %s answers, but it advertises %s (node %d) as its address, and that is a loopback address: "+
			"from here it points back into this container or host, not to the broker, as the broker advertises it for clients on its own host. "+
			"Inside Docker Compose, set KAFKA_SERVER to the broker's internal listener, broker:29092 (see .env.example and docker-compose.yml), instead of %s (%v)",
			e.Bootstrap, e.Advertised, e.Node, e.Bootstrap, e.Err)
	}
	return fmt.Sprintf("broker %s answers, but connecting to the address it advertises for node %d, %s, fails: "+
		"after the first contact clients connect to the advertised addresses, so set KAFKA_SERVER to a listener whose advertised address is reachable "+
		"(inside Docker Compose, the internal listener broker:29092), or change the broker's advertised.listeners (%v)",
		e.Bootstrap, e.Node, e.Advertised, e.Err)
}

func (e *AdvertisedAddressError) Unwrap() error { return e.Err }

// checkAdvertised connects, as the programs will, to every address in the
// metadata that bootstrap answered, reached at the network address
// reached, and returns an *AdvertisedAddressError for the first, in
// metadata order, that fails. The addresses are tried at once, so that a
// large cluster costs one timeout, not one per broker.
func (c *Client) checkAdvertised(ctx context.Context, bootstrap string, reached net.Addr, brokers []kafka.Broker) error {
	var (
		addrs []string
		nodes []int
	)
	for _, b := range brokers {
		a := net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
		// The bootstrap connection has just proved that one.
		if a != bootstrap && !slices.Contains(addrs, a) {
			addrs, nodes = append(addrs, a), append(nodes, b.ID)
		}
	}
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { errs[i] = c.reachBroker(ctx, a) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for i, err := range errs {
		if err != nil {
			host, _, _ := net.SplitHostPort(addrs[i])
			return &AdvertisedAddressError{
				Bootstrap:  bootstrap,
				Advertised: addrs[i],
				Node:       nodes[i],
				Loopback:   (pointsHere(host) || dialedHere(err)) && !reachedHere(bootstrap, reached),
				Err:        err,
			}
		}
	}
	return nil
}

// reachBroker connects to addr with the client's dialer, TLS and SASL
// included, and asks for the API versions, so that only a Kafka broker
// accepting this client counts.
func (c *Client) reachBroker(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	_, err = conn.ApiVersions()
	return err
}

// pointsHere reports whether host, a name or an IP address, means this
// host to whoever connects to it: localhost, a loopback address, or a
// wildcard address (which a broker listening on all interfaces advertises
// when told nothing else, and which connects to the local host).
func pointsHere(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// dialedHere reports whether err is a failed connection to a loopback
// address: an advertised name that resolves to this host.
func dialedHere(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) {
		return false
	}
	a, ok := op.Addr.(*net.TCPAddr)
	return ok && (a.IP.IsLoopback() || a.IP.IsUnspecified())
}

// reachedHere reports whether the bootstrap connection went to this host:
// then an advertised loopback address is on the broker's host too, and
// only its port can be wrong.
func reachedHere(bootstrap string, reached net.Addr) bool {
	if a, ok := reached.(*net.TCPAddr); ok {
		return a.IP.IsLoopback() || a.IP.IsUnspecified()
	}
	host, _, _ := net.SplitHostPort(bootstrap)
	return pointsHere(host)
}
