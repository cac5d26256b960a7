package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/turncred"
)

// Doctor item ids (stable, for --json consumers) in the order a person should fix them:
// the signaling path first (nothing works without it), then TURN/STUN, then the call.
const (
	doctorSignalConnect = "signal-connect"
	doctorSignalTLS     = "signal-tls"
	doctorSignalUpgrade = "signal-upgrade"
	doctorSignalJoin    = "signal-join"
	doctorTURNPrefix    = "turn:" // one item per TURN URL: "turn:" + URL
	doctorSTUN          = "stun"
	doctorCall          = "call"
)

// doctorOptions are the parsed flags of `rtcctl doctor`.
type doctorOptions struct {
	Server     string
	CAFile     string
	Insecure   bool
	Origin     string
	ICEURLs    []string
	ICEUser    string
	ICEPass    string
	ICESecret  string
	Duration   time.Duration
	RelayOnly  bool // the call goes through TURN only (default when a turn: URL is given)
	SkipCall   bool
	Timeout    time.Duration
	JSON       bool
	Verbose    bool
	Logf       func(format string, args ...any)
	stageLimit time.Duration // per-stage bound of the signaling checks
}

// doctorItem is one row of the checklist.
type doctorItem struct {
	// ID identifies the check: signal-connect, signal-tls, signal-upgrade, signal-join,
	// turn:<url>, stun, call.
	ID string `json:"id"`
	// Title is what was checked, in words.
	Title string `json:"title"`
	// Status is "pass", "fail" or "skip".
	Status string `json:"status"`
	// Failure is a stable failure code when Status is "fail": signal-unreachable,
	// signal-dns, signal-tls-expired, signal-tls-untrusted, signal-tls-hostname,
	// signal-tls-handshake, signal-upgrade, signal-not-found, signal-forbidden,
	// signal-upstream-down, signal-join, turn-unreachable, turn-auth, turn-permission,
	// turn-failed, stun-unreachable, call-<verdict code>.
	Failure string `json:"failure,omitempty"`
	// Detail is what was seen.
	Detail string `json:"detail,omitempty"`
	// Cause is the likely cause of a failure; Fix what to do about it.
	Cause string `json:"cause,omitempty"`
	Fix   string `json:"fix,omitempty"`
	// ElapsedMs is how long the check took.
	ElapsedMs float64 `json:"elapsed_ms"`
}

// doctorReport is the whole checklist.
type doctorReport struct {
	Version int    `json:"version"`
	Server  string `json:"server"`
	// ICEServers are the STUN/TURN URLs checked (never credentials).
	ICEServers []string `json:"ice_servers,omitempty"`
	// OK is true when no item failed.
	OK bool `json:"ok"`
	// FirstFailure is the failure code of the first failing item: the thing to fix first.
	FirstFailure string       `json:"first_failure,omitempty"`
	Items        []doctorItem `json:"items"`
	// STUN and TURN are the full probe reports, for detail.
	STUN *probe.STUNReport `json:"stun,omitempty"`
	TURN *probe.TURNReport `json:"turn,omitempty"`
	// Call is the full call report (nil when skipped).
	Call       *peer.CallReport `json:"call,omitempty"`
	DurationMs float64          `json:"duration_ms"`
}

func (r *doctorReport) add(it doctorItem) {
	r.Items = append(r.Items, it)
}

