package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rtcctl/rtcctl/internal/turncred"
)

// Deadlines of the TURN probe: one per stage for each URL, and one for the whole call.
// TestTURNDeadlinesConsistent checks that the stages of one URL fit in TURNReportTimeout.
const (
	// TURNReportTimeout bounds the whole probe (all URLs run concurrently).
	TURNReportTimeout = 25 * time.Second
	// TURNConnectTimeout covers DNS, the TCP connect and the TLS handshake.
	TURNConnectTimeout = 3 * time.Second
	// TURNChallengeTimeout bounds the unauthenticated Allocate (UDP retransmits inside).
	TURNChallengeTimeout = 2500 * time.Millisecond
	// TURNBindingTimeout bounds the Binding request sent when Allocate got no answer, to
	// tell a STUN-only server from a silent port.
	TURNBindingTimeout = time.Second
	// TURNAllocateTimeout bounds the authenticated Allocate.
	TURNAllocateTimeout = 2 * time.Second
	// TURNRelayTimeout covers the second allocation, the permissions, the relayed packets
	// and the deallocation.
	TURNRelayTimeout = 4 * time.Second
	// TURNGatherTimeout bounds candidate gathering by a pion PeerConnection.
	TURNGatherTimeout = 4 * time.Second
	// TURNCallTimeout bounds the relay-only loopback call.
	TURNCallTimeout = 6 * time.Second
	// turnDeallocTimeout bounds the best-effort Refresh(0) at the end.
	turnDeallocTimeout = 300 * time.Millisecond
)

// DefaultRelayPackets is how many packets go through the relay when TURNOptions.Packets is 0.
const DefaultRelayPackets = 50

// DefaultRESTTTL is the lifetime of generated REST credentials when TURNOptions.RESTTTL is 0.
const DefaultRESTTTL = time.Hour

// TURNOptions configure a TURN probe. Zero values say what they mean.
type TURNOptions struct {
	// URLs are turn: or turns: URIs (RFC 7065), probed concurrently.
	URLs []string
	// Username and Password are long-term credentials (static user, or a REST username
	// "expiry:user" with its password).
	Username, Password string
	// Secret, when set, makes REST credentials (coturn use-auth-secret) for RESTUser
	// ("rtcctl" when empty) valid for RESTTTL (DefaultRESTTTL when zero).
	Secret   string
	RESTUser string
	RESTTTL  time.Duration
	// Packets is how many packets to relay (DefaultRelayPackets when 0; negative skips).
	Packets int
	// NoGather skips candidate gathering with a pion PeerConnection.
	NoGather bool
	// NoCall skips the relay-only loopback call.
	NoCall bool
	// TLS says which certificates turns: servers may present.
	TLS TLSOptions
	// Timeout bounds the whole probe (TURNReportTimeout when zero).
	Timeout time.Duration
	// Now is the clock for REST credentials (time.Now when nil).
	Now func() time.Time
	// Logf receives debug lines, pion's warnings included (nil discards them).
	Logf func(format string, args ...any)
	// OnCandidate, when set, is called as each gathered candidate arrives (from several
	// goroutines when several URLs are probed; the callee serialises).
	OnCandidate func(url string, c Candidate)
	// OnGatheringDone, when set, is called once per URL when its candidate gathering ends:
	// complete (the null candidate, after elapsed) or cut by TURNGatherTimeout. Like
	// OnCandidate it may be called from several goroutines.
	OnGatheringDone func(url string, elapsed Millis, complete bool)
}

// TURNReport is the result of a TURN probe.
type TURNReport struct {
	// Started is when the probe began.
	Started time.Time `json:"started"`
	// Elapsed is how long it took.
	Elapsed Millis `json:"elapsed_ms"`
	// Username is the TURN username used (never the password or secret).
	Username string `json:"username,omitempty"`
	// REST is true when the credential is a TURN REST one.
	REST bool `json:"rest,omitempty"`
	// Servers holds one report per URL, in the order given.
	Servers []*TURNServerReport `json:"servers"`
	// Warnings span several servers (e.g. UDP works but TCP does not).
	Warnings []string `json:"warnings,omitempty"`
	// Interrupted is true when the caller cancelled the probe (Ctrl-C) before it finished:
	// failed rows may only have been cut short.
	Interrupted bool `json:"interrupted,omitempty"`
	// OK is true when every check of every server passed.
	OK bool `json:"ok"`
}

