package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// CoturnOptions configure a Debian coturn (`turnserver`) started on loopback. Zero values
// mean: realm "rtcctl.test", one static user "user" / "pass" (when neither Users nor
// StaticAuthSecret is set), loopback peers allowed, no TLS.
type CoturnOptions struct {
	// Users are static long-term credentials (-u name:password).
	Users map[string]string
	// StaticAuthSecret turns on the TURN REST API (--use-auth-secret): usernames are
	// "expiry:user", passwords base64(HMAC-SHA1(secret, username)).
	StaticAuthSecret string
	// DenyLoopbackPeers leaves out --allow-loopback-peers, so CreatePermission towards a
	// 127.0.0.0/8 peer fails with 403 (the default on a real deployment).
	DenyLoopbackPeers bool
	// TLS adds a TLS listener (turns:) with a fresh self-signed certificate.
	TLS bool
	// Realm is the long-term-credential realm.
	Realm string
	// RFC5780 listens on a second loopback address (127.0.0.2) as well, so coturn can answer
	// CHANGE-REQUEST and sends OTHER-ADDRESS (NAT behaviour discovery).
	RFC5780 bool
	// NoUDP / NoTCP disable the UDP / TCP client listeners.
	NoUDP, NoTCP bool
	// STUNOnly runs coturn as a plain STUN server (-S): TURN requests are ignored.
	STUNOnly bool
	// NoAuth runs an open relay (--no-auth): Allocate succeeds without credentials.
	NoAuth bool
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// Coturn is a running coturn process.
type Coturn struct {
	// Host is the listening address (127.0.0.1).
	Host string
	// Port is the UDP/TCP listening port; TLSPort the TLS one (0 without TLS).
	Port, TLSPort int
	// Realm is the configured realm.
	Realm string
	// Users are the static users (name -> password).
	Users map[string]string
	// Secret is the REST API secret ("" when not used).
	Secret string
	// Cert is the self-signed certificate of the TLS listener (nil without TLS).
	Cert *Cert

	proc *process
	opts CoturnOptions
}

// coturnReadyTimeout bounds how long StartCoturn waits for a STUN answer.
const coturnReadyTimeout = 10 * time.Second

// StartCoturn starts Debian's turnserver in the foreground on 127.0.0.1 with ephemeral
// ports and waits until it answers a STUN binding request. The process is stopped in
// tb.Cleanup; its log is printed there when the test failed. Skips when coturn is not
// installed.
func StartCoturn(tb testing.TB, opts CoturnOptions) *Coturn {
	tb.Helper()
	bin := lookBin(tb, "turnserver", "coturn")
	if opts.Realm == "" {
		opts.Realm = "rtcctl.test"
	}
	if opts.Users == nil && opts.StaticAuthSecret == "" && !opts.NoAuth {
		opts.Users = map[string]string{"user": "pass"}
	}
	var cert *Cert
	if opts.TLS {
		cert = SelfSignedCert(tb, CertOptions{})
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startCoturnOnce(tb, bin, opts, cert)
		if err == nil {
			return c
		}
		lastErr = err
	}
	tb.Fatalf("testenv: coturn did not start: %v", lastErr)
	return nil
}

func startCoturnOnce(tb testing.TB, bin string, opts CoturnOptions, cert *Cert) (*Coturn, error) {
	ips := []string{"127.0.0.1"}
	if opts.RFC5780 {
		ips = append(ips, "127.0.0.2")
	}
	// With two listening IPs coturn also opens port+1 (the RFC 5780 alternate port).
	run := 1
	if opts.RFC5780 {
		run = 2
	}
	port, err := freePortRun(run, ips...)
	if err != nil {
		return nil, err
	}
	tlsPort := 0
	if opts.TLS {
		if tlsPort, err = freePortRun(run, ips...); err != nil {
			return nil, err
		}
		if tlsPort >= port && tlsPort < port+run || port >= tlsPort && port < tlsPort+run {
			return nil, errors.New("testenv: port collision, retrying")
		}
	}
	dir := tb.TempDir()
	// A random relay window outside the kernel's ephemeral range, so parallel servers
	// rarely compete for relay ports.
	minPort := 10000 + rand.IntN(200)*100
	args := []string{
		"-n", "--log-file=stdout", "--simple-log", "--no-cli", "--no-dtls",
		"--pidfile=" + filepath.Join(dir, "turnserver.pid"),
		"--userdb=" + filepath.Join(dir, "turndb"),
		"--relay-ip=127.0.0.1",
		"--listening-port=" + strconv.Itoa(port),
		"--min-port=" + strconv.Itoa(minPort), "--max-port=" + strconv.Itoa(minPort+99),
		"-r", opts.Realm,
		"--fingerprint",
	}
	for _, ip := range ips {
		args = append(args, "--listening-ip="+ip)
	}
	if !opts.DenyLoopbackPeers {
		args = append(args, "--allow-loopback-peers")
	}
	if !opts.RFC5780 {
		args = append(args, "--no-rfc5780")
	}
	if opts.TLS {
		args = append(args, "--cert="+cert.CertFile, "--pkey="+cert.KeyFile,
			"--tls-listening-port="+strconv.Itoa(tlsPort))
	} else {
		args = append(args, "--no-tls")
	}
	switch {
	case opts.NoAuth:
		args = append(args, "--no-auth")
	case opts.StaticAuthSecret != "":
		args = append(args, "--use-auth-secret", "--static-auth-secret="+opts.StaticAuthSecret)
	default:
		args = append(args, "-a")
	}
	if opts.NoAuth {
		opts.Users = nil
	}
	names := make([]string, 0, len(opts.Users))
	for u := range opts.Users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		args = append(args, "-u", u+":"+opts.Users[u])
	}
	if opts.NoUDP {
		args = append(args, "--no-udp")
	}
	if opts.NoTCP {
		args = append(args, "--no-tcp")
	}
	if opts.STUNOnly {
		args = append(args, "-S")
	}
	args = append(args, opts.ExtraArgs...)

	proc, err := startProcess("coturn", bin, args...)
	if err != nil {
		return nil, err
	}
	c := &Coturn{
		Host: "127.0.0.1", Port: port, TLSPort: tlsPort, Realm: opts.Realm,
		Users: opts.Users, Secret: opts.StaticAuthSecret, Cert: cert,
		proc: proc, opts: opts,
	}
	if err := c.waitReady(); err != nil {
		proc.stop()
		return nil, fmt.Errorf("%w\ncoturn log:\n%s", err, lastLines(proc.logs.String(), 40))
	}
	tb.Cleanup(func() {
		proc.stop()
		if tb.Failed() {
			tb.Logf("coturn log (port %d):\n%s", port, lastLines(proc.logs.String(), 60))
		}
	})
	return c, nil
}