// doctorCommand builds `rtcctl doctor`.
func doctorCommand(streams *report.Streams) *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check a deployment end to end and say what to fix first",
		ArgsUsage: " ",
		Description: "Runs, in the order a person should fix things: the signaling path (TCP, TLS\n" +
			"certificate, websocket upgrade through the proxy, a join in a scratch room), each TURN\n" +
			"server (reachability, credentials, relaying), STUN, and a full two-peer call through the\n" +
			"server (relay-only when a TURN server is given). Prints a checklist with PASS/FAIL and,\n" +
			"for each failure, the likely cause and the fix.\n\n" + exitCodesHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "signaling websocket `URL`, e.g. wss://host:8098/ws (required)"},
			&cli.StringFlag{Name: "ca-file", Usage: "extra PEM `FILE` of CA certificates to trust for wss"},
			&cli.BoolFlag{Name: "insecure", Usage: "do not verify the wss certificate (the TLS item still reports what is wrong)"},
			&cli.StringFlag{Name: "origin", Usage: "Origin header for the websocket upgrade"},
			&cli.StringSliceFlag{Name: "ice-server", Usage: "STUN/TURN `URL` (repeatable): stun:HOST:3478, turn:HOST:3478?transport=udp"},
			&cli.StringFlag{Name: "ice-user", Usage: "TURN user (static long-term credentials)"},
			&cli.StringFlag{Name: "ice-pass", Usage: "TURN password", EnvVars: []string{"RTCCTL_ICE_PASS"}},
			&cli.StringFlag{Name: "ice-secret", Usage: "TURN REST secret (coturn static-auth-secret): credentials are made from it", EnvVars: []string{"RTCCTL_ICE_SECRET"}},
			&cli.DurationFlag{Name: "duration", Value: 3 * time.Second, Usage: "media measurement of the test call"},
			&cli.BoolFlag{Name: "relay-only", Usage: "force the test call through TURN (default: on when a turn: URL is given)"},
			&cli.BoolFlag{Name: "no-call", Usage: "skip the test call"},
			&cli.DurationFlag{Name: "timeout", Value: 90 * time.Second, Usage: "bound on the whole run"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: func(c *cli.Context) error {
			opts, err := parseDoctorFlags(c)
			if err != nil {
				return err
			}
			opts.Verbose = c.Bool("verbose")
			if opts.Verbose && !streams.Quiet {
				opts.Logf = func(f string, a ...any) { fmt.Fprintf(streams.Err, f+"\n", a...) }
			}
			rep, err := runDoctor(c.Context, opts, streams)
			if err != nil {
				return err
			}
			return renderDoctor(streams, opts, rep)
		},
	}
}

func parseDoctorFlags(c *cli.Context) (*doctorOptions, error) {
	o := &doctorOptions{
		Server:     c.String("server"),
		CAFile:     c.String("ca-file"),
		Insecure:   c.Bool("insecure"),
		Origin:     c.String("origin"),
		ICEURLs:    c.StringSlice("ice-server"),
		ICEUser:    c.String("ice-user"),
		ICEPass:    c.String("ice-pass"),
		ICESecret:  c.String("ice-secret"),
		Duration:   c.Duration("duration"),
		SkipCall:   c.Bool("no-call"),
		Timeout:    c.Duration("timeout"),
		JSON:       c.Bool("json"),
		stageLimit: 5 * time.Second,
	}
	if o.Server == "" {
		return nil, usagef("--server is required (the signaling websocket URL, e.g. wss://host:8098/ws)")
	}
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, usagef("--server %q: want a ws:// or wss:// URL such as wss://host:8098/ws", o.Server)
	}
	for _, raw := range o.ICEURLs {
		if _, err := probe.ParseServerURL(raw); err != nil {
			return nil, usagef("--ice-server: %v", err)
		}
	}
	if o.ICESecret != "" && o.ICEPass != "" {
		return nil, usagef("--ice-pass and --ice-secret exclude each other")
	}
	if len(o.doctorTURNURLs()) > 0 && o.ICEUser == "" && o.ICESecret == "" {
		return nil, usagef("a turn: server needs --ice-user with --ice-pass, or --ice-secret")
	}
	if o.Duration <= 0 || o.Timeout <= 0 {
		return nil, usagef("--duration and --timeout must be positive")
	}
	o.RelayOnly = c.Bool("relay-only") || len(o.doctorTURNURLs()) > 0
	if c.IsSet("relay-only") && !c.Bool("relay-only") {
		o.RelayOnly = false
	}
	if o.RelayOnly && len(o.doctorTURNURLs()) == 0 {
		return nil, usagef("--relay-only needs a turn: or turns: --ice-server")
	}
	if o.CAFile != "" {
		if _, err := os.Stat(o.CAFile); err != nil {
			return nil, cannotRun(fmt.Errorf("--ca-file: %w", err), "give a readable PEM file")
		}
	}
	return o, nil
}

