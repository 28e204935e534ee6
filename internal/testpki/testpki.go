// Package testpki issues throwaway certificates for tests: a certificate
// authority, broker certificates valid for 127.0.0.1 and localhost, and
// client certificates for mutual TLS. Keys are ECDSA P-256, in PEM, so that
// Go, kcat (OpenSSL) and the programs under test read the same files.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that signs certificates for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA's certificate: what a peer that trusts this CA
	// is given.
	CertPEM []byte
}

// Pair is a certificate and its private key, PEM encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// Spec describes a certificate to issue.
type Spec struct {
	CommonName string
	// Hosts are the DNS names and IP addresses the certificate is valid
	// for (subject alternative names); a server certificate needs them.
	Hosts []string
	// Client makes a client certificate (for mutual TLS) instead of a
	// server certificate.
	Client bool
	// NotBefore and NotAfter bound the validity; zero values mean an hour
	// ago and a day from now.
	NotBefore, NotAfter time.Time
}

// NewCA returns a new self-signed certificate authority.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"viewlog tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Issue signs a certificate as s describes.
func (ca *CA) Issue(t testing.TB, s Spec) Pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: s.CommonName, Organization: []string{"viewlog tests"}},
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if s.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// Broker issues a server certificate for 127.0.0.1, ::1 and localhost.
func (ca *CA) Broker(t testing.TB) Pair {
	t.Helper()
	return ca.Issue(t, Spec{CommonName: "broker", Hosts: []string{"127.0.0.1", "::1", "localhost"}})
}

// Client issues a client certificate whose subject is CN=name.
func (ca *CA) Client(t testing.TB, name string) Pair {
	t.Helper()
	return ca.Issue(t, Spec{CommonName: name, Client: true})
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// TLS returns the pair as a tls.Certificate.
func (p Pair) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Files are the paths a pair was written to.
type Files struct {
	Cert, Key string
}

// Write writes the pair to dir as name.pem and name-key.pem (the key
// readable by its owner only) and returns the paths.
func (p Pair) Write(t testing.TB, dir, name string) Files {
	t.Helper()
	return Files{
		Cert: WriteFile(t, dir, name+".pem", p.CertPEM),
		Key:  WriteFile(t, dir, name+"-key.pem", p.KeyPEM),
	}
}

// WriteFile writes data to dir/name, readable by its owner only, and
// returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
