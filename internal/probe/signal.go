package probe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Deadlines of the signaling probe. The idle test adds SignalOptions.Idle on top.
// TestSignalDeadlinesConsistent checks the stages fit SignalReportTimeout.
const (
	// SignalReportTimeout bounds the probe without the idle test.
	SignalReportTimeout = 20 * time.Second
	// SignalDNSTimeout bounds the name lookup.
	SignalDNSTimeout = 2 * time.Second
	// SignalConnectTimeout bounds the TCP connect.
	SignalConnectTimeout = 3 * time.Second
	// SignalTLSTimeout bounds the TLS handshake.
	SignalTLSTimeout = 3 * time.Second
	// SignalUpgradeTimeout bounds the HTTP upgrade to WebSocket.
	SignalUpgradeTimeout = 3 * time.Second
	// SignalJoinTimeout bounds the join round trip with two sockets (their dials included).
	SignalJoinTimeout = 5 * time.Second
	// SignalIdleGrace is added to the idle duration to notice the end of the test.
	SignalIdleGrace = 2 * time.Second
	// DefaultKeepaliveInterval is the ping interval of the idle test's keepalive, the
	// course clients' 5 s.
	DefaultKeepaliveInterval = 5 * time.Second
)

// SignalOptions configure a signaling probe. Zero values say what they mean.
type SignalOptions struct {
	// URL is the websocket URL: ws://HOST:PORT/PATH or wss://....
	URL string
	// TLS says which certificates to trust for wss://.
	TLS TLSOptions
	// Room is the room to join; empty means a random "rtcctl-probe-..." room.
	Room string
	// Idle, when > 0, keeps one socket idle this long to see whether a proxy cuts it.
	Idle time.Duration
	// Keepalive sends WebSocket pings every KeepaliveInterval during the idle test.
	Keepalive bool
	// IdleBoth runs the idle test on two sockets at once, one silent and one with
	// keepalive pings (Keepalive is then ignored): whether a proxy cuts idle websockets,
	// and whether the keepalive keeps them open. Their rows are "idle" and
	// "idle-keepalive", their results Idle and IdleKeepalive.
	IdleBoth bool
	// KeepaliveInterval is DefaultKeepaliveInterval when zero.
	KeepaliveInterval time.Duration
	// PageURL is the URL of the page that will open this websocket (for the mixed-content
	// check); empty means unknown.
	PageURL string
	// Origin is sent in the upgrade request; empty means the origin of PageURL, as a
	// browser on that page sends, or without PageURL the URL's own origin (https://HOST for
	// wss, http://HOST for ws).
	Origin string
	// Timeout bounds the probe without the idle test (SignalReportTimeout when zero).
	Timeout time.Duration
	// Logf receives debug lines (nil discards them).
	Logf func(format string, args ...any)
}

// SignalReport is the result of a signaling probe.
type SignalReport struct {
	Started time.Time `json:"started"`
	Elapsed Millis    `json:"elapsed_ms"`
	URL     string    `json:"url"`
	// Addresses are what the host name resolved to; Address the one used.
	Addresses []string `json:"addresses,omitempty"`
	Address   string   `json:"address,omitempty"`
	// Outcome classifies reachability: "ok", "bad-url", "dns-failed", "refused", "timeout",
	// "tls-failed", "upgrade-failed", "join-failed".
	Outcome string `json:"outcome"`
	// TLS is the handshake of a wss:// URL.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Upgrade is the HTTP upgrade exchange.
	Upgrade *Upgrade `json:"upgrade,omitempty"`
	// Join is the two-socket join round trip.
	Join *JoinResult `json:"join,omitempty"`
	// Idle is the idle-survival test (nil when not run).
	Idle *IdleResult `json:"idle,omitempty"`
	// IdleKeepalive is the idle test with keepalive pings run beside Idle (IdleBoth).
	IdleKeepalive *IdleResult `json:"idle_keepalive,omitempty"`
	// Checks are the pass/fail rows in stage order.
	Checks   []Check  `json:"checks"`
	Warnings []string `json:"warnings,omitempty"`
	// Interrupted is true when the caller cancelled the probe (Ctrl-C) before it finished:
	// failed rows may only have been cut short.
	Interrupted bool `json:"interrupted,omitempty"`
	OK          bool `json:"ok"`
}

