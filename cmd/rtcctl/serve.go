package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// serveOptions are the parsed flags of `rtcctl serve`.
type serveOptions struct {
	Config serve.Config
}

const serveDescription = `Runs the hardened, drop-in replacement of the course's signaling server (same JSON
protocol, any upgrade path, any Origin unless --allowed-origin is given), the call page
(GET /, open it in two tabs and join the same room), GET /config (the browser's
RTCConfiguration with fresh TURN credentials), GET /healthz, and optionally an embedded
TURN server on one UDP+TCP port.

By default everything listens on loopback only. --listen 0.0.0.0:8099 exposes the page and
signaling to the network; browsers then need https (--tls-cert/--tls-key or
--tls-self-signed) for the camera. With --turn and neither --turn-user nor --turn-secret, a
REST secret is generated in memory and clients get time-limited credentials from /config;
no password is ever printed or logged.

What it fixes, with the same messages otherwise: a third joiner gets
{"cmd":"full","roomId":...,"uid":...}; a bad frame gets {"cmd":"error","code":N,"reason":...}
and the connection stays (400 not a JSON object, 403 a roomId/uid this connection did not
join, 404 remoteUid not in the room, 405 unknown cmd, 415 binary frame, 422 wrong field type,
429 over --rate, 1009 over --max-message, then close); a uid that joins again from another
connection replaces the old one, which gets {"cmd":"replaced",...} and is closed; empty rooms
are freed; a client silent for --idle-timeout is dropped and its peer gets peer-leave.

Zero disables a limit: --ping-interval 0, --idle-timeout 0, --max-conns 0, --rate 0.

Examples:
   # everything on loopback, with TURN; open the printed page URL in two tabs
   rtcctl serve --turn

   # drop-in for the course server behind nginx (wss://HOST:8098/ws proxied to :8099)
   rtcctl serve --listen 127.0.0.1:8099 --allowed-origin https://HOST

   # on a LAN, with TLS and a TURN server reachable at 192.168.1.10
   rtcctl serve --listen 0.0.0.0:8099 --tls-self-signed \
       --turn --turn-listen 0.0.0.0:3478 --turn-relay-ip 192.168.1.10

   # the course's coturn setup: a static user on 3478 (from the environment, so the
   # password is not in ps; one NAME:PASS per line for several users)
   RTCCTL_TURN_USER=demo:secret rtcctl serve --turn --turn-realm course`

// serveCommand builds `rtcctl serve`.
func serveCommand(s *report.Streams) *cli.Command { return newServeCommand(s, runServe) }

// newServeCommand builds the command with an injectable run function (tests check flag
// parsing without the network).
func newServeCommand(s *report.Streams, runF func(context.Context, *report.Streams, *serveOptions) error) *cli.Command {
	users := &repeated{}
	origins := &repeated{}
	return &cli.Command{
		Name:        "serve",
		Usage:       "run the hardened signaling server, call page and embedded TURN",
		UsageText:   "rtcctl serve [flags]",
		Description: serveDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: serve.DefaultAddr, Usage: "HTTP/WebSocket `ADDR`; 0.0.0.0:8099 exposes it to the network"},
			&cli.StringFlag{Name: "tls-cert", Usage: "PEM certificate `FILE` (serve https/wss)"},
			&cli.StringFlag{Name: "tls-key", Usage: "PEM private key `FILE`"},
			&cli.BoolFlag{Name: "tls-self-signed", Usage: "serve https/wss with an in-memory self-signed certificate (localhost, 127.0.0.1, ::1)"},
			&cli.BoolFlag{Name: "turn", Usage: "start the embedded TURN server"},
			&cli.StringFlag{Name: "turn-listen", Value: "127.0.0.1:3478", Usage: "TURN UDP+TCP `IP:PORT`"},
			&cli.StringFlag{Name: "turn-relay-ip", Usage: "`IP` given out as relayed address (default: the TURN listen IP)"},
			&cli.StringFlag{Name: "turn-public-host", Usage: "`HOST` put in TURN URLs handed to clients (default: the TURN address)"},
			&cli.StringFlag{Name: "turn-relay-ports", Usage: "relay port range `MIN-MAX` (default: any)"},
			&cli.GenericFlag{Name: "turn-user", Value: users, Usage: "static TURN user `NAME:PASS` (repeatable; prefer the env var, one NAME:PASS per line: flags show in ps) [$" + turnUserEnv + "]"},
			&cli.StringFlag{Name: "turn-secret", EnvVars: []string{"RTCCTL_TURN_SECRET"}, Usage: "TURN REST shared `SECRET` (coturn use-auth-secret; prefer the env var: flags show in ps)"},
			&cli.StringFlag{Name: "turn-loopback-peers", Value: "auto", Usage: "relay to the TURN host's loopback: `auto` (only when TURN listens on loopback), allow, deny"},
			&cli.StringFlag{Name: "turn-realm", Value: turnserver.DefaultRealm, Usage: "TURN `REALM`"},
			&cli.DurationFlag{Name: "ice-ttl", Value: serve.DefaultICECredTTL, Usage: "lifetime of the TURN credentials /config hands out"},
			&cli.StringFlag{Name: "max-message", Value: "64KiB", Usage: "largest signaling frame (`SIZE`: 65536, 64KiB, 2MiB)"},
			&cli.DurationFlag{Name: "ping-interval", Value: signal.ServerDefaultPingInterval, Usage: "WebSocket ping interval (0: never)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: signal.ServerDefaultIdleTimeout, Usage: "drop a client silent for this long (0: never)"},
			&cli.IntFlag{Name: "max-conns", Value: signal.ServerDefaultMaxConns, Usage: "cap on open WebSocket connections (0: no cap)"},
			&cli.Float64Flag{Name: "rate", Value: signal.ServerDefaultRatePerSec, Usage: "messages per second per connection (0: unlimited)"},
			&cli.GenericFlag{Name: "allowed-origin", Value: origins, Usage: "accepted browser `ORIGIN` (repeatable; default: any, like the original)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("serve takes no arguments, got %q", c.Args().First())
			}
			o, err := parseServeFlags(c, users.values, origins.values)
			if err != nil {
				return err
			}
			return runF(c.Context, s, o)
		},
	}
}