// TURNServerReport is what one TURN URL showed.
type TURNServerReport struct {
	// URL is the URL as given; Server its parsed form (nil when it did not parse).
	URL    string     `json:"url"`
	Server *ServerURL `json:"server,omitempty"`
	// Address is the resolved ip:port that was probed.
	Address string `json:"address,omitempty"`
	// Outcome classifies reachability: "ok", "timeout", "refused", "tls-failed",
	// "dns-failed", "error-response", "bad-url", or "not-turn" (the server answers, but not
	// as a TURN server: a STUN-only server, or a TCP port that closes, answers in HTTP or
	// never answers Allocate).
	Outcome string `json:"outcome"`
	// Checks are the pass/fail rows, in stage order.
	Checks []Check `json:"checks"`
	// TLS is the handshake of a turns: URL.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Challenge is the unauthenticated Allocate exchange.
	Challenge *Challenge `json:"challenge,omitempty"`
	// Allocation is the authenticated Allocate result.
	Allocation *Allocation `json:"allocation,omitempty"`
	// Relay is the relayed packet test.
	Relay *RelayStats `json:"relay,omitempty"`
	// Gathering lists the candidates a PeerConnection gathered with only this server.
	Gathering *Gathering `json:"gathering,omitempty"`
	// Call is the relay-only loopback call.
	Call *CallResult `json:"call,omitempty"`
	// Warnings are problems that did not fail a check.
	Warnings []string `json:"warnings,omitempty"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
}

// Challenge is the answer to an Allocate without credentials.
type Challenge struct {
	// Code is the error code (401 expected; 0 when the server allocated without auth).
	Code     int    `json:"code"`
	Reason   string `json:"reason,omitempty"`
	Realm    string `json:"realm,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	Software string `json:"software,omitempty"`
	RTT      Millis `json:"rtt_ms"`
}

// Allocation is the authenticated Allocate result.
type Allocation struct {
	// Relayed is the relayed transport address (XOR-RELAYED-ADDRESS).
	Relayed string `json:"relayed,omitempty"`
	// Mapped is this client's address as the server saw it (XOR-MAPPED-ADDRESS).
	Mapped string `json:"mapped,omitempty"`
	// LifetimeSec is the allocation lifetime the server granted, in seconds.
	LifetimeSec int    `json:"lifetime_s,omitempty"`
	RTT         Millis `json:"rtt_ms"`
	// Error is the error response, when there was one.
	Error *STUNError `json:"error,omitempty"`
	// Meaning explains Error.
	Meaning string `json:"meaning,omitempty"`
}

// TURN probes each URL: connect, the 401 challenge, an authenticated allocation, packets
// through the relay, candidate gathering and a relay-only loopback call. It never returns
// nil; a failing server is a report row, not an error.
func TURN(ctx context.Context, opts TURNOptions) *TURNReport {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = TURNReportTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Packets == 0 {
		opts.Packets = DefaultRelayPackets
	}
	rep := &TURNReport{Started: time.Now()}
	cred := resolveCredentials(opts)
	rep.Username, rep.REST = cred.username, cred.rest

	rep.Servers = make([]*TURNServerReport, len(opts.URLs))
	var g errgroup.Group
	for i, raw := range opts.URLs {
		g.Go(func() error {
			rep.Servers[i] = probeTURNServer(ctx, raw, opts, cred)
			return nil
		})
	}
	_ = g.Wait()
	if len(opts.URLs) == 0 {
		rep.Warnings = append(rep.Warnings, ErrNoURLs.Error())
	}
	rep.Warnings = append(rep.Warnings, cred.warnings...)
	rep.Warnings = append(rep.Warnings, crossTransportWarnings(rep.Servers)...)
	rep.OK = len(opts.URLs) > 0
	for _, s := range rep.Servers {
		rep.OK = rep.OK && s.OK
	}
	rep.Elapsed = Millis(time.Since(rep.Started))
	markInterrupted(parent, &rep.Interrupted, &rep.OK, &rep.Warnings, rep.Elapsed)
	return rep
}

type credentials struct {
	username, password string
	rest               bool
	warnings           []string
}

