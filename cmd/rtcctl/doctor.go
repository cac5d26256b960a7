package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/turncred"
)

// Doctor item ids (stable, for --json consumers) in the order a person should fix them:
// the signaling path first (nothing works without it), then TURN/STUN, then the call, and
// last, with --idle, whether idle websockets survive (that only ends long calls).
const (
	doctorSignalPage      = "signal-page" // with --page only
	doctorSignalConnect   = "signal-connect"
	doctorSignalTLS       = "signal-tls"
	doctorSignalUpgrade   = "signal-upgrade"
	doctorSignalJoin      = "signal-join"
	doctorTURNPrefix      = "turn:" // one item per TURN URL: "turn:" + URL
	doctorSTUN            = "stun"
	doctorCall            = "call"
	doctorSignalIdle      = "signal-idle"      // with --idle only
	doctorSignalKeepalive = "signal-keepalive" // with --idle only
)

// doctorOptions are the parsed flags of `rtcctl doctor`.
type doctorOptions struct {
	Server   string
	CAFile   string
	Insecure bool
	// TLS is what wss and turns trust: the system's CAs plus --ca-file, or --insecure.
	TLS     probe.TLSOptions
	Origin  string
	PageURL string
	// Idle, when > 0, runs the idle-survival test that long, without and with keepalive.
	Idle              time.Duration
	KeepaliveInterval time.Duration
	ICEURLs           []string
	ICEUser           string
	ICEPass           string
	ICESecret         string
	Duration          time.Duration
	RelayOnly         bool // the call goes through TURN only (default when a turn: URL is given)
	SkipCall          bool
	Timeout           time.Duration
	JSON              bool
	Verbose           bool
	Logf              func(format string, args ...any)
}