// turnUserEnv holds static TURN users for serve, one NAME:PASS per line: unlike
// --turn-user it does not show in ps. Like RTCCTL_TURN_SECRET it is read only with --turn.
const turnUserEnv = "RTCCTL_TURN_USER"

// repeated is a flag value that collects every occurrence verbatim (no comma splitting:
// passwords may contain commas).
type repeated struct{ values []string }

func (r *repeated) Set(v string) error { r.values = append(r.values, v); return nil }

// String shows no values: they may hold passwords, and help prints defaults.
func (r *repeated) String() string { return "" }

func parseServeFlags(c *cli.Context, users, origins []string) (*serveOptions, error) {
	cfg := serve.Config{
		Addr:           c.String("listen"),
		TLSCert:        c.String("tls-cert"),
		TLSKey:         c.String("tls-key"),
		TLSSelfSigned:  c.Bool("tls-self-signed"),
		TURN:           c.Bool("turn"),
		TURNPublicHost: c.String("turn-public-host"),
		ICECredTTL:     c.Duration("ice-ttl"),
	}
	listenHost, listenPort, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, usagef("--listen %q: want HOST:PORT (e.g. 127.0.0.1:8099)", cfg.Addr)
	}
	if p, err := strconv.Atoi(listenPort); err != nil || p < 0 || p > 65535 {
		return nil, usagef("--listen %q: the port must be a number from 1 to 65535", cfg.Addr)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if cfg.TLSSelfSigned && cfg.TLSCert != "" {
		return nil, usagef("--tls-self-signed and --tls-cert/--tls-key exclude each other")
	}
	if cfg.ICECredTTL <= 0 {
		return nil, usagef("--ice-ttl must be positive")
	}

	maxMsg, err := parseSize(c.String("max-message"))
	if err != nil {
		return nil, usagef("--max-message: %v", err)
	}
	sig := signal.ServerConfig{
		MaxMessageBytes: maxMsg,
		PingInterval:    c.Duration("ping-interval"),
		IdleTimeout:     c.Duration("idle-timeout"),
		MaxConns:        c.Int("max-conns"),
		RatePerSec:      c.Float64("rate"),
		AllowedOrigins:  origins,
	}
	if sig.PingInterval < 0 || sig.IdleTimeout < 0 || sig.MaxConns < 0 || sig.RatePerSec < 0 {
		return nil, usagef("--ping-interval, --idle-timeout, --max-conns and --rate must not be negative")
	}
	// The signal package reads zero as "default" and negative as "off"; here zero is off.
	if sig.PingInterval == 0 {
		sig.PingInterval = -1
	}
	if sig.IdleTimeout == 0 {
		sig.IdleTimeout = -1
	}
	if sig.MaxConns == 0 {
		sig.MaxConns = -1
	}
	if sig.RatePerSec == 0 {
		sig.RatePerSec = -1
	}
	for _, o := range origins {
		if o == "" {
			return nil, usagef("--allowed-origin must not be empty")
		}
	}
	cfg.Signal = sig

	for _, name := range []string{"turn-user", "turn-relay-ip", "turn-public-host", "turn-relay-ports", "turn-loopback-peers"} {
		if c.IsSet(name) && !cfg.TURN {
			return nil, usagef("--%s needs --turn", name)
		}
	}
	if cfg.TURN {
		tc, err := parseTURNFlags(c, append(envTURNUsers(), users...))
		if err != nil {
			return nil, err
		}
		cfg.TURNConfig = tc
		if sameTCPPort(listenHost, listenPort, tc.ListenIP, tc.Port) {
			return nil, usagef("--listen %s and --turn-listen %s use the same TCP port: pick two ports", cfg.Addr, c.String("turn-listen"))
		}
	}
	return &serveOptions{Config: cfg}, nil
}

