package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

// tlsServer serves TLS with the given certificate on 127.0.0.1 and completes handshakes.
func tlsServer(t *testing.T, c *testenv.Cert) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String()
}

func TestTLSProblemsNamed(t *testing.T) {
	t.Parallel()
	other := testenv.SelfSignedCert(t, testenv.CertOptions{CommonName: "turn.example.org",
		DNSNames: []string{"turn.example.org"}, IPs: []net.IP{net.ParseIP("192.0.2.7")}})
	expired := testenv.SelfSignedCert(t, testenv.CertOptions{Expired: true})
	cases := []struct {
		name    string
		cert    *testenv.Cert
		trust   bool
		problem string
		fix     string
	}{
		{"self-signed and for another name", other, false, "self-signed", "--ca-file; also, the certificate is for turn.example.org"},
		{"hostname mismatch", other, true, "hostname-mismatch", "turn.example.org, 192.0.2.7"},
		{"expired", expired, true, "expired", "renew"},
	}
	for _, tc := range cases {
		addr := tlsServer(t, tc.cert)
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		opts := TLSOptions{}
		if tc.trust {
			opts.RootCAs = x509.NewCertPool()
			opts.RootCAs.AppendCertsFromPEM(tc.cert.PEM)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		tc2, info, err := tlsHandshake(ctx, conn, "127.0.0.1", opts, nil)
		cancel()
		if err != nil {
			t.Fatalf("%s: handshake: %v", tc.name, err)
		}
		_ = tc2.Close()
		if info.Verified || info.Problem != tc.problem || !strings.Contains(tlsFix(info, "--ca-file"), tc.fix) {
			t.Errorf("%s: problem %q verified %v fix %q", tc.name, info.Problem, info.Verified, tlsFix(info, "--ca-file"))
		}
		if len(info.Chain) != 1 || !info.Chain[0].SelfSigned || info.Chain[0].NotAfter.IsZero() {
			t.Errorf("%s: chain %+v", tc.name, info.Chain)
		}
		// The row shows the certificate: subject, issuer, SANs, expiry; and the version.
		leaf := parseLeaf(t, tc.cert.PEM)
		sum := leafSummary(info)
		for _, want := range []string{"subject \"" + leaf.Subject.String() + "\"", "issuer \"" + leaf.Issuer.String() + "\"",
			"expires " + leaf.NotAfter.UTC().Format("2006-01-02")} {
			if !strings.Contains(sum, want) {
				t.Errorf("%s: certificate summary %q lacks %q", tc.name, sum, want)
			}
		}
		for _, n := range append(append([]string(nil), leaf.DNSNames...), ipStrings(leaf.IPAddresses)...) {
			if !strings.Contains(sum, n) {
				t.Errorf("%s: certificate summary %q lacks SAN %s", tc.name, sum, n)
			}
		}
		if !strings.HasPrefix(info.Version, "TLS 1.") {
			t.Errorf("%s: version %q", tc.name, info.Version)
		}
	}
}

func TestSignalNginxExpiredCertificate(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	ng := testenv.StartNginxWSProxy(t, testenv.NginxOptions{Upstream: s.Addr().String(), ExpiredCert: true})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ng.CACertPEM())
	rep := Signal(context.Background(), SignalOptions{URL: ng.URL(), TLS: TLSOptions{RootCAs: pool}})
	c := sigCheck(t, rep, "tls")
	if c.OK || rep.TLS.Problem != "expired" || !strings.Contains(c.Fix, "expired on") {
		t.Errorf("expired certificate: %+v", c)
	}
	if j := sigCheck(t, rep, "join"); !j.OK {
		t.Errorf("join through nginx should still be probed: %+v", j)
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func parseLeaf(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