// waitReady polls until the server answers a STUN binding request (and the TLS port
// accepts a handshake), bounded by coturnReadyTimeout.
func (c *Coturn) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), coturnReadyTimeout)
	defer cancel()
	for {
		if c.proc.exited() {
			return fmt.Errorf("testenv: coturn exited early: %v", c.proc.err)
		}
		err := c.probeOnce(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: coturn not answering on port %d after %s: %w", c.Port, coturnReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Coturn) probeOnce(ctx context.Context) error {
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	network := "udp"
	if c.opts.NoUDP {
		network = "tcp"
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	conn, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(req.Raw); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	var res stun.Message
	if err := stun.Decode(buf[:n], &res); err != nil {
		return err
	}
	if res.TransactionID != req.TransactionID {
		return errors.New("testenv: unexpected STUN transaction")
	}
	if c.TLSPort != 0 {
		tconn, err := tls.DialWithDialer(&net.Dialer{Timeout: 300 * time.Millisecond}, "tcp",
			net.JoinHostPort(c.Host, strconv.Itoa(c.TLSPort)),
			&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err != nil {
			return err
		}
		_ = tconn.Close()
	}
	return nil
}

// Addr is host:port of the UDP/TCP listener.
func (c *Coturn) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// UDPURL is turn:127.0.0.1:PORT?transport=udp.
func (c *Coturn) UDPURL() string { return "turn:" + c.Addr() + "?transport=udp" }

// TCPURL is turn:127.0.0.1:PORT?transport=tcp.
func (c *Coturn) TCPURL() string { return "turn:" + c.Addr() + "?transport=tcp" }

// TLSURL is turns:127.0.0.1:TLSPORT?transport=tcp ("" without TLS).
func (c *Coturn) TLSURL() string {
	if c.TLSPort == 0 {
		return ""
	}
	return "turns:" + net.JoinHostPort(c.Host, strconv.Itoa(c.TLSPort)) + "?transport=tcp"
}

// STUNURL is stun:127.0.0.1:PORT.
func (c *Coturn) STUNURL() string { return "stun:" + c.Addr() }

// URLs lists the TURN URLs the server serves: udp and tcp (unless disabled), and TLS.
func (c *Coturn) URLs() []string {
	var out []string
	if !c.opts.NoUDP {
		out = append(out, c.UDPURL())
	}
	if !c.opts.NoTCP {
		out = append(out, c.TCPURL())
	}
	if c.TLSPort != 0 {
		out = append(out, c.TLSURL())
	}
	return out
}

// CertPEM is the TLS certificate to trust (nil without TLS).
func (c *Coturn) CertPEM() []byte {
	if c.Cert == nil {
		return nil
	}
	return c.Cert.PEM
}

// Logs returns coturn's output so far, for failure messages.
func (c *Coturn) Logs() string { return c.proc.logs.String() }

// Stop ends the server early (it is also stopped in tb.Cleanup).
func (c *Coturn) Stop() { c.proc.stop() }

func lastLines(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