func parseTURNFlags(c *cli.Context, users []string) (turnserver.Config, error) {
	tc := turnserver.Config{
		RelayIP: c.String("turn-relay-ip"),
		Realm:   c.String("turn-realm"),
		Secret:  c.String("turn-secret"),
	}
	host, port, err := net.SplitHostPort(c.String("turn-listen"))
	if err != nil || net.ParseIP(host) == nil {
		return tc, usagef("--turn-listen %q: want IP:PORT (e.g. 127.0.0.1:3478)", c.String("turn-listen"))
	}
	tc.ListenIP = host
	if tc.Port, err = strconv.Atoi(port); err != nil || tc.Port < 0 || tc.Port > 65535 {
		return tc, usagef("--turn-listen %q: bad port", c.String("turn-listen"))
	}
	if tc.RelayIP != "" {
		ip := net.ParseIP(tc.RelayIP)
		if ip == nil || ip.IsUnspecified() {
			return tc, usagef("--turn-relay-ip %q: want a concrete IP address", tc.RelayIP)
		}
	} else if net.ParseIP(host).IsUnspecified() {
		return tc, usagef("--turn-listen %s needs --turn-relay-ip (the address clients can reach)", c.String("turn-listen"))
	}
	if r := c.String("turn-relay-ports"); r != "" {
		lo, hi, ok := strings.Cut(r, "-")
		minP, err1 := strconv.Atoi(lo)
		maxP, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil || minP < 1 || maxP > 65535 || minP > maxP {
			return tc, usagef("--turn-relay-ports %q: want MIN-MAX, e.g. 49160-49200", r)
		}
		tc.MinRelayPort, tc.MaxRelayPort = minP, maxP
	}
	switch lp := c.String("turn-loopback-peers"); lp {
	case "auto":
		tc.LoopbackPeers = turnserver.LoopbackAuto
	case "allow":
		tc.LoopbackPeers = turnserver.LoopbackAllow
	case "deny":
		tc.LoopbackPeers = turnserver.LoopbackDeny
	default:
		return tc, usagef("--turn-loopback-peers %q: want auto, allow or deny", lp)
	}
	if len(users) > 0 {
		tc.Users = map[string]string{}
	}
	for _, u := range users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" || pass == "" {
			return tc, usagef("--turn-user and %s want NAME:PASS (got a value without a colon or with an empty part)", turnUserEnv)
		}
		tc.Users[name] = pass
	}
	return tc, nil
}

// envTURNUsers reads RTCCTL_TURN_USER: one NAME:PASS per non-empty line.
func envTURNUsers() []string {
	var out []string
	for _, line := range strings.Split(os.Getenv(turnUserEnv), "\n") {
		if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// sameTCPPort tells whether the HTTP listener and TURN's TCP listener would bind the same
// port on overlapping addresses (port 0 picks a free port, so never clashes).
func sameTCPPort(httpHost, httpPort, turnIP string, turnPort int) bool {
	p, err := strconv.Atoi(httpPort)
	if err != nil || p == 0 || p != turnPort {
		return false
	}
	unspecified := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || (ip != nil && ip.IsUnspecified())
	}
	if unspecified(httpHost) || unspecified(turnIP) {
		return true
	}
	a, b := net.ParseIP(httpHost), net.ParseIP(turnIP)
	if a == nil || b == nil {
		return httpHost == turnIP
	}
	return a.Equal(b)
}

// parseSize reads 65536, 64KiB, 64K, 2MiB, 2M.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size", s)
	}
	if n > (64<<20)/mult {
		return 0, fmt.Errorf("%q is above the 64MiB limit", s)
	}
	return n * mult, nil
}