// Upgrade is the answer to the websocket upgrade request.
type Upgrade struct {
	// Status is the HTTP status (101 on success).
	Status int `json:"status"`
	// Server is the Server header (e.g. "nginx/1.22.1").
	Server string `json:"server,omitempty"`
	// Body is the start of a non-101 response body.
	Body string `json:"body,omitempty"`
	// Origin is the Origin header that was sent.
	Origin string `json:"origin,omitempty"`
	RTT    Millis `json:"rtt_ms"`
}

// JoinResult is the join round trip in a fresh room with two sockets.
type JoinResult struct {
	Room string `json:"room"`
	// RTT is from the second join to both notifications (resp-join and new-peer).
	RTT Millis `json:"rtt_ms"`
	// RespJoin and NewPeer say whether each notification arrived.
	RespJoin bool `json:"resp_join"`
	NewPeer  bool `json:"new_peer"`
	// Unexpected lists other commands the server sent (e.g. "full", "error").
	Unexpected []string `json:"unexpected,omitempty"`
}

// IdleResult is the idle-survival test.
type IdleResult struct {
	Duration  Millis `json:"duration_ms"`
	Keepalive bool   `json:"keepalive"`
	// Survived is true when the socket was still open after Duration.
	Survived bool `json:"survived"`
	// CutAfter is when the connection was closed, from the start of the idle period.
	CutAfter Millis `json:"cut_after_ms,omitempty"`
	// CloseCode is the websocket close code seen (1006: closed without a close frame).
	CloseCode int `json:"close_code,omitempty"`
	// Pongs counts keepalive pongs received.
	Pongs int `json:"pongs,omitempty"`
	// ServerPings counts WebSocket pings the server (or proxy) sent during the idle period;
	// they were answered, so the socket was not silent in the proxy's eyes.
	ServerPings int `json:"server_pings,omitempty"`
}

// Signal probes a signaling websocket: DNS, TCP, TLS, the upgrade, a join round trip in a
// fresh room, and optionally whether an idle connection survives. It never returns nil.
func Signal(ctx context.Context, opts SignalOptions) *SignalReport {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = SignalReportTimeout
	}
	if opts.Idle > 0 {
		timeout += opts.Idle + SignalIdleGrace
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if opts.KeepaliveInterval <= 0 {
		opts.KeepaliveInterval = DefaultKeepaliveInterval
	}
	rep := &SignalReport{Started: time.Now(), URL: redactURL(opts.URL)}
	r := &signalRun{opts: opts, rep: rep}
	r.run(ctx)
	rep.OK = allOK(rep.Checks)
	if rep.Outcome == "" {
		rep.Outcome = "ok"
	}
	rep.Elapsed = Millis(time.Since(rep.Started))
	markInterrupted(parent, &rep.Interrupted, &rep.OK, &rep.Warnings, rep.Elapsed)
	return rep
}

type signalRun struct {
	opts SignalOptions
	rep  *SignalReport
	u    *url.URL
	ip   net.IP
	// lookup resolves the host (the package's lookup; tests give a name two addresses).
	lookup func(ctx context.Context, host string) ([]net.IP, error)
}

func (r *signalRun) check(c Check) { r.rep.Checks = append(r.rep.Checks, c) }
func (r *signalRun) warn(f string, a ...any) {
	r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf(f, a...))
}

// redactURL hides a password given inside a URL, so reports never carry it.
func redactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// ParseSignalURL checks a signaling URL: ws:// or wss:// with a host.
func ParseSignalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadURL, raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http", "https":
		return nil, fmt.Errorf("%w: %q: a websocket URL starts with ws:// or wss:// (not %s://)", ErrBadURL, raw, u.Scheme)
	default:
		return nil, fmt.Errorf("%w: %q: scheme must be ws or wss", ErrBadURL, raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q: no host", ErrBadURL, raw)
	}
	if u.User != nil {
		// Not echoed back: the error names the host only, so a password cannot leak.
		return nil, fmt.Errorf("%w: ws://...@%s: credentials do not belong in the URL (browsers do not send them to a websocket)", ErrBadURL, u.Host)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: %q: port %q is not 1-65535", ErrBadURL, raw, p)
		}
	}
	return u, nil
}