// doctorItem is one row of the checklist.
type doctorItem struct {
	// ID identifies the check: signal-page, signal-connect, signal-tls, signal-upgrade,
	// signal-join, turn:<url>, stun, call, signal-idle, signal-keepalive.
	ID string `json:"id"`
	// Title is what was checked, in words.
	Title string `json:"title"`
	// Status is "pass", "fail" or "skip".
	Status string `json:"status"`
	// Failure is a stable failure code when Status is "fail": signal-mixed-content,
	// signal-unreachable, signal-dns, signal-url, signal-tls-expired, signal-tls-untrusted,
	// signal-tls-hostname, signal-tls-handshake, signal-upgrade, signal-wrong-scheme,
	// signal-not-found, signal-forbidden, signal-upstream-down, signal-join,
	// turn-unreachable, turn-auth, turn-permission, turn-tls, turn-failed,
	// stun-unreachable, call-<verdict code>, signal-idle-cut (a proxy cuts idle
	// websockets), signal-idle, signal-keepalive-cut, signal-keepalive.
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
	// Warnings are findings that fail no item (e.g. ws:// off loopback: pages served over
	// https cannot open it).
	Warnings []string `json:"warnings,omitempty"`
	// Signal, STUN and TURN are the full probe reports, for detail.
	Signal *probe.SignalReport `json:"signal,omitempty"`
	STUN   *probe.STUNReport   `json:"stun,omitempty"`
	TURN   *probe.TURNReport   `json:"turn,omitempty"`
	// Call is the full call report (nil when skipped).
	Call       *peer.CallReport `json:"call,omitempty"`
	DurationMs float64          `json:"duration_ms"`

	idle []doctorItem // the idle items, added after the call
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
		Description: "Runs, in the order a person should fix things: the signaling path (probe-signal:\n" +
			"DNS and TCP, the TLS certificate, the websocket upgrade through the proxy, a join in a\n" +
			"scratch room), each TURN server (reachability, credentials, relaying), STUN, a full\n" +
			"two-peer call through the server (relay-only when a TURN server is given) and, with\n" +
			"--idle, whether idle websockets survive the proxy without and with keepalive. Prints a\n" +
			"checklist with PASS/FAIL and, for each failure, the likely cause and the fix.\n\n" +
			"Examples:\n" +
			"   # the course deployment: nginx wss in front, coturn for TURN\n" +
			"   RTCCTL_ICE_PASS=secret rtcctl doctor --server wss://HOST:8098/ws \\\n" +
			"       --ice-server turn:HOST:3478 --ice-user demo\n\n" +
			"   # also check that idle websockets survive the proxy (nginx cuts at 60 s by default)\n" +
			"   rtcctl doctor --server wss://HOST:8098/ws --ice-server stun:HOST:3478 --idle 70s\n\n" +
			"   # rtcctl serve with a self-signed certificate, as a CI gate\n" +
			"   rtcctl doctor --server wss://127.0.0.1:8443/ws --ca-file cert.pem --json > doctor.json\n\n" +
			exitCodesHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "signaling websocket `URL`, e.g. wss://host:8098/ws (required)"},
			&cli.StringFlag{Name: "ca-file", Usage: "extra PEM `FILE` of CA certificates to trust for wss"},
			&cli.BoolFlag{Name: "insecure", Usage: "do not verify the wss certificate (the TLS item still reports what is wrong)"},
			&cli.StringFlag{Name: "origin", Usage: "Origin header for the websocket upgrade (default: the --page origin, else the websocket's own)"},
			&cli.StringFlag{Name: "page", Usage: "`URL` of the page that opens the websocket: an https page cannot open ws:// (mixed content)"},
			&cli.DurationFlag{Name: "idle", Usage: "also keep websockets idle this long, without and with keepalive, to see whether a proxy cuts them (slow: use more than nginx's proxy_read_timeout, default 60s, e.g. 70s; 0: skip)"},
			&cli.DurationFlag{Name: "keepalive-interval", Value: probe.DefaultKeepaliveInterval, Usage: "ping interval of the keepalive socket of --idle (the course clients': 5s)"},
			&cli.StringSliceFlag{Name: "ice-server", Usage: "STUN/TURN `URL` (repeatable): stun:HOST:3478, turn:HOST:3478?transport=udp"},
			&cli.StringFlag{Name: "ice-user", Usage: "TURN user (static long-term credentials)"},
			&cli.StringFlag{Name: "ice-pass", Usage: "TURN password", EnvVars: []string{"RTCCTL_ICE_PASS"}},
			&cli.StringFlag{Name: "ice-secret", Usage: "TURN REST secret (coturn static-auth-secret): credentials are made from it", EnvVars: []string{"RTCCTL_ICE_SECRET"}},
			&cli.DurationFlag{Name: "duration", Value: 3 * time.Second, Usage: "media measurement of the test call"},
			&cli.BoolFlag{Name: "relay-only", Usage: "force the test call through TURN (default: on when a turn: URL is given)"},
			&cli.BoolFlag{Name: "no-call", Usage: "skip the test call"},
			&cli.DurationFlag{Name: "timeout", Value: 90 * time.Second, Usage: "bound on the whole run, not counting --idle"},
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
		Server:            c.String("server"),
		CAFile:            c.String("ca-file"),
		Insecure:          c.Bool("insecure"),
		Origin:            c.String("origin"),
		PageURL:           c.String("page"),
		Idle:              c.Duration("idle"),
		KeepaliveInterval: c.Duration("keepalive-interval"),
		ICEURLs:           c.StringSlice("ice-server"),
		ICEUser:           c.String("ice-user"),
		ICEPass:           c.String("ice-pass"),
		ICESecret:         c.String("ice-secret"),
		Duration:          c.Duration("duration"),
		SkipCall:          c.Bool("no-call"),
		Timeout:           c.Duration("timeout"),
		JSON:              c.Bool("json"),
	}
	if o.Server == "" {
		return nil, usagef("--server is required (the signaling websocket URL, e.g. wss://host:8098/ws)")
	}
	if _, err := probe.ParseSignalURL(o.Server); err != nil {
		return nil, usagef("--server: %v (want a URL such as wss://host:8098/ws)", err)
	}
	if o.PageURL != "" {
		if pu, err := url.Parse(o.PageURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, usagef("--page %q: want the page's http:// or https:// URL", o.PageURL)
		}
	}
	if o.Idle < 0 || o.Idle > 24*time.Hour {
		return nil, usagef("--idle must be between 0 and 24h")
	}
	if o.KeepaliveInterval <= 0 {
		return nil, usagef("--keepalive-interval must be positive")
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
	tlsOpts, err := probeTLSFlags(c)
	if err != nil {
		return nil, err
	}
	o.TLS = tlsOpts
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
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+o.Idle)
	defer cancel()
	start := time.Now()
	rep := &doctorReport{Version: report.SchemaVersion, Server: o.Server, ICEServers: o.ICEURLs}

	streams.Progressf("doctor: signaling %s", o.Server)
	if o.Idle > 0 {
		streams.Progressf("doctor: the idle test keeps two websockets open for %s (one silent, one pinging every %s)", o.Idle, o.KeepaliveInterval)
	}
	signalOK := doctorSignalProbe(ctx, o, rep)

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

	// A proxy that cuts idle websockets ends long calls, but everything above must work
	// first: these items come last.
	for _, it := range rep.idle {
		rep.add(it)
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

// doctorSignalProbe runs probe-signal's checks against the signaling URL (DNS, TCP, TLS
// with the certificate's details, the upgrade, a join round trip with two sockets in a
// scratch room and, with --idle, the idle-survival test without and with keepalive) and
// turns its rows into checklist items. ok is false when the signaling path fails (a
// certificate accepted with --insecure does not count: the call can still run).
func doctorSignalProbe(ctx context.Context, o *doctorOptions, rep *doctorReport) (ok bool) {
	tlsOpts := o.TLS
	// The certificate is always verified, so its item fails as a browser would; the probe
	// goes on past an untrusted certificate to test the upgrade and the join anyway.
	tlsOpts.Insecure = false
	sr := probe.Signal(ctx, probe.SignalOptions{
		URL: o.Server, TLS: tlsOpts, Origin: o.Origin, PageURL: o.PageURL,
		Room: "doctor-" + strings.TrimPrefix(peer.RandomUID(), "rtcctl-"),
		Idle: o.Idle, IdleBoth: true, KeepaliveInterval: o.KeepaliveInterval,
		Logf: o.Logf,
	})
	rep.Signal = sr
	for _, w := range sr.Warnings {
		rep.Warnings = append(rep.Warnings, "signaling: "+w)
	}
	items := doctorSignalItems(o, sr)
	ok = true
	for _, it := range items {
		switch {
		case it.ID == doctorSignalIdle || it.ID == doctorSignalKeepalive:
			rep.idle = append(rep.idle, it) // listed after the call (runDoctor says why)
			continue
		case it.Status != "fail":
		case it.ID == doctorSignalTLS && o.Insecure && it.Failure != "signal-tls-handshake":
			it.Detail += " (continuing: --insecure)"
		default:
			ok = false
		}
		rep.add(it)
	}
	return ok
}

// doctorSignalItems maps the rows of a signaling probe to checklist items, in the order of
// the path: page, connect, TLS, upgrade, join, then the idle items. An item whose row is
// missing (the probe stopped earlier) is skipped with the reason.
func doctorSignalItems(o *doctorOptions, sr *probe.SignalReport) []doctorItem {
	u, _ := url.Parse(o.Server)
	row := map[string]*probe.Check{}
	for i := range sr.Checks {
		row[sr.Checks[i].Name] = &sr.Checks[i]
	}
	var items []doctorItem
	stopped := "" // why later stages did not run
	item := func(id, title string, rows ...string) doctorItem {
		it := doctorItem{ID: id, Title: title}
		var last *probe.Check
		var details []string
		for _, name := range rows {
			c := row[name]
			if c == nil {
				continue
			}
			last = c
			it.ElapsedMs += float64(c.Elapsed.D().Microseconds()) / 1000
			if c.Detail != "" {
				details = append(details, c.Detail)
			}
			if !c.OK && !c.Skipped && it.Status != "fail" {
				it.Status, it.Fix = "fail", c.Fix
				if c.Detail != "" {
					details = []string{c.Detail} // what failed, not what led there
				}
			}
		}
		switch {
		case last == nil && stopped != "":
			it.Status, it.Detail = "skip", "skipped: "+stopped
		case last == nil:
			it.Status, it.Detail = "skip", "not run"
		default:
			it.Detail = strings.Join(details, "; ")
			if it.Status == "" {
				it.Status = "pass"
			}
		}
		return it
	}

	if o.PageURL != "" {
		it := item(doctorSignalPage, "signaling: a page at "+o.PageURL+" may open "+u.Scheme+"://", "mixed-content")
		if it.Status == "skip" { // the probe writes the row only when it fails
			it.Status, it.Detail = "pass", "the websocket's scheme suits the page"
		} else {
			it.Failure, it.Cause = "signal-mixed-content", "browsers block a ws:// websocket on an https page (mixed content)"
		}
		items = append(items, it)
	}

	addr := sr.Address
	if addr == "" {
		addr = u.Host
	}
	rows := []string{"url", "dns", "connect"}
	if net.ParseIP(u.Hostname()) != nil {
		rows = []string{"url", "connect"} // an address: the lookup row says nothing
	}
	it := item(doctorSignalConnect, "signaling: TCP connect to "+addr, rows...)
	if it.Status == "fail" {
		switch sr.Outcome {
		case "dns-failed":
			it.Failure, it.Cause = "signal-dns", "the host name does not resolve"
		case "timeout":
			it.Failure, it.Cause = "signal-unreachable", "nothing answers: a firewall drops the packets, or the host is down"
		case "bad-url":
			it.Failure, it.Cause = "signal-url", "the URL is not a usable websocket URL"
		default:
			it.Failure, it.Cause = "signal-unreachable", "connection refused: nothing listens on that port (nginx or the signaling server is not running, or listens elsewhere)"
		}
		stopped = "cannot connect"
	}
	items = append(items, it)

	if u.Scheme == "wss" {
		it := item(doctorSignalTLS, "signaling: TLS certificate", "tls")
		if it.Status == "fail" {
			it.Failure, it.Cause = doctorTLSFailure(sr.TLS)
			if sr.Outcome == "tls-failed" {
				stopped = "TLS fails"
			}
		}
		items = append(items, it)
	}

	it = item(doctorSignalUpgrade, "signaling: websocket upgrade at "+u.Path, "upgrade")
	if it.Status == "fail" {
		it.Failure, it.Cause = doctorUpgradeFailure(sr.Upgrade)
		stopped = "the websocket does not open"
	}
	items = append(items, it)

	it = item(doctorSignalJoin, "signaling: join a scratch room with two clients", "join")
	if it.Status == "fail" {
		it.Failure = "signal-join"
		it.Cause = "the websocket opens but the room join does not complete: not the room-signaling server, another join format, or a server fault"
	}
	items = append(items, it)

	if o.Idle > 0 {
		it := item(doctorSignalIdle, fmt.Sprintf("signaling: an idle websocket (no keepalive) survives %s", o.Idle), "idle")
		if it.Status == "fail" {
			it.Failure = "signal-idle"
			if idle := sr.Idle; idle != nil && idle.CutAfter > 0 {
				it.Failure = "signal-idle-cut"
				it.Cause = fmt.Sprintf("a proxy (or the server) closes a websocket that carries no traffic after about %s: clients without a keepalive lose signaling during a call", idle.CutAfter)
				if k := sr.IdleKeepalive; k != nil && k.Survived {
					it.Cause += fmt.Sprintf("; with a ping every %s it survives (the keepalive item)", o.KeepaliveInterval)
				}
			}
		}
		items = append(items, it)
		it = item(doctorSignalKeepalive, fmt.Sprintf("signaling: a websocket with a ping every %s survives %s", o.KeepaliveInterval, o.Idle), "idle-keepalive")
		if it.Status == "fail" {
			it.Failure = "signal-keepalive"
			if k := sr.IdleKeepalive; k != nil && k.CutAfter > 0 {
				it.Failure = "signal-keepalive-cut"
				it.Cause = fmt.Sprintf("even with a ping every %s the connection was cut after %s: the proxy's read timeout is shorter than the ping interval, or the proxy does not pass pings", o.KeepaliveInterval, k.CutAfter)
			}
		}
		items = append(items, it)
	}
	return items
}

// doctorTLSFailure names a certificate problem the probe found.
func doctorTLSFailure(info *probe.TLSInfo) (code, cause string) {
	problem := ""
	if info != nil {
		problem = info.Problem
	}
	switch problem {
	case "expired":
		return "signal-tls-expired", "the certificate has expired: browsers refuse the wss connection"
	case "not-yet-valid":
		return "signal-tls-expired", "the certificate is not valid yet (clock skew?): browsers refuse the wss connection"
	case "hostname-mismatch":
		return "signal-tls-hostname", "the certificate is not for this host name"
	case "handshake":
		return "signal-tls-handshake", "the TLS handshake failed: the port does not speak TLS (a plain-HTTP listener behind a wss:// URL?) or there is no common version/cipher"
	}
	return "signal-tls-untrusted", "the certificate is not signed by an authority browsers trust (self-signed, or an incomplete chain)"
}

// doctorUpgradeFailure names why the websocket upgrade failed after TCP (and TLS) worked.
func doctorUpgradeFailure(up *probe.Upgrade) (code, cause string) {
	if up == nil {
		return "signal-upgrade", "the websocket did not open"
	}
	switch s := up.Status; {
	case s == 0:
		return "signal-upgrade", "no HTTP answer to the upgrade request (ws:// and wss:// mixed up, or not an HTTP server)"
	case (s == 400 || s == 426) && up.ToTLSPort():
		return "signal-wrong-scheme", "the port speaks TLS but the URL is ws://"
	case s == 400 || s == 426:
		return "signal-upgrade", fmt.Sprintf("HTTP %d to the upgrade: the proxy forwards the request without the Upgrade/Connection headers, so the server sees a plain GET", s)
	case s == 200 || s == 404:
		return "signal-not-found", fmt.Sprintf("HTTP %d: nothing serves websockets at this path", s)
	case s == 403:
		return "signal-forbidden", "HTTP 403: the server refuses this Origin (or the proxy denies the client)"
	case s == 502 || s == 503 || s == 504:
		return "signal-upstream-down", fmt.Sprintf("HTTP %d from the proxy: the signaling server behind it is down or listens elsewhere", s)
	case s >= 300 && s < 400:
		return "signal-upgrade", fmt.Sprintf("HTTP %d: a redirect, which websocket clients do not follow", s)
	}
	return "signal-upgrade", fmt.Sprintf("HTTP %d to the upgrade request", up.Status)
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
	opts.TLS = o.TLS
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
		for _, m := range rep.Warnings {
			fmt.Fprintf(w, "  %s %s\n", report.Paint(col, "warning:", report.Warn...), m)
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