// serveLogger writes one timestamped line per event on stderr; safe for concurrent use.
type serveLogger struct {
	mu sync.Mutex
	s  *report.Streams
}

func (l *serveLogger) logf(format string, args ...any) {
	if l.s.Quiet || l.s.Err == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.s.Err, "%s %s\n", report.Paint(l.s.ColorErr, time.Now().Format("15:04:05.000"), report.Dim...), line)
}

// runServe starts the server and blocks until ctx ends (SIGINT/SIGTERM), then shuts down
// gracefully.
func runServe(ctx context.Context, st *report.Streams, o *serveOptions) error {
	lg := &serveLogger{s: st}
	cfg := o.Config
	cfg.Logf = lg.logf
	srv, err := serve.Start(ctx, cfg)
	if err != nil {
		return serveStartError(err)
	}
	printServeBanner(st, srv)
	<-ctx.Done()
	st.Progressf("rtcctl serve: shutting down (closing connections)")
	if err := srv.Close(); err != nil {
		lg.logf("serve: shutdown: %v", err)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// serveStartError maps Start errors to exit codes with a hint.
func serveStartError(err error) error {
	switch {
	case errors.Is(err, serve.ErrAddrInUse):
		return cannotRun(err, "another process uses that port: stop it, or pick another --listen / --turn-listen port")
	case errors.Is(err, serve.ErrTLS):
		return cannotRun(err, "check --tls-cert/--tls-key: readable PEM files, and the key must match the certificate")
	case errors.Is(err, serve.ErrConfig):
		return usageError{err}
	case errors.Is(err, turnserver.ErrConfig):
		return usageError{err}
	case errors.Is(err, serve.ErrListen):
		return cannotRun(err, "is --listen an address of this machine? ports below 1024 need root")
	case errors.Is(err, turnserver.ErrListen):
		return cannotRun(err, "is --turn-listen an address of this machine? ports below 1024 need root")
	default:
		return cannotRun(err, "")
	}
}

func printServeBanner(st *report.Streams, srv *serve.Server) {
	in := srv.Info()
	head := func(s string) string { return report.Paint(st.ColorErr, s, report.Head...) }
	st.Progressf("%s", head("rtcctl serve is running"))
	st.Progressf("  call page:  %s   (open it in two tabs, join the same room)", in.HTTPURL)
	st.Progressf("  signaling:  %s   (any path upgrades)", in.SignalURL)
	st.Progressf("  health:     %shealthz", in.HTTPURL)
	if len(in.TURNURLs) > 0 {
		st.Progressf("  turn:       %s", strings.Join(in.TURNURLs, "  "))
		switch {
		case in.TURNSecretGenerated:
			st.Progressf("  turn auth:  time-limited credentials from %sconfig (REST secret generated in memory, never printed)", in.HTTPURL)
		case in.TURNREST && len(in.TURNUsers) > 0:
			st.Progressf("  turn auth:  REST secret (credentials from %sconfig) and static user(s) %s (passwords not printed)", in.HTTPURL, strings.Join(in.TURNUsers, ", "))
		case in.TURNREST:
			st.Progressf("  turn auth:  REST secret; credentials from %sconfig", in.HTTPURL)
		default:
			st.Progressf("  turn auth:  static user(s) %s, realm %q (passwords not printed)", strings.Join(in.TURNUsers, ", "), in.TURNRealm)
		}
	}
	host, _, err := net.SplitHostPort(srv.Addr().String())
	exposed := err == nil && !isLoopbackHost(host)
	if exposed && !in.TLS {
		st.Progressf("  %s the page is reachable from the network over plain http: browsers on other machines give it no camera or microphone (they allow them only on https or localhost): add --tls-self-signed or --tls-cert/--tls-key",
			report.Paint(st.ColorErr, "warning:", report.Warn...))
	}
	if exposed && len(in.TURNURLs) > 0 && strings.Contains(in.TURNURLs[0], "turn:127.") {
		st.Progressf("  %s the page is reachable from the network but TURN listens on loopback: remote browsers cannot use it (add --turn-listen 0.0.0.0:3478 --turn-relay-ip <this host's IP>)",
			report.Paint(st.ColorErr, "warning:", report.Warn...))
	}
	if in.SelfSigned {
		st.Progressf("  tls:        self-signed certificate: the browser will warn once; accept it for this origin")
	}
	st.Progressf("  stop:       Ctrl-C")
}