func resolveCredentials(opts TURNOptions) credentials {
	if opts.Secret != "" {
		user := opts.RESTUser
		if user == "" {
			user = "rtcctl"
		}
		ttl := opts.RESTTTL
		if ttl == 0 {
			ttl = DefaultRESTTTL
		}
		u, p := turncred.Generate(opts.Secret, user, ttl, opts.Now())
		c := credentials{username: u, password: p, rest: true}
		if err := turncred.Valid(u, time.Now()); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("the generated REST credential %q is already expired by this machine's clock (%v)", u, err))
		}
		return c
	}
	c := credentials{username: opts.Username, password: opts.Password}
	if turncred.IsRESTUsername(opts.Username) {
		c.rest = true
		if err := turncred.Valid(opts.Username, opts.Now()); err != nil {
			c.warnings = append(c.warnings, fmt.Sprintf("REST username %q: %v by this machine's clock; get a fresh credential (or check the clock: `date -u`)", opts.Username, err))
		}
	}
	return c
}

// turnRun carries one URL's probe state.
type turnRun struct {
	// openRelay is set when the server allocated without credentials.
	openRelay bool
	opts      TURNOptions
	cred      credentials
	rep       *TURNServerReport
	u         ServerURL
	ip        net.IP
}

func (r *turnRun) check(c Check) { r.rep.Checks = append(r.rep.Checks, c) }
func (r *turnRun) warn(f string, a ...any) {
	r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf(f, a...))
}

func (r *turnRun) logf(format string, args ...any) {
	if r.opts.Logf != nil {
		r.opts.Logf("%s: "+format, append([]any{r.rep.URL}, args...)...)
	}
}

func probeTURNServer(ctx context.Context, raw string, opts TURNOptions, cred credentials) *TURNServerReport {
	r := &turnRun{opts: opts, cred: cred, rep: &TURNServerReport{URL: raw}}
	r.run(ctx)
	r.rep.OK = allOK(r.rep.Checks)
	if r.rep.Outcome == "" {
		r.rep.Outcome = "ok"
	}
	return r.rep
}

func (r *turnRun) run(ctx context.Context) {
	u, err := ParseServerURL(raw(r.rep.URL))
	if err == nil && u.Scheme != "turn" && u.Scheme != "turns" {
		err = fmt.Errorf("%w: %q is a %s: URL; probe-turn needs turn: or turns:", ErrBadURL, r.rep.URL, u.Scheme)
	}
	if err != nil {
		r.rep.Outcome = "bad-url"
		r.check(Check{Name: "url", Detail: err.Error(), Fix: "write turn:HOST[:PORT]?transport=udp|tcp or turns:HOST[:PORT]?transport=tcp"})
		return
	}
	r.u = u
	r.rep.Server = &u

	s, ok := r.connectAndChallenge(ctx)
	if !ok {
		return
	}
	defer s.c.Close()
	if !r.authAllocate(ctx, s) {
		return
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), turnDeallocTimeout)
		s.deallocate(dctx)
		cancel()
	}()
	relayOK := true
	if r.opts.Packets > 0 {
		relayOK = r.relayTest(ctx, s)
	}
	if !r.opts.NoGather {
		r.gather(ctx)
	}
	if !r.opts.NoCall {
		if relayOK {
			r.call(ctx)
		} else {
			r.check(Check{Name: "call", Skipped: true, Detail: "skipped: relaying failed above, so a call cannot relay either"})
		}
	}
}

func raw(s string) string { return strings.TrimSpace(s) }

// dial opens a connection to the server: a connected UDP socket, a TCP connection, or TLS
// over TCP. For TLS it returns the handshake info even when verification failed.
func (r *turnRun) dial(ctx context.Context) (net.Conn, *TLSInfo, error) {
	addr := &net.TCPAddr{IP: r.ip, Port: r.u.Port}
	if r.u.Transport == "udp" {
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: r.ip, Port: r.u.Port})
		if err != nil {
			return nil, nil, fmt.Errorf("udp socket: %w", err)
		}
		return c, nil, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, nil, classifyNetErr(err)
	}
	if !r.u.Secure() {
		return c, nil, nil
	}
	tc, info, err := tlsHandshake(ctx, c, r.u.Host, r.opts.TLS, nil)
	if err != nil {
		_ = c.Close()
		return nil, info, err
	}
	return tc, info, nil
}

// resolve looks the host up, preferring IPv4.
func resolve(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no addresses for %s", ErrProtocol, host)
	}
	return addrs[0].IP, nil
}