func (r *signalRun) port() string {
	if p := r.u.Port(); p != "" {
		return p
	}
	if r.u.Scheme == "wss" {
		return "443"
	}
	return "80"
}

func (r *signalRun) run(ctx context.Context) {
	u, err := ParseSignalURL(r.opts.URL)
	if err != nil {
		r.rep.Outcome = "bad-url"
		r.check(Check{Name: "url", Detail: err.Error(), Fix: "write ws://HOST:PORT/ws or wss://HOST:PORT/ws"})
		return
	}
	r.u = u
	r.urlWarnings()

	// DNS
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, SignalDNSTimeout)
	resolve := r.lookup
	if resolve == nil {
		resolve = lookup
	}
	ips, err := resolve(dctx, u.Hostname())
	cancel()
	if err != nil {
		r.rep.Outcome = "dns-failed"
		r.check(Check{Name: "dns", Elapsed: Millis(time.Since(start)), Detail: fmt.Sprintf("cannot resolve %s: %v", u.Hostname(), err),
			Fix: "check the host name and this machine's DNS (`getent hosts " + u.Hostname() + "`)"})
		return
	}
	for _, ip := range ips {
		r.rep.Addresses = append(r.rep.Addresses, ip.String())
	}
	r.ip = ips[0]
	r.rep.Address = net.JoinHostPort(r.ip.String(), r.port())
	r.check(Check{Name: "dns", OK: true, Elapsed: Millis(time.Since(start)), Detail: u.Hostname() + " -> " + strings.Join(r.rep.Addresses, ", ")})

	conn, ok := r.connectStages(ctx)
	if !ok {
		return
	}
	ws, ok := r.upgrade(ctx, conn)
	if !ok {
		return
	}
	r.join(ctx, ws)
	switch {
	case r.opts.Idle <= 0:
	case r.opts.IdleBoth:
		// Both sockets idle at the same time, so the pair takes one Idle, not two.
		var wg sync.WaitGroup
		var silent, kept Check
		wg.Add(2)
		go func() { defer wg.Done(); r.rep.Idle, silent = r.idle(ctx, false) }()
		go func() { defer wg.Done(); r.rep.IdleKeepalive, kept = r.idle(ctx, true) }()
		wg.Wait()
		kept.Name = "idle-keepalive"
		r.check(silent)
		r.check(kept)
	default:
		res, c := r.idle(ctx, r.opts.Keepalive)
		r.rep.Idle = res
		r.check(c)
	}
}

func (r *signalRun) urlWarnings() {
	host := r.u.Hostname()
	loop := host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
	page := strings.ToLower(r.opts.PageURL)
	switch {
	case r.u.Scheme == "ws" && strings.HasPrefix(page, "https://"):
		r.check(Check{Name: "mixed-content", Detail: "the page is https but the websocket is ws://: browsers block this (mixed content)",
			Fix: "serve the websocket over TLS (wss://, e.g. nginx with ssl proxying /ws) and use that URL in the page"})
	case r.u.Scheme == "ws" && !loop:
		r.warn("ws:// is unencrypted: a page served over https cannot open it (browsers block mixed content), and getUserMedia needs https off localhost; use wss://")
	}
	if r.u.Path == "" || r.u.Path == "/" {
		r.warn("the URL has no path: the course nginx config proxies only /ws (the Node server itself accepts any path)")
	}
}

func lookup(ctx context.Context, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []net.IP
	for _, a := range addrs {
		if a.IP.To4() != nil {
			v4 = append(v4, a.IP)
		} else {
			v6 = append(v6, a.IP)
		}
	}
	out := append(v4, v6...)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no addresses", ErrProtocol)
	}
	return out, nil
}

