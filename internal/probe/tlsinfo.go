package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// CertInfo describes one certificate the server presented.
type CertInfo struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	DNSNames   []string  `json:"dns_names,omitempty"`
	IPs        []string  `json:"ips,omitempty"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SelfSigned bool      `json:"self_signed"`
}

// TLSInfo is what a TLS handshake showed.
type TLSInfo struct {
	// Version is the negotiated protocol ("TLS 1.3").
	Version string `json:"version,omitempty"`
	// ServerName is the name the certificate was checked against.
	ServerName string `json:"server_name"`
	// Chain is the presented certificates, leaf first.
	Chain []CertInfo `json:"chain,omitempty"`
	// Verified is true when the chain is valid for ServerName under the trusted roots.
	Verified bool `json:"verified"`
	// Problem names a verification failure: "self-signed", "unknown-authority", "expired",
	// "not-yet-valid", "hostname-mismatch", "handshake" or "other".
	Problem string `json:"problem,omitempty"`
	// HostnameMismatch is true when the certificate does not cover ServerName (also when
	// Problem names a chain problem first).
	HostnameMismatch bool `json:"hostname_mismatch,omitempty"`
	// Error is the verification or handshake error text.
	Error string `json:"error,omitempty"`
}

// TLSOptions say which certificates to trust.
type TLSOptions struct {
	// RootCAs are the roots to trust; nil means the system pool.
	RootCAs *x509.CertPool
	// Insecure skips verification (the report still shows what would have failed).
	Insecure bool
}

// tlsHandshake runs a TLS client handshake over conn, always completing it when the
// server speaks TLS so the certificate can be reported, then verifies the chain itself.
// A verification failure returns the conn and info with Verified=false and no error;
// a handshake failure returns an error.
func tlsHandshake(ctx context.Context, conn net.Conn, serverName string, opts TLSOptions, alpn []string) (*tls.Conn, *TLSInfo, error) {
	info := &TLSInfo{ServerName: serverName}
	cfg := &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, //nolint:gosec // verified below, so the report can say why it fails
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS12,
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		info.Problem = "handshake"
		info.Error = err.Error()
		return nil, info, fmt.Errorf("tls handshake: %w", err)
	}
	st := tc.ConnectionState()
	info.Version = tls.VersionName(st.Version)
	for _, c := range st.PeerCertificates {
		info.Chain = append(info.Chain, certInfo(c))
	}
	chainErr, hostErr := verifyChain(st.PeerCertificates, serverName, opts.RootCAs, time.Now())
	switch {
	case chainErr != nil:
		info.Problem = certProblem(chainErr, st.PeerCertificates)
		info.Error = chainErr.Error()
		if hostErr != nil {
			info.HostnameMismatch = true
			info.Error += "; " + hostErr.Error()
		}
	case hostErr != nil:
		info.Problem, info.HostnameMismatch, info.Error = "hostname-mismatch", true, hostErr.Error()
	default:
		info.Verified = true
	}
	return tc, info, nil
}

// verifyChain checks the chain (trust, validity) and the name separately, so a self-signed
// certificate for the wrong name is reported as both.
func verifyChain(certs []*x509.Certificate, serverName string, roots *x509.CertPool, now time.Time) (chainErr, hostErr error) {
	if len(certs) == 0 {
		return errors.New("no certificate presented"), nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, chainErr = certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now})
	hostErr = certs[0].VerifyHostname(serverName)
	return chainErr, hostErr
}

func certProblem(err error, certs []*x509.Certificate) string {
	var hn x509.HostnameError
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if len(certs) > 0 && time.Now().Before(certs[0].NotBefore) {
			return "not-yet-valid"
		}
		return "expired"
	case errors.As(err, &hn):
		return "hostname-mismatch"
	case errors.As(err, &ua):
		if len(certs) > 0 && isSelfSigned(certs[0]) {
			return "self-signed"
		}
		return "unknown-authority"
	}
	return "other"
}

func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func certInfo(c *x509.Certificate) CertInfo {
	ci := CertInfo{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		DNSNames: c.DNSNames, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		SelfSigned: isSelfSigned(c),
	}
	for _, ip := range c.IPAddresses {
		ci.IPs = append(ci.IPs, ip.String())
	}
	return ci
}

// tlsFix explains a certificate problem and what to do about it.
func tlsFix(info *TLSInfo, caFlag string) string {
	fix := tlsProblemFix(info, info.Problem, caFlag)
	if info.HostnameMismatch && info.Problem != "hostname-mismatch" {
		fix += "; also, " + tlsProblemFix(info, "hostname-mismatch", caFlag)
	}
	return fix
}

func tlsProblemFix(info *TLSInfo, problem, caFlag string) string {
	var leaf CertInfo
	if len(info.Chain) > 0 {
		leaf = info.Chain[0]
	}
	switch problem {
	case "self-signed":
		return fmt.Sprintf("the server's certificate is self-signed (%s): browsers refuse it; install a certificate from a public CA (e.g. Let's Encrypt), or trust this one with %s", leaf.Subject, caFlag)
	case "unknown-authority":
		return fmt.Sprintf("the certificate is signed by an untrusted issuer (%s): serve the full chain (fullchain.pem, not cert.pem) or trust the CA with %s", leaf.Issuer, caFlag)
	case "expired":
		return fmt.Sprintf("the certificate expired on %s: renew it (certbot renew) and reload the server", leaf.NotAfter.UTC().Format(time.RFC3339))
	case "not-yet-valid":
		return fmt.Sprintf("the certificate is valid only from %s: check the clocks of this machine and the server", leaf.NotBefore.UTC().Format(time.RFC3339))
	case "hostname-mismatch":
		names := append(append([]string(nil), leaf.DNSNames...), leaf.IPs...)
		return fmt.Sprintf("the certificate is for %s, not %q: connect with a name the certificate covers or issue one that includes %q", strings.Join(names, ", "), info.ServerName, info.ServerName)
	case "handshake":
		return "the TLS handshake failed: check that this port speaks TLS (a plain TURN/HTTP port answers garbage), and that the server has a certificate and key configured"
	}
	return "the certificate chain could not be verified: " + info.Error
}

// problemText names what is wrong with the certificate, both problems when there are two.
func problemText(info *TLSInfo) string {
	if info.HostnameMismatch && info.Problem != "hostname-mismatch" {
		return info.Problem + " and hostname-mismatch"
	}
	return info.Problem
}