// connectAndChallenge resolves, connects and runs the unauthenticated Allocate.
func (r *turnRun) connectAndChallenge(ctx context.Context) (*turnSession, bool) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, TURNConnectTimeout)
	defer cancel()
	ip, err := resolve(cctx, r.u.Host)
	if err != nil {
		r.rep.Outcome = "dns-failed"
		r.check(Check{Name: "dns", Elapsed: Millis(time.Since(start)), Detail: fmt.Sprintf("cannot resolve %s: %v", r.u.Host, err),
			Fix: "check the host name and this machine's DNS (`getent hosts " + r.u.Host + "`)"})
		return nil, false
	}
	r.ip = ip
	r.rep.Address = net.JoinHostPort(ip.String(), fmt.Sprint(r.u.Port))
	conn, info, err := r.dial(cctx)
	r.rep.TLS = info
	if err != nil {
		r.connectFailed(start, err)
		return nil, false
	}
	if r.u.Transport == "tcp" {
		r.check(Check{Name: "connect", OK: true, Elapsed: Millis(time.Since(start)),
			Detail: "TCP connection to " + r.rep.Address + " established"})
	}
	if info != nil {
		c := Check{Name: "tls", OK: info.Verified, Elapsed: Millis(time.Since(start)),
			Detail: fmt.Sprintf("%s, certificate %s", info.Version, leafSummary(info))}
		if !info.Verified {
			c.Detail += ": " + problemText(info)
			c.Fix = tlsFix(info, "--ca-file")
			if r.opts.TLS.Insecure {
				c.OK, c.Skipped = true, false
				c.Detail += " (accepted: --insecure)"
				c.Fix = ""
				r.warn("TLS certificate not verified (%s); browsers will refuse it", info.Problem)
			}
		}
		r.check(c)
	}

	s := &turnSession{c: newSTUNConn(conn, r.u.Transport != "udp"), username: r.cred.username, password: r.cred.password}
	chStart := time.Now()
	hctx, hcancel := context.WithTimeout(ctx, TURNChallengeTimeout)
	defer hcancel()
	ch, err := s.challenge(hctx)
	if err != nil {
		r.challengeFailed(ctx, s, chStart, err)
		s.c.Close()
		return nil, false
	}
	if r.u.Transport == "udp" {
		r.check(Check{Name: "connect", OK: true, Elapsed: Millis(ch.rtt),
			Detail: "the server answers over UDP at " + r.rep.Address})
	}
	var sw stunSoftware
	r.rep.Challenge = &Challenge{Realm: s.realm, Nonce: s.nonce, RTT: Millis(ch.rtt), Software: sw.from(ch.msg)}
	if se, isErr := errorResponse(ch.msg); isErr {
		r.rep.Challenge.Code, r.rep.Challenge.Reason = se.Code, se.Reason
	}
	c := Check{Name: "challenge", Elapsed: Millis(time.Since(chStart))}
	switch {
	case r.rep.Challenge.Code == 401 && s.realm != "" && s.nonce != "":
		c.OK = true
		c.Detail = fmt.Sprintf("401 Unauthorized with realm %q and a nonce, as expected", s.realm)
	case r.rep.Challenge.Code == 0:
		c.OK = true
		c.Detail = "the server allocated WITHOUT credentials"
		r.warn("open relay: the server allocates without authentication, so anyone can relay through it; enable long-term credentials (coturn lt-cred-mech or use-auth-secret)")
		r.openRelay = true
		if err := s.readAllocation(ch.msg); err == nil {
			r.rep.Allocation = &Allocation{Relayed: s.relayed.String(), LifetimeSec: int(s.lifetime / time.Second), RTT: Millis(ch.rtt)}
			if s.mapped != nil {
				r.rep.Allocation.Mapped = s.mapped.String()
			}
			dctx, dcancel := context.WithTimeout(ctx, turnDeallocTimeout)
			s.deallocateNoAuth(dctx)
			dcancel()
			s.relayed = nil
		}
	case r.rep.Challenge.Code == 401:
		c.Detail = "401 without REALM or NONCE"
		c.Fix = "the server is not a compliant TURN server (long-term credentials need REALM and NONCE)"
	default:
		meaning, fix := codeMeaning("Allocate", r.rep.Challenge.Code, r.cred.rest)
		c.Detail = fmt.Sprintf("unauthenticated Allocate got %d %s (%s)", r.rep.Challenge.Code, r.rep.Challenge.Reason, meaning)
		c.Fix = fix
		r.rep.Outcome = "error-response"
	}
	r.check(c)
	if !c.OK {
		s.c.Close()
		return nil, false
	}
	return s, true
}