// connectStages does TCP and TLS with a check row each.
func (r *signalRun) connectStages(ctx context.Context) (net.Conn, bool) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, SignalConnectTimeout)
	var d net.Dialer
	conn, err := d.DialContext(cctx, "tcp", r.rep.Address)
	// Like a browser, fall back to the name's other addresses when one refuses (a server
	// listening on IPv6 only, a stale A record); the row names the refused ones.
	var refused []string
	for i := 1; err != nil && errors.Is(classifyNetErr(err), ErrRefused) && i < len(r.rep.Addresses); i++ {
		refused = append(refused, r.rep.Address)
		r.ip = net.ParseIP(r.rep.Addresses[i])
		r.rep.Address = net.JoinHostPort(r.rep.Addresses[i], r.port())
		conn, err = d.DialContext(cctx, "tcp", r.rep.Address)
	}
	cancel()
	if err != nil {
		err = classifyNetErr(err)
		c := Check{Name: "connect", Elapsed: Millis(time.Since(start))}
		switch {
		case errors.Is(err, ErrRefused):
			r.rep.Outcome = "refused"
			c.Detail = "TCP connection to " + r.rep.Address + " refused: nothing listens there"
			c.Fix = "start the signaling server / nginx, or fix the port (the course uses 8098 for wss via nginx, 8099 for the Node server)"
		case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			r.rep.Outcome = "timeout"
			c.Detail = fmt.Sprintf("TCP connect to %s timed out after %s", r.rep.Address, roundDur(time.Since(start)))
			c.Fix = "a firewall or cloud security group drops the port: open it"
		default:
			r.rep.Outcome = "refused"
			c.Detail = "cannot connect: " + err.Error()
		}
		r.check(c)
		return nil, false
	}
	detail := "TCP connected to " + r.rep.Address
	if len(refused) > 0 {
		detail += " (refused first: " + strings.Join(refused, ", ") + ")"
		r.warn("%s refused the connection; %s accepted it: browsers fall back too, but slower, and some clients do not: fix the listener or the DNS records", strings.Join(refused, ", "), r.rep.Address)
	}
	r.check(Check{Name: "connect", OK: true, Elapsed: Millis(time.Since(start)), Detail: detail})
	if r.u.Scheme != "wss" {
		return conn, true
	}
	tstart := time.Now()
	tctx, tcancel := context.WithTimeout(ctx, SignalTLSTimeout)
	tc, info, err := tlsHandshake(tctx, conn, r.u.Hostname(), r.opts.TLS, []string{"http/1.1"})
	tcancel()
	r.rep.TLS = info
	c := Check{Name: "tls", Elapsed: Millis(time.Since(tstart))}
	if err != nil {
		_ = conn.Close()
		r.rep.Outcome = "tls-failed"
		c.Detail = "TLS handshake failed: " + info.Error
		c.Fix = tlsFix(info, "--ca-file")
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
			c.Detail = "TLS handshake failed: the port answered with plain HTTP, not TLS (" + info.Error + ")"
			c.Fix = "this port serves plain HTTP/ws: use ws:// for it, or the TLS port for wss:// (the course: wss://HOST:8098/ws via nginx)"
		}
		r.check(c)
		return nil, false
	}
	c.OK = info.Verified
	c.Detail = fmt.Sprintf("%s, certificate %s", info.Version, leafSummary(info))
	if !info.Verified {
		c.Detail += ": " + problemText(info)
		c.Fix = tlsFix(info, "--ca-file")
		if r.opts.TLS.Insecure {
			c.OK = true
			c.Detail += " (accepted: --insecure)"
			c.Fix = ""
			r.warn("TLS certificate not verified (%s): browsers will refuse wss:// to this server", info.Problem)
		}
	}
	r.check(c)
	return tc, true
}