// doctorTURNURLs are the turn:/turns: URLs among the ICE servers.
func (o *doctorOptions) doctorTURNURLs() []string {
	var out []string
	for _, raw := range o.ICEURLs {
		if u, err := probe.ParseServerURL(raw); err == nil && (u.Scheme == "turn" || u.Scheme == "turns") {
			out = append(out, raw)
		}
	}
	return out
}

// doctorSTUNURLs are the UDP STUN addresses: stun: URLs, and turn: URLs over UDP (every
// TURN server answers STUN binding requests).
func (o *doctorOptions) doctorSTUNURLs() []string {
	var out []string
	seen := map[string]bool{}
	for _, raw := range o.ICEURLs {
		u, err := probe.ParseServerURL(raw)
		if err != nil || u.Secure() || u.Transport != "udp" {
			continue
		}
		s := "stun:" + u.Addr()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// iceServers builds the pion ICE servers with the credentials (static or REST).
func (o *doctorOptions) iceServers(now time.Time) []webrtc.ICEServer {
	if len(o.ICEURLs) == 0 {
		return nil
	}
	user, pass := o.ICEUser, o.ICEPass
	if o.ICESecret != "" {
		name := o.ICEUser
		if name == "" {
			name = "rtcctl-doctor"
		}
		user, pass = turncred.Generate(o.ICESecret, name, time.Hour, now)
	}
	var out []webrtc.ICEServer
	for _, raw := range o.ICEURLs {
		s := webrtc.ICEServer{URLs: []string{raw}}
		if strings.HasPrefix(raw, "turn") {
			s.Username, s.Credential = user, pass
		}
		out = append(out, s)
	}
	return out
}

// runDoctor runs every check and returns the checklist. It returns an error only when it
// could not run at all.
func runDoctor(ctx context.Context, o *doctorOptions, streams *report.Streams) (*doctorReport, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	rep := &doctorReport{Version: report.SchemaVersion, Server: o.Server, ICEServers: o.ICEURLs}

	streams.Progressf("doctor: signaling %s", o.Server)
	signalOK := doctorSignal(ctx, o, rep)

	turnOK := true
	if turnURLs := o.doctorTURNURLs(); len(turnURLs) > 0 {
		streams.Progressf("doctor: TURN %s", strings.Join(turnURLs, ", "))
		turnOK = doctorTURN(ctx, o, rep, turnURLs)
	}
	if stunURLs := o.doctorSTUNURLs(); len(stunURLs) > 0 {
		streams.Progressf("doctor: STUN %s", strings.Join(stunURLs, ", "))
		doctorSTUNCheck(ctx, o, rep, stunURLs)
	}

	switch {
	case o.SkipCall:
		rep.add(doctorItem{ID: doctorCall, Title: "two-peer call through the server", Status: "skip", Detail: "skipped (--no-call)"})
	case !signalOK:
		rep.add(doctorItem{ID: doctorCall, Title: "two-peer call through the server", Status: "skip",
			Detail: "skipped: signaling fails above; fix that first"})
	case o.RelayOnly && !turnOK:
		rep.add(doctorItem{ID: doctorCall, Title: "relay-only call through the server and TURN", Status: "skip",
			Detail: "skipped: TURN fails above, so a relay-only call cannot connect; fix TURN first"})
	default:
		streams.Progressf("doctor: test call (%s of media%s)", o.Duration, map[bool]string{true: ", relay only", false: ""}[o.RelayOnly])
		if err := doctorCallCheck(ctx, o, rep); err != nil {
			return nil, err
		}
	}

	rep.OK = true
	for _, it := range rep.Items {
		if it.Status == "fail" {
			rep.OK = false
			if rep.FirstFailure == "" {
				rep.FirstFailure = it.Failure
			}
		}
	}
	rep.DurationMs = msSince(start)
	return rep, nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// doctorSignal checks the signaling path step by step: TCP, TLS, upgrade, join. It stops
// at the first failure (later steps cannot work) and reports the rest as skipped.
func doctorSignal(ctx context.Context, o *doctorOptions, rep *doctorReport) bool {
	u, _ := url.Parse(o.Server)
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "wss" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	skipRest := func(from int, why string) {
		ids := []struct{ id, title string }{
			{doctorSignalConnect, "signaling: TCP connect to " + host},
			{doctorSignalTLS, "signaling: TLS certificate"},
			{doctorSignalUpgrade, "signaling: websocket upgrade at " + u.Path},
			{doctorSignalJoin, "signaling: join a scratch room with two clients"},
		}
		for _, x := range ids[from:] {
			if x.id == doctorSignalTLS && u.Scheme != "wss" {
				continue
			}
			rep.add(doctorItem{ID: x.id, Title: x.title, Status: "skip", Detail: why})
		}
	}

	// 1. TCP.
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, o.stageLimit)
	conn, err := (&net.Dialer{}).DialContext(cctx, "tcp", host)
	cancel()
	it := doctorItem{ID: doctorSignalConnect, Title: "signaling: TCP connect to " + host, ElapsedMs: msSince(t0)}
	if err != nil {
		it.Status, it.Detail = "fail", err.Error()
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr):
			it.Failure = "signal-dns"
			it.Cause = "the host name does not resolve"
			it.Fix = "check the name in --server and its DNS record"
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			it.Failure = "signal-unreachable"
			it.Cause = "nothing answers: a firewall drops the packets, or the host is down"
			it.Fix = "open the port in the firewall (and any cloud security group) and check the proxy runs"
		default:
			it.Failure = "signal-unreachable"
			it.Cause = "connection refused: nothing listens on that port (nginx or the signaling server is not running, or listens elsewhere)"
			it.Fix = "start the proxy (systemctl status nginx) or the server, and check the port in --server matches its listen directive"
		}
		rep.add(it)
		skipRest(1, "skipped: cannot connect")
		return false
	}
	_ = conn.Close()
	it.Status, it.Detail = "pass", "connected"
	rep.add(it)

	// 2. TLS (wss only): a handshake of our own, so the certificate problem is named even
	// when the websocket library only says "handshake failed".
	if u.Scheme == "wss" {
		it := doctorTLS(ctx, o, host, u.Hostname())
		rep.add(it)
		if it.Status == "fail" && !o.Insecure {
			skipRest(2, "skipped: TLS fails")
			return false
		}
	}

	// 3. Upgrade + 4. join: two clients in a scratch room, as two browsers would.
	t0 = time.Now()
	cfg := signal.ClientConfig{URL: o.Server, CAFile: o.CAFile, Insecure: o.Insecure, Origin: o.Origin,
		DialTimeout: o.stageLimit, Logf: o.Logf}
	a, err := signal.Dial(ctx, cfg)
	it = doctorItem{ID: doctorSignalUpgrade, Title: "signaling: websocket upgrade at " + u.Path, ElapsedMs: msSince(t0)}
	if err != nil {
		it.Status, it.Detail = "fail", err.Error()
		doctorUpgradeFailure(&it, err)
		rep.add(it)
		skipRest(3, "skipped: the websocket does not open")
		return false
	}
	defer a.Close()
	it.Status, it.Detail = "pass", "websocket open (HTTP 101)"
	rep.add(it)

	rep.add(doctorJoin(ctx, o, a, cfg))
	return rep.Items[len(rep.Items)-1].Status == "pass"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// doctorTLS handshakes with the server and verifies its certificate against the system
// roots plus --ca-file, naming the problem.
func doctorTLS(ctx context.Context, o *doctorOptions, hostport, name string) doctorItem {
	it := doctorItem{ID: doctorSignalTLS, Title: "signaling: TLS certificate"}
	t0 := time.Now()
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if o.CAFile != "" {
		if pemBytes, err := os.ReadFile(o.CAFile); err == nil {
			roots.AppendCertsFromPEM(pemBytes)
		}
	}
	d := &tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // verified below to name the problem
	cctx, cancel := context.WithTimeout(ctx, o.stageLimit)
	defer cancel()
	c, err := d.DialContext(cctx, "tcp", hostport)
	it.ElapsedMs = msSince(t0)
	if err != nil {
		it.Status, it.Failure, it.Detail = "fail", "signal-tls-handshake", err.Error()
		it.Cause = "the port does not speak TLS (a plain-HTTP listener behind a wss:// URL?) or no common TLS version/cipher"
		it.Fix = "use ws:// for a plain listener, or add `ssl` to nginx's listen directive with ssl_certificate/ssl_certificate_key"
		return it
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		it.Status, it.Failure, it.Detail = "fail", "signal-tls-handshake", "the server sent no certificate"
		return it
	}
	inter := x509.NewCertPool()
	for _, ct := range certs[1:] {
		inter.AddCert(ct)
	}
	leaf := certs[0]
	_, verr := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	if verr == nil {
		it.Status = "pass"
		it.Detail = fmt.Sprintf("%s, valid until %s", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
		return it
	}
	it.Status, it.Detail = "fail", verr.Error()
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(verr, &inv) && inv.Reason == x509.Expired:
		now := time.Now()
		if now.After(leaf.NotAfter) {
			it.Failure = "signal-tls-expired"
			it.Cause = fmt.Sprintf("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
			it.Fix = "renew it (certbot renew, or a new self-signed one) and reload nginx; browsers refuse the wss connection until then"
		} else {
			it.Failure = "signal-tls-expired"
			it.Cause = fmt.Sprintf("the certificate is not valid before %s (clock skew?)", leaf.NotBefore.UTC().Format(time.RFC3339))
			it.Fix = "check the clocks (timedatectl) on the server and here"
		}
	case errors.As(verr, &unk):
		it.Failure = "signal-tls-untrusted"
		it.Cause = "the certificate is not signed by a trusted authority (self-signed?)"
		it.Fix = "pass its CA with --ca-file (browsers must trust it too), or use a certificate from a public CA"
	case errors.As(verr, &hn):
		it.Failure = "signal-tls-hostname"
		it.Cause = fmt.Sprintf("the certificate is not for %q", name)
		it.Fix = "connect with the name the certificate carries, or issue one with this name in subjectAltName"
	default:
		it.Failure = "signal-tls-untrusted"
		it.Cause = "certificate verification failed"
		it.Fix = "check the certificate chain nginx serves (ssl_certificate should hold the full chain)"
	}
	if o.Insecure {
		it.Detail += " (continuing: --insecure)"
	}
	return it
}

// doctorUpgradeFailure classifies a failed websocket dial after TCP (and TLS) worked.
func doctorUpgradeFailure(it *doctorItem, err error) {
	var up *signal.UpgradeError
	switch {
	case errors.As(err, &up):
		switch up.Status {
		case 400, 426:
			it.Failure = "signal-upgrade"
			it.Cause = fmt.Sprintf("HTTP %d to the upgrade: the proxy forwards the request without the Upgrade/Connection headers, so the server sees a plain GET", up.Status)
			it.Fix = "in nginx's location /ws add: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";"
		case 404:
			it.Failure = "signal-not-found"
			it.Cause = "HTTP 404: nothing serves websockets at this path"
			it.Fix = "check the path in --server against nginx's location (the course uses /ws)"
		case 403:
			it.Failure = "signal-forbidden"
			it.Cause = "HTTP 403: the server refuses this Origin (or the proxy denies the client)"
			it.Fix = "add the page's origin to the server's allowlist, or pass --origin as the page would"
		case 502, 503, 504:
			it.Failure = "signal-upstream-down"
			it.Cause = fmt.Sprintf("HTTP %d from the proxy: the signaling server behind it is down or listens elsewhere", up.Status)
			it.Fix = "start the signaling server and check proxy_pass points at its address (the course: http://127.0.0.1:8099)"
		default:
			it.Failure = "signal-upgrade"
			it.Cause = fmt.Sprintf("HTTP %d to the upgrade request", up.Status)
			it.Fix = "check the proxy's location block and the server's log"
		}
	case errors.Is(err, signal.ErrTLS):
		it.Failure = "signal-tls-untrusted"
		it.Cause = "the TLS handshake of the websocket failed"
		it.Fix = "see the TLS item; pass --ca-file for a self-signed certificate"
	default:
		it.Failure = "signal-upgrade"
		it.Cause = "the websocket did not open"
		it.Fix = "check the proxy and the server logs"
	}
}

// doctorJoin joins a scratch room with a (already connected) and a second client b, and
// checks the protocol's answers: b gets resp-join, a gets new-peer, and a relayed
// message reaches its target.
func doctorJoin(ctx context.Context, o *doctorOptions, a *signal.Client, cfg signal.ClientConfig) doctorItem {
	it := doctorItem{ID: doctorSignalJoin, Title: "signaling: join a scratch room with two clients"}
	t0 := time.Now()
	fail := func(code, detail, cause, fix string) doctorItem {
		it.Status, it.Failure, it.Detail, it.Cause, it.Fix, it.ElapsedMs = "fail", code, detail, cause, fix, msSince(t0)
		return it
	}
	room := signal.StringID("doctor-" + strings.TrimPrefix(peer.RandomUID(), "rtcctl-"))
	ua, ub := signal.StringID(peer.RandomUID()), signal.StringID(peer.RandomUID())
	if err := a.Join(room, ua); err != nil {
		return fail("signal-join", err.Error(), "the connection closed right after opening", "check the server log")
	}
	b, err := signal.Dial(ctx, cfg)
	if err != nil {
		return fail("signal-join", "second client: "+err.Error(), "the server accepted one websocket but not a second one", "check connection limits in the proxy and server")
	}
	defer b.Close()
	if err := b.Join(room, ub); err != nil {
		return fail("signal-join", err.Error(), "the connection closed right after opening", "check the server log")
	}
	// The two joins travel on separate connections, so the server may take b's first
	// (seen under load): then b is the first member and gets new-peer, and a gets
	// resp-join. Either order proves the protocol; a reply to neither does not.
	got, err := b.WaitFor(ctx, o.stageLimit, signal.CmdRespJoin, signal.CmdNewPeer)
	if err != nil {
		return fail("signal-join", "second joiner got no resp-join: "+err.Error(),
			"the server does not speak the room protocol (or the room id type differs: the course server compares \"100\" and 100 as different rooms)",
			"point --server at the room signaling server (behind the proxy's /ws location)")
	}
	if got.Cmd == signal.CmdNewPeer {
		if _, err := a.WaitFor(ctx, o.stageLimit, signal.CmdRespJoin); err != nil {
			return fail("signal-join", "the server took the second client's join first, and the other joiner got no resp-join: "+err.Error(),
				"the server does not answer a joiner who finds someone in the room",
				"check the server version; the callee never learns its peer without resp-join")
		}
	} else if _, err := a.WaitFor(ctx, o.stageLimit, signal.CmdNewPeer); err != nil {
		return fail("signal-join", "first joiner got no new-peer: "+err.Error(),
			"the server does not tell the first member that someone joined",
			"check the server version; the caller never starts without new-peer")
	}
	it.Status, it.Detail, it.ElapsedMs = "pass", "resp-join and new-peer received", msSince(t0)
	_ = a.Leave(room, ua)
	_ = b.Leave(room, ub)
	return it
}

// doctorTURN probes every TURN URL: allocation, relaying and the relay-only loopback call
// (two pion peers through this server, no signaling: it proves the server serves WebRTC
// even when signaling fails). The full call through the server comes later.
func doctorTURN(ctx context.Context, o *doctorOptions, rep *doctorReport, urls []string) bool {
	opts := probe.TURNOptions{URLs: urls, Username: o.ICEUser, Password: o.ICEPass, Secret: o.ICESecret,
		RESTUser: o.ICEUser, NoGather: true, Logf: o.Logf}
	if o.ICESecret != "" {
		opts.Username, opts.Password = "", ""
	}
	if o.CAFile != "" {
		if pemBytes, err := os.ReadFile(o.CAFile); err == nil {
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(pemBytes)
			opts.TLS.RootCAs = pool
		}
	}
	opts.TLS.Insecure = o.Insecure
	tr := probe.TURN(ctx, opts)
	rep.TURN = tr
	ok := true
	for _, s := range tr.Servers {
		it := doctorItem{ID: doctorTURNPrefix + s.URL, Title: "TURN " + s.URL + ": reach, authenticate, relay, relay-only loopback call", ElapsedMs: 0}
		var firstBad *probe.Check
		for i := range s.Checks {
			it.ElapsedMs += float64(time.Duration(s.Checks[i].Elapsed).Microseconds()) / 1000
			if !s.Checks[i].OK && !s.Checks[i].Skipped && firstBad == nil {
				firstBad = &s.Checks[i]
			}
		}
		if s.OK && firstBad == nil {
			it.Status = "pass"
			if s.Allocation != nil {
				it.Detail = "relay " + s.Allocation.Relayed
			}
			if s.Call != nil && s.Call.Connected {
				it.Detail += fmt.Sprintf("; relay-only loopback call connected in %s", s.Call.ConnectTime)
			}
			rep.add(it)
			continue
		}
		ok = false
		it.Status = "fail"
		if firstBad != nil {
			it.Detail = firstBad.Name + ": " + firstBad.Detail
			it.Fix = firstBad.Fix
		}
		code := 0
		if s.Allocation != nil && s.Allocation.Error != nil {
			code = s.Allocation.Error.Code
			if s.Allocation.Meaning != "" {
				it.Cause = s.Allocation.Meaning
			}
		}
		switch {
		case s.Outcome == "refused" || s.Outcome == "timeout" || s.Outcome == "dns-failed":
			it.Failure = "turn-unreachable"
			if it.Cause == "" {
				it.Cause = "the TURN server does not answer (" + s.Outcome + "): it is not running, listens elsewhere, or a firewall blocks the port"
			}
			if it.Fix == "" {
				it.Fix = "start coturn (systemctl status coturn) and open its port (3478 udp+tcp) and relay range in the firewall"
			}
		case code == 401 || code == 400 || code == 441:
			it.Failure = "turn-auth"
			if it.Cause == "" {
				it.Cause = "the TURN server rejects the credentials"
			}
		case code == 403 || (firstBad != nil && firstBad.Name == "permission"):
			it.Failure = "turn-permission"
		case s.Outcome == "tls-failed":
			it.Failure = "turn-tls"
		default:
			it.Failure = "turn-failed"
		}
		if it.Failure == "turn-auth" && it.Fix == "" {
			it.Fix = "check --ice-user/--ice-pass against the server's user= lines (or static-auth-secret for REST credentials)"
		}
		rep.add(it)
	}
	return ok
}

// doctorSTUNCheck sends binding requests to the STUN addresses; the NAT verdict is
// informative (a NAT that needs TURN is a property of this network, not a fault).
func doctorSTUNCheck(ctx context.Context, o *doctorOptions, rep *doctorReport, urls []string) {
	sr := probe.STUN(ctx, probe.STUNOptions{URLs: urls, Logf: o.Logf})
	rep.STUN = sr
	it := doctorItem{ID: doctorSTUN, Title: "STUN binding (" + strings.Join(urls, ", ") + ")", ElapsedMs: float64(time.Duration(sr.Elapsed).Microseconds()) / 1000}
	answered := 0
	var mapped []string
	for _, s := range sr.Servers {
		if s.Received > 0 {
			answered++
			mapped = append(mapped, s.Mapped)
		}
	}
	if answered == 0 {
		it.Status, it.Failure = "fail", "stun-unreachable"
		it.Detail = "no STUN server answered"
		it.Cause = "STUN over UDP is blocked or the server is down; without it peers get no server-reflexive address"
		it.Fix = "open UDP 3478 to the server (and make sure it runs)"
		rep.add(it)
		return
	}
	it.Status = "pass"
	it.Detail = fmt.Sprintf("mapped %s; NAT mapping %s; %s", strings.Join(mapped, ", "), sr.Mapping, sr.Verdict)
	rep.add(it)
}

// doctorCallCheck runs a full two-peer call through the server.
func doctorCallCheck(ctx context.Context, o *doctorOptions, rep *doctorReport) error {
	t0 := time.Now()
	title := "two-peer call through the server"
	if o.RelayOnly {
		title = "relay-only two-peer call through the server and TURN"
	}
	it := doctorItem{ID: doctorCall, Title: title}
	cr, err := peer.RunCall(ctx, peer.CallConfig{
		Server: o.Server, CAFile: o.CAFile, Insecure: o.Insecure, Origin: o.Origin,
		ICEServers: o.iceServers(time.Now()), RelayOnly: o.RelayOnly, Duration: o.Duration,
		Thresholds: peer.Thresholds{RequireRelay: o.RelayOnly}, Logf: o.Logf, Verbose: o.Verbose,
	})
	it.ElapsedMs = msSince(t0)
	if err != nil {
		if errors.Is(err, peer.ErrConfig) {
			return cannotRun(err, "")
		}
		it.Status, it.Failure, it.Detail = "fail", "call-failed", err.Error()
		it.Cause = "the call could not start"
		it.Fix = "fix the items above first; then run `rtcctl call --server ... --verbose` for details"
		rep.add(it)
		return nil
	}
	rep.Call = cr
	if cr.Passed {
		it.Status = "pass"
		var parts []string
		for _, d := range cr.Directions {
			s := d.Name
			if d.Video != nil {
				s += fmt.Sprintf(" %.0f fps", d.Video.FPS)
			}
			if d.Selected != nil {
				s += " via " + d.Selected.LocalType + "/" + d.Selected.RemoteType
			}
			parts = append(parts, s)
		}
		it.Detail = strings.Join(parts, "; ")
		rep.add(it)
		return nil
	}
	it.Status = "fail"
	for _, d := range cr.Directions {
		if d.Passed {
			continue
		}
		v := d.Verdict
		code := v.Code
		if code == "" || code == "ok" {
			code = "checks"
			for _, c := range d.Checks {
				if !c.Passed {
					it.Detail = fmt.Sprintf("%s: %s measured %s (threshold %s)", d.Name, c.Name, c.Measured, c.Threshold)
					break
				}
			}
		} else {
			it.Detail = d.Name + ": " + v.Finding
		}
		it.Failure = "call-" + code
		if len(v.Causes) > 0 {
			it.Cause = v.Causes[0]
		}
		it.Fix = v.Fix
		break
	}
	if it.Failure == "" {
		it.Failure = "call-failed"
	}
	rep.add(it)
	return nil
}

// renderDoctor prints the report (text or JSON) and maps it to the exit code.
func renderDoctor(streams *report.Streams, o *doctorOptions, rep *doctorReport) error {
	if o.JSON {
		if err := report.WriteJSON(streams.Out, rep); err != nil {
			return cannotRun(err, "")
		}
	} else {
		w, col := streams.Out, streams.ColorOut
		fmt.Fprintf(w, "%s %s\n", report.Paint(col, "rtcctl doctor", report.Head...), o.Server)
		var fixes []doctorItem
		for _, it := range rep.Items {
			var mark string
			switch it.Status {
			case "pass":
				mark = report.Mark(col, true)
			case "fail":
				mark = report.Mark(col, false)
				fixes = append(fixes, it)
			default:
				mark = report.Paint(col, "SKIP", report.Dim...)
			}
			fmt.Fprintf(w, "  %s  %s", mark, it.Title)
			if it.Detail != "" {
				fmt.Fprintf(w, ": %s", it.Detail)
			}
			fmt.Fprintln(w)
			if it.Status == "fail" {
				if it.Cause != "" {
					fmt.Fprintf(w, "        cause: %s\n", it.Cause)
				}
				if it.Fix != "" {
					fmt.Fprintf(w, "        fix:   %s\n", it.Fix)
				}
			}
		}
		if len(fixes) > 0 {
			fmt.Fprintf(w, "\n%s\n", report.Paint(col, "Fix in this order:", report.Head...))
			for i, it := range fixes {
				fmt.Fprintf(w, "  %d. [%s] %s\n", i+1, it.Failure, firstNonEmpty(it.Fix, it.Cause, it.Detail))
			}
		} else {
			fmt.Fprintf(w, "\n%s\n", report.Paint(col, "All checks passed.", report.Good...))
		}
	}
	if !rep.OK {
		n := 0
		for _, it := range rep.Items {
			if it.Status == "fail" {
				n++
			}
		}
		return checkFailed{summary: fmt.Sprintf("doctor: %d check(s) failed; fix %s first", n, rep.FirstFailure)}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
