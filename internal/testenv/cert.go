package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// Cert is a self-signed certificate written to files in a test's temp dir.
type Cert struct {
	CertFile string // PEM certificate (also the CA to trust: it signs itself)
	KeyFile  string // PEM private key (PKCS#8)
	PEM      []byte // the certificate PEM, for a client's root pool
	NotAfter time.Time
}

// CertOptions shape a self-signed certificate. Zero values mean: CN "localhost", SANs
// localhost, 127.0.0.1 and ::1, valid from one hour ago for one day.
type CertOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// Expired makes a certificate whose validity ended one hour ago.
	Expired bool
}

// SelfSignedCert writes a fresh ECDSA P-256 self-signed certificate into tb.TempDir().
func SelfSignedCert(tb testing.TB, opts CertOptions) *Cert {
	tb.Helper()
	if opts.CommonName == "" {
		opts.CommonName = "localhost"
	}
	if opts.DNSNames == nil {
		opts.DNSNames = []string{"localhost"}
	}
	if opts.IPs == nil {
		opts.IPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("testenv: serial: %v", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(25 * time.Hour)
	if opts.Expired {
		notBefore = time.Now().Add(-48 * time.Hour)
		notAfter = time.Now().Add(-time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: []string{"rtcctl test"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("testenv: create certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testenv: marshal key: %v", err)
	}
	dir := tb.TempDir()
	c := &Cert{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		PEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		NotAfter: notAfter,
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(c.CertFile, c.PEM, 0o600); err != nil {
		tb.Fatalf("testenv: write cert: %v", err)
	}
	if err := os.WriteFile(c.KeyFile, keyPEM, 0o600); err != nil {
		tb.Fatalf("testenv: write key: %v", err)
	}
	return c
}