// dialer returns a gorilla dialer that uses conn for its first dial (the probe did TCP and
// TLS itself), or dials fresh connections the same way when conn is nil.
func (r *signalRun) dialer(conn net.Conn) *websocket.Dialer {
	var once sync.Once
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c, conn = conn, nil })
		if c != nil {
			return c, nil
		}
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", r.rep.Address)
		if err != nil {
			return nil, err
		}
		if r.u.Scheme != "wss" {
			return nc, nil
		}
		opts := r.opts.TLS
		if r.rep.TLS != nil && !r.rep.TLS.Verified {
			opts.Insecure = true // already reported; go on to test the rest
		}
		tc, info, err := tlsHandshake(ctx, nc, r.u.Hostname(), opts, []string{"http/1.1"})
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		if !info.Verified && !opts.Insecure {
			_ = tc.Close()
			return nil, errors.New(info.Error)
		}
		return tc, nil
	}
	return &websocket.Dialer{
		NetDialContext: dial, NetDialTLSContext: dial,
		HandshakeTimeout: SignalUpgradeTimeout,
	}
}

func (r *signalRun) header() http.Header {
	h := http.Header{}
	origin := r.opts.Origin
	if origin == "" && r.opts.PageURL != "" {
		if pu, err := url.Parse(r.opts.PageURL); err == nil && pu.Scheme != "" && pu.Host != "" {
			origin = strings.ToLower(pu.Scheme) + "://" + pu.Host
		}
	}
	if origin == "" {
		scheme := "http"
		if r.u.Scheme == "wss" {
			scheme = "https"
		}
		origin = scheme + "://" + r.u.Host
	}
	h.Set("Origin", origin)
	return h
}

// upgrade performs the HTTP upgrade on conn and explains a refusal.
func (r *signalRun) upgrade(ctx context.Context, conn net.Conn) (*wsPeer, bool) {
	start := time.Now()
	uctx, cancel := context.WithTimeout(ctx, SignalUpgradeTimeout)
	defer cancel()
	ws, resp, err := r.dialer(conn).DialContext(uctx, r.u.String(), r.header())
	up := &Upgrade{RTT: Millis(time.Since(start)), Origin: r.header().Get("Origin")}
	r.rep.Upgrade = up
	c := Check{Name: "upgrade", Elapsed: Millis(time.Since(start))}
	if resp != nil {
		up.Status = resp.StatusCode
		up.Server = resp.Header.Get("Server")
		if resp.Body != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			up.Body = strings.TrimSpace(string(b))
		}
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		r.rep.Outcome = "upgrade-failed"
		c.Detail, c.Fix = upgradeMeaning(up, r.u.Path, err)
		r.check(c)
		return nil, false
	}
	c.OK = true
	c.Detail = fmt.Sprintf("101 Switching Protocols in %s", up.RTT)
	if up.Server != "" {
		c.Detail += " (server: " + up.Server + ")"
	}
	r.check(c)
	return newWSPeer(ws), true
}