func leafSummary(info *TLSInfo) string {
	if len(info.Chain) == 0 {
		return "(none)"
	}
	l := info.Chain[0]
	names := append(append([]string(nil), l.DNSNames...), l.IPs...)
	s := fmt.Sprintf("subject %q issuer %q SANs [%s] expires %s", l.Subject, l.Issuer, strings.Join(names, ", "), l.NotAfter.UTC().Format("2006-01-02"))
	if l.SelfSigned && (info.Verified || !strings.Contains(problemText(info), "self-signed")) {
		s += " (self-signed)" // otherwise the problem text after it says so
	}
	return s
}

func (r *turnRun) connectFailed(start time.Time, err error) {
	c := Check{Name: "connect", Elapsed: Millis(time.Since(start))}
	switch {
	case r.rep.TLS != nil && r.rep.TLS.Problem == "handshake":
		r.rep.Outcome = "tls-failed"
		c.Name = "tls"
		c.Detail = "TCP connected, but the TLS handshake failed: " + r.rep.TLS.Error
		c.Fix = tlsFix(r.rep.TLS, "--ca-file")
	case errors.Is(err, ErrRefused):
		r.rep.Outcome = "refused"
		c.Detail = fmt.Sprintf("TCP connection to %s refused: nothing listens on that port", r.rep.Address)
		c.Fix = "start the TURN server or fix the port (coturn listening-port, default 3478; tls-listening-port 5349)"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		r.rep.Outcome = "timeout"
		c.Detail = fmt.Sprintf("TCP connect to %s timed out after %s: a firewall drops the packets or the host is down", r.rep.Address, roundDur(time.Since(start)))
		c.Fix = "open the port in the server's firewall / cloud security group"
	default:
		r.rep.Outcome = "refused"
		c.Detail = "cannot connect: " + err.Error()
		c.Fix = "check the address and that the server runs"
	}
	r.check(c)
}

// challengeFailed explains a missing answer to the first Allocate.
func (r *turnRun) challengeFailed(ctx context.Context, s *turnSession, start time.Time, err error) {
	c := Check{Name: "connect", Elapsed: Millis(time.Since(start))}
	if r.u.Transport != "udp" {
		c.Name = "challenge"
	}
	switch {
	case errors.Is(err, ErrRefused):
		r.rep.Outcome = "refused"
		c.Detail = fmt.Sprintf("ICMP port unreachable from %s: nothing listens on UDP port %d", r.rep.Address, r.u.Port)
		c.Fix = "start the TURN server or fix the port (coturn listening-port, default 3478)"
	case errors.Is(err, errHTTPAnswer):
		r.rep.Outcome = "not-turn"
		c.Detail = "Allocate got an HTTP answer: a web server or proxy listens on this port, not a TURN server"
		c.Fix = "use the TURN server's port (coturn listening-port 3478, tls-listening-port 5349); if TURN shares 443 with a web server, the multiplexer in front sends this client to the web server"
	case errors.Is(err, ErrClosed), errors.Is(err, ErrProtocol):
		r.rep.Outcome = "not-turn" // it accepted the connection: reachable, but no TURN server
		c.Detail = "the server closed the connection instead of answering Allocate: " + err.Error()
		if errors.Is(err, ErrProtocol) {
			c.Detail = "the server answered Allocate with something that is not STUN: " + err.Error()
		}
		c.Fix = "this port is not a TURN server (or it rejects this client)"
	case errors.Is(err, ErrTimeout):
		r.rep.Outcome = "timeout"
		// Does it at least answer a Binding request? Then it is a STUN-only server.
		bctx, cancel := context.WithTimeout(ctx, TURNBindingTimeout)
		mapped, berr := stunBinding(bctx, s.c)
		cancel()
		if berr == nil {
			r.rep.Outcome = "not-turn"
			c.Detail = fmt.Sprintf("no answer to Allocate in %s, but the server answers STUN Binding (sees us as %s): a STUN-only server", roundDur(time.Since(start)), mapped)
			c.Fix = "this is not a TURN server (coturn with stun-only / -S, or a public STUN server): use a TURN server's URL"
		} else if r.u.Transport == "udp" {
			c.Detail = fmt.Sprintf("no answer over UDP from %s in %s: UDP is blocked on the way or no server listens there", r.rep.Address, roundDur(time.Since(start)))
			c.Fix = "open UDP " + fmt.Sprint(r.u.Port) + " in the server's firewall / security group and check the server runs; try ?transport=tcp to tell a UDP block from a dead server"
		} else {
			r.rep.Outcome = "not-turn"
			c.Detail = fmt.Sprintf("connected, but no answer to Allocate in %s", roundDur(time.Since(start)))
			c.Fix = "this port accepts connections but is not a TURN server (a proxy or another service?)"
		}
	default:
		r.rep.Outcome = "refused"
		c.Detail = "Allocate failed: " + err.Error()
		c.Fix = "check the server"
	}
	r.check(c)
}

// authAllocate runs the authenticated Allocate.
func (r *turnRun) authAllocate(ctx context.Context, s *turnSession) bool {
	if r.openRelay {
		// The probe measures authenticated relays only (browsers always send credentials,
		// and pion's client cannot use a server that never challenges).
		c := Check{Name: "allocate", OK: r.rep.Allocation != nil, Detail: "allocated without credentials"}
		if r.rep.Allocation != nil {
			c.Detail += ": relayed address " + r.rep.Allocation.Relayed
		}
		r.check(c)
		r.check(Check{Name: "relay", Skipped: true, Detail: "skipped: an open relay (see the warning)"})
		return false
	}
	start := time.Now()
	c := Check{Name: "allocate"}
	if r.cred.username == "" {
		c.Detail = "no credentials given"
		c.Fix = "pass a user and password (--user/--pass) or the REST secret (--secret)"
		r.check(c)
		return false
	}
	actx, cancel := context.WithTimeout(ctx, TURNAllocateTimeout)
	defer cancel()
	rtt, err := s.allocate(actx)
	c.Elapsed = Millis(time.Since(start))
	al := &Allocation{RTT: Millis(rtt)}
	r.rep.Allocation = al
	if err != nil {
		if se, ok := asSTUNError(err); ok {
			r.rep.Outcome = "error-response"
			meaning, fix := codeMeaning("Allocate", se.Code, r.cred.rest)
			al.Error, al.Meaning = se, meaning
			c.Detail = fmt.Sprintf("Allocate as %q: %d %s", r.cred.username, se.Code, meaning)
			c.Fix = fix
		} else {
			r.rep.Outcome = "timeout"
			c.Detail = "authenticated Allocate failed: " + err.Error()
			c.Fix = "the server answered the challenge but not the authenticated request: look at its log"
		}
		r.check(c)
		return false
	}
	al.Relayed = s.relayed.String()
	if s.mapped != nil {
		al.Mapped = s.mapped.String()
	}
	al.LifetimeSec = int(s.lifetime / time.Second)
	c.OK = true
	c.Detail = fmt.Sprintf("relayed address %s, lifetime %s", al.Relayed, s.lifetime)
	r.check(c)
	if w := relayedAddressWarning(r.ip, s.relayed.IP); w != "" {
		r.warn("%s", w)
	}
	return true
}

// relayedAddressWarning warns when a server reached at a public address hands out a
// private or loopback relayed address: coturn behind NAT without external-ip.
func relayedAddressWarning(server, relayed net.IP) string {
	if !isPublicIP(server) || isPublicIP(relayed) {
		return ""
	}
	return fmt.Sprintf("the relayed address %s is private/loopback while the server's address %s is public: peers cannot reach it; set coturn external-ip=%s (or external-ip=PUBLIC/PRIVATE)", relayed, server, server)
}

// isPublicIP reports whether ip is globally routable.
func isPublicIP(ip net.IP) bool {
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if ip4 := ip.To4(); ip4 != nil && ip4[0] == 100 && ip4[1]&0xC0 == 64 { // 100.64.0.0/10 CGNAT
		return false
	}
	return true
}

// crossTransportWarnings notices a host whose UDP URL works while TCP or TLS fails.
func crossTransportWarnings(servers []*TURNServerReport) []string {
	udpOK := map[string]bool{}
	for _, s := range servers {
		if s != nil && s.Server != nil && s.Server.Transport == "udp" && s.OK {
			udpOK[s.Server.Host] = true
		}
	}
	var out []string
	for _, s := range servers {
		if s == nil || s.Server == nil || s.Server.Transport == "udp" || s.OK || !udpOK[s.Server.Host] {
			continue
		}
		out = append(out, fmt.Sprintf("%s: UDP works but %s does not: clients behind firewalls that allow only TCP/443 will fail; open the %s port (%d) and check the listener", s.Server.Host, strings.ToUpper(s.Server.Proto()), s.Server.Proto(), s.Server.Port))
	}
	return out
}