func upgradeMeaning(up *Upgrade, path string, err error) (detail, fix string) {
	via := ""
	if up.Server != "" {
		via = " from " + up.Server
	}
	switch up.Status {
	case 0:
		return "no HTTP answer to the upgrade: " + err.Error(), "the port does not speak HTTP (or TLS/plain is mixed up: ws:// vs wss://)"
	case http.StatusOK:
		return fmt.Sprintf("200 OK%s: an ordinary web page or API answered, not a websocket endpoint", via),
			"point the URL at the websocket location (the course uses /ws behind nginx); if this is nginx, its location for " + path + " serves files instead of proxying"
	case http.StatusNotFound:
		return fmt.Sprintf("404 Not Found%s for %q: wrong path", via, path),
			"use the path the proxy forwards (the course nginx config proxies location /ws: wss://HOST:8098/ws)"
	case http.StatusBadRequest, http.StatusUpgradeRequired:
		if up.Status == http.StatusBadRequest && plainHTTPToTLSPort(up.Body) {
			return fmt.Sprintf("400%s: this port speaks TLS and got a plain ws:// request", via),
				"use wss:// for this port (or the plain port for ws://)"
		}
		return fmt.Sprintf("%d%s: the server saw a plain HTTP request, not an upgrade", up.Status, via),
			"the proxy is not forwarding the Upgrade/Connection headers: in nginx add `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";` to the location"
	case http.StatusForbidden:
		return fmt.Sprintf("403 Forbidden%s: the server refused the Origin header %q", via, up.Origin),
			"the page is on another origin than the websocket (course: page on 443, ws on 8098): the server must accept the page's Origin (gorilla's default CheckOrigin refuses it; rtcctl serve: --allowed-origin); probe with --page URL or --origin to send the page's origin"
	case http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusServiceUnavailable:
		return fmt.Sprintf("%d%s: the proxy cannot reach the signaling server", up.Status, via),
			"start the signaling server (course: node signal_server.js on 8099) and check proxy_pass points at it"
	case http.StatusMovedPermanently, http.StatusFound, http.StatusPermanentRedirect, http.StatusTemporaryRedirect:
		return fmt.Sprintf("%d redirect%s", up.Status, via), "websocket clients do not follow redirects: use the final URL (often http->https, so wss://)"
	}
	return fmt.Sprintf("HTTP %d%s instead of 101 Switching Protocols", up.Status, via), "check the proxy and server logs"
}

// ToTLSPort reports whether the answer is a TLS port's refusal of a plain-HTTP (ws://)
// request.
func (u *Upgrade) ToTLSPort() bool {
	return u != nil && u.Status == http.StatusBadRequest && plainHTTPToTLSPort(u.Body)
}

// plainHTTPToTLSPort recognises the 400 answers of a TLS port to plain HTTP: nginx's
// "The plain HTTP request was sent to HTTPS port" and Go's "Client sent an HTTP request
// to an HTTPS server".
func plainHTTPToTLSPort(body string) bool {
	b := strings.ToLower(body)
	return strings.Contains(b, "plain http request was sent to https port") ||
		strings.Contains(b, "http request to an https server")
}

// wsPeer reads one websocket in the background.
type wsPeer struct {
	conn   *websocket.Conn
	msgs   chan map[string]any
	pongs  chan time.Time
	pings  atomic.Int32 // pings received from the server (answered with pongs)
	done   chan struct{}
	err    error // set before done closes
	endAt  time.Time
	wmu    sync.Mutex
	closer sync.Once
}

func newWSPeer(c *websocket.Conn) *wsPeer {
	p := &wsPeer{conn: c, msgs: make(chan map[string]any, 64), pongs: make(chan time.Time, 64), done: make(chan struct{})}
	c.SetPongHandler(func(string) error {
		select {
		case p.pongs <- time.Now():
		default:
		}
		return nil
	})
	c.SetPingHandler(func(data string) error {
		p.pings.Add(1)
		// Answer like gorilla's default handler.
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		var ne net.Error
		if err == websocket.ErrCloseSent || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return err
	})
	go func() {
		defer close(p.done)
		for {
			typ, data, err := c.ReadMessage()
			if err != nil {
				p.err, p.endAt = err, time.Now()
				return
			}
			if typ != websocket.TextMessage {
				continue
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			select {
			case p.msgs <- m:
			default:
			}
		}
	}()
	return p
}

func (p *wsPeer) sendJSON(v any) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return p.conn.WriteJSON(v)
}

func (p *wsPeer) ping() error {
	return p.conn.WriteControl(websocket.PingMessage, []byte("rtcctl"), time.Now().Add(2*time.Second))
}

// close sends a close frame and waits (bounded) for the reader to end.
func (p *wsPeer) close() {
	p.closer.Do(func() {
		_ = p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		select {
		case <-p.done:
		case <-time.After(time.Second):
		}
		_ = p.conn.Close()
		<-p.done
	})
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// join runs the join round trip: a joins, a ping/pong proves the server processed it, then
// b joins; b must get resp-join and a new-peer.
func (r *signalRun) join(ctx context.Context, a *wsPeer) {
	defer a.close()
	start := time.Now()
	jctx, cancel := context.WithTimeout(ctx, SignalJoinTimeout)
	defer cancel()
	room := r.opts.Room
	if room == "" {
		room = randomID("rtcctl-probe-")
	}
	res := &JoinResult{Room: room}
	r.rep.Join = res
	c := Check{Name: "join"}
	fail := func(detail, fix string) {
		r.rep.Outcome = "join-failed"
		c.Elapsed, c.Detail, c.Fix = Millis(time.Since(start)), detail, fix
		r.check(c)
	}
	uidA, uidB := randomID("probe-a-"), randomID("probe-b-")
	if err := a.sendJSON(map[string]string{"cmd": "join", "roomId": room, "uid": uidA}); err != nil {
		fail("cannot send join: "+err.Error(), "")
		return
	}
	// A pong after the join means the server has read the join (frames are handled in order).
	if err := a.ping(); err == nil {
		select {
		case <-a.pongs:
		case <-a.done:
			fail("the server closed the connection after join: "+closeText(a.err), "the server rejects the join message: look at its log")
			return
		case <-jctx.Done():
			r.warn("no pong to a WebSocket ping: the server or proxy does not answer pings (keepalive by ping will not work)")
		}
	}
	ws, _, err := r.dialer(nil).DialContext(jctx, r.u.String(), r.header())
	if err != nil {
		fail("second socket: "+err.Error(), "the server accepted one websocket but not a second one")
		return
	}
	b := newWSPeer(ws)
	defer b.close()
	sent := time.Now()
	if err := b.sendJSON(map[string]string{"cmd": "join", "roomId": room, "uid": uidB}); err != nil {
		fail("second socket cannot send join: "+err.Error(), "")
		return
	}
	roomFull := func(m map[string]any) bool {
		if m["cmd"] != "full" {
			return false
		}
		fix := "choose another --room, or leave --room out (a fresh random room is used)"
		if r.opts.Room == "" {
			fix = "the server calls a fresh random room full: check its room limit and whether stale members pile up (the original server never deletes them)"
		}
		fail(fmt.Sprintf("room %q is full: the server answered {\"cmd\":\"full\"} (rooms hold two people)", room), fix)
		return true
	}
	serverError := func(m map[string]any) bool {
		if m["cmd"] != "error" {
			return false
		}
		fail(fmt.Sprintf("the server answered the join with an error: code %v %v", m["code"], m["reason"]), "look at the server's log; the probe sends {\"cmd\":\"join\",\"roomId\":\"...\",\"uid\":\"...\"} with string ids")
		return true
	}
	for !(res.RespJoin && res.NewPeer) {
		select {
		case m := <-a.msgs:
			if roomFull(m) || serverError(m) {
				return
			}
			switch m["cmd"] {
			case "new-peer":
				res.NewPeer = m["remoteUid"] == uidB
			case "resp-join": // the server handled b first after all
				res.NewPeer = m["remoteUid"] == uidB
			default:
				res.Unexpected = append(res.Unexpected, fmt.Sprint(m["cmd"]))
			}
		case m := <-b.msgs:
			if roomFull(m) || serverError(m) {
				return
			}
			switch m["cmd"] {
			case "resp-join", "new-peer":
				res.RespJoin = m["remoteUid"] == uidA
			default:
				res.Unexpected = append(res.Unexpected, fmt.Sprint(m["cmd"]))
			}
		case <-a.done:
			fail("the server closed the first socket during the join: "+closeText(a.err), "look at the server's log (the original Node server dies on malformed JSON)")
			return
		case <-b.done:
			fail("the server closed the second socket during the join: "+closeText(b.err), "look at the server's log")
			return
		case <-jctx.Done():
			missing := []string{}
			if !res.RespJoin {
				missing = append(missing, "resp-join to the second socket")
			}
			if !res.NewPeer {
				missing = append(missing, "new-peer to the first")
			}
			detail := "no " + strings.Join(missing, " and no ") + fmt.Sprintf(" within %s", SignalJoinTimeout)
			if len(res.Unexpected) > 0 {
				detail += " (got: " + strings.Join(res.Unexpected, ", ") + ")"
			}
			fail(detail, "this is not the room-signaling server (or it expects another join format: roomId/uid strings), or the room is full")
			return
		}
	}
	res.RTT = Millis(time.Since(sent))
	_ = a.sendJSON(map[string]string{"cmd": "leave", "roomId": room, "uid": uidA})
	_ = b.sendJSON(map[string]string{"cmd": "leave", "roomId": room, "uid": uidB})
	c.OK = true
	c.Elapsed = Millis(time.Since(start))
	c.Detail = fmt.Sprintf("room %q: resp-join and new-peer in %s", room, res.RTT)
	r.check(c)
}

func closeText(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close code %d %s", ce.Code, ce.Text)
	}
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// idle keeps a fresh socket open without traffic (or with keepalive pings) for
// opts.Idle, and returns the result with its row (named "idle"). It only reads r, so two
// can run at once.
func (r *signalRun) idle(ctx context.Context, keepalive bool) (*IdleResult, Check) {
	res := &IdleResult{Duration: Millis(r.opts.Idle), Keepalive: keepalive}
	c := Check{Name: "idle"}
	ws, _, err := r.dialer(nil).DialContext(ctx, r.u.String(), r.header())
	if err != nil {
		c.Detail = "cannot open the idle socket: " + err.Error()
		return res, c
	}
	p := newWSPeer(ws)
	defer p.close()
	start := time.Now()
	end := time.NewTimer(r.opts.Idle)
	defer end.Stop()
	var tick <-chan time.Time
	if keepalive {
		t := time.NewTicker(r.opts.KeepaliveInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			_ = p.ping()
		case <-p.pongs:
			res.Pongs++
		case <-p.done:
			res.ServerPings = int(p.pings.Load())
			res.CutAfter = Millis(p.endAt.Sub(start))
			var ce *websocket.CloseError
			if errors.As(p.err, &ce) {
				res.CloseCode = ce.Code
			}
			c.Elapsed = res.CutAfter
			c.Detail = fmt.Sprintf("the connection was cut after %s idle (%s)", res.CutAfter, closeText(p.err))
			if keepalive {
				c.Detail = fmt.Sprintf("the connection was cut after %s even with a ping every %s (%s)", res.CutAfter, r.opts.KeepaliveInterval, closeText(p.err))
				c.Fix = "the proxy timeout is shorter than the keepalive interval, or it does not pass pings: raise nginx proxy_read_timeout"
			} else {
				c.Fix = fmt.Sprintf("a proxy (nginx proxy_read_timeout, default 60s) or the server itself (an idle timeout) cuts idle websockets after about %s: have clients send a keepalive every 5s, or raise proxy_read_timeout (e.g. 3600s) in the /ws location", roundDur(res.CutAfter.D()).Round(100*time.Millisecond))
			}
			return res, c
		case <-end.C:
			res.ServerPings = int(p.pings.Load())
			res.Survived = true
			c.OK = true
			c.Elapsed = Millis(time.Since(start))
			if keepalive {
				c.Detail = fmt.Sprintf("survived %s with a ping every %s (%d pongs)", r.opts.Idle, r.opts.KeepaliveInterval, res.Pongs)
			} else {
				c.Detail = fmt.Sprintf("survived %s without any traffic", r.opts.Idle)
				if res.ServerPings > 0 {
					c.Detail = fmt.Sprintf("survived %s sending nothing but pongs: the server sent %d ping(s), which also keep a proxy's read timeout from expiring", r.opts.Idle, res.ServerPings)
				}
			}
			return res, c
		case <-ctx.Done():
			res.ServerPings = int(p.pings.Load())
			c.Elapsed = Millis(time.Since(start))
			c.Detail = fmt.Sprintf("the probe deadline ended the idle test after %s (the connection was still open)", roundDur(time.Since(start)))
			if errors.Is(ctx.Err(), context.Canceled) {
				c.Detail = fmt.Sprintf("interrupted after %s of the %s idle test (the connection was still open)", roundDur(time.Since(start)), r.opts.Idle)
			}
			return res, c
		}
	}
}
