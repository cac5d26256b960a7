package probe

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

func TestSignalDeadlinesConsistent(t *testing.T) {
	sum := SignalDNSTimeout + SignalConnectTimeout + SignalTLSTimeout + SignalUpgradeTimeout + SignalJoinTimeout
	if sum > SignalReportTimeout {
		t.Errorf("stages sum to %s > SignalReportTimeout %s", sum, SignalReportTimeout)
	}
	if DefaultKeepaliveInterval >= 60*time.Second/2 {
		t.Errorf("the keepalive must beat nginx's default 60s proxy_read_timeout with margin")
	}
}

func sigCheck(t *testing.T, rep *SignalReport, name string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check: %s", name, dump(rep))
	return Check{}
}

func startServe(t *testing.T, tls bool) *serve.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// No server pings, like the original Node server: only then does an idle client send
	// nothing, which is what the idle test is about.
	s, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0", TLSSelfSigned: tls,
		Signal: signal.ServerConfig{PingInterval: -1}})
	if err != nil {
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(); cancel() })
	return s
}

func TestSignalServeTLSSelfSignedThenTrusted(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	untrusted := Signal(context.Background(), SignalOptions{URL: s.SignalURL()})
	c := sigCheck(t, untrusted, "tls")
	if untrusted.OK || c.OK || untrusted.TLS.Problem != "self-signed" || !strings.Contains(c.Fix, "--ca-file") {
		t.Errorf("self-signed not explained: %+v\n%s", c, dump(untrusted))
	}
	if j := sigCheck(t, untrusted, "join"); !j.OK {
		t.Errorf("the rest should still be probed: %+v", j)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	trusted := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), TLS: TLSOptions{RootCAs: pool}})
	if !trusted.OK || !trusted.TLS.Verified || !trusted.Join.RespJoin || !trusted.Join.NewPeer || trusted.Join.RTT <= 0 {
		t.Fatalf("trusted: %s", dump(trusted))
	}
	if trusted.Upgrade.Status != 101 {
		t.Errorf("upgrade status %d", trusted.Upgrade.Status)
	}
	t.Logf("join RTT %s, whole probe %s", trusted.Join.RTT, trusted.Elapsed)
}

func TestSignalPlainHTTPServerExplained(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		want   string
	}{
		{http.StatusNotFound, "wrong path"},
		{http.StatusOK, "not a websocket endpoint"},
		// A proxy that drops the Upgrade headers: the server behind it sees a plain GET.
		{http.StatusBadRequest, "plain HTTP request, not an upgrade"},
		{http.StatusUpgradeRequired, "plain HTTP request, not an upgrade"},
	}
	for _, tc := range cases {
		h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte("<html>hello</html>"))
		}))
		rep := Signal(context.Background(), SignalOptions{URL: "ws://" + h.Listener.Addr().String() + "/wss"})
		h.Close()
		c := sigCheck(t, rep, "upgrade")
		if rep.OK || c.OK || rep.Upgrade.Status != tc.status || !strings.Contains(c.Detail, tc.want) || c.Fix == "" ||
			(tc.status == http.StatusBadRequest || tc.status == http.StatusUpgradeRequired) != strings.Contains(c.Fix, "proxy_set_header Upgrade") {
			t.Errorf("status %d: %+v", tc.status, c)
		}
	}
}

func TestSignalNginxIdleCutVersusKeepalive(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	ng := testenv.StartNginxWSProxy(t, testenv.NginxOptions{
		Upstream: s.Addr().String(), ProxyReadTimeout: 3 * time.Second, TLS: true,
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ng.CACertPEM())
	base := SignalOptions{URL: ng.URL(), TLS: TLSOptions{RootCAs: pool}, Idle: 6 * time.Second}

	cut, kept := make(chan *SignalReport, 1), make(chan *SignalReport, 1)
	go func() { cut <- Signal(context.Background(), base) }()
	withPings := base
	withPings.Keepalive, withPings.KeepaliveInterval = true, time.Second
	go func() { kept <- Signal(context.Background(), withPings) }()

	r1 := <-cut
	if sigCheck(t, r1, "join").OK == false {
		t.Fatalf("join through nginx failed: %s\n%s", dump(r1), ng.Logs())
	}
	c := sigCheck(t, r1, "idle")
	if c.OK || r1.Idle.Survived || r1.Idle.CutAfter.D() < 2500*time.Millisecond || r1.Idle.CutAfter.D() > 5*time.Second {
		t.Errorf("without keepalive: want a cut after ~3s, got %+v %+v", c, r1.Idle)
	}
	if !strings.Contains(c.Fix, "proxy_read_timeout") {
		t.Errorf("fix does not name proxy_read_timeout: %q", c.Fix)
	}
	r2 := <-kept
	if c := sigCheck(t, r2, "idle"); !c.OK || !r2.Idle.Survived || r2.Idle.Pongs < 4 {
		t.Errorf("with keepalive: %+v %+v", c, r2.Idle)
	}
}

func TestSignalNginxWithoutUpgradeHeaders(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	ng := testenv.StartNginxWSProxy(t, testenv.NginxOptions{Upstream: s.Addr().String(), OmitUpgradeHeaders: true})
	rep := Signal(context.Background(), SignalOptions{URL: ng.URL()})
	c := sigCheck(t, rep, "upgrade")
	if rep.OK || !strings.Contains(c.Fix, "proxy_set_header Upgrade") || !strings.Contains(rep.Upgrade.Server, "nginx") {
		t.Errorf("missing Upgrade headers not explained: %+v %+v", c, rep.Upgrade)
	}
}

func TestSignalRefusedAndBadURL(t *testing.T) {
	t.Parallel()
	port := freeUDPTCPPort(t)
	rep := Signal(context.Background(), SignalOptions{URL: "ws://127.0.0.1:" + itoa(port) + "/ws"})
	if rep.Outcome != "refused" || !strings.Contains(sigCheck(t, rep, "connect").Detail, "refused") {
		t.Errorf("%s", dump(rep))
	}
	bad := Signal(context.Background(), SignalOptions{URL: "https://example.com/ws"})
	if bad.Outcome != "bad-url" || !strings.Contains(bad.Checks[0].Detail, "ws://") {
		t.Errorf("%s", dump(bad))
	}
	mixed := Signal(context.Background(), SignalOptions{URL: "ws://127.0.0.1:" + itoa(port) + "/ws", PageURL: "https://example.com/"})
	if c := sigCheck(t, mixed, "mixed-content"); c.OK || !strings.Contains(c.Fix, "wss://") {
		t.Errorf("mixed content: %+v", c)
	}
}

// TestSignalLegacyServer probes the stand-in of the original Node server (first joiner gets
// nothing, no pings of its own, any path): join and a short idle must pass.
func TestSignalLegacyServer(t *testing.T) {
	t.Parallel()
	l := signaltest.StartLegacy(t)
	rep := Signal(context.Background(), SignalOptions{URL: l.URL(), Idle: 300 * time.Millisecond})
	if !rep.OK || !rep.Join.RespJoin || !rep.Join.NewPeer || len(rep.Join.Unexpected) != 0 || !rep.Idle.Survived {
		t.Fatalf("%s", dump(rep))
	}
}

// TestSignalIdleBoth: IdleBoth idles a silent socket and a pinging one at the same time
// (the pair takes one idle period) and reports rows "idle" then "idle-keepalive".
func TestSignalIdleBoth(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	const idle = 600 * time.Millisecond
	rep := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), Idle: idle, IdleBoth: true, KeepaliveInterval: 100 * time.Millisecond})
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); !strings.HasSuffix(got, "join idle idle-keepalive") {
		t.Errorf("rows %q, want ... join idle idle-keepalive", got)
	}
	if !rep.OK || rep.Idle == nil || rep.IdleKeepalive == nil || !rep.Idle.Survived || !rep.IdleKeepalive.Survived ||
		rep.Idle.Keepalive || !rep.IdleKeepalive.Keepalive || rep.Idle.Pongs != 0 || rep.IdleKeepalive.Pongs < 3 {
		t.Fatalf("%s", dump(rep))
	}
	if rep.Elapsed.D() > idle+idle/2+time.Second {
		t.Errorf("the two idle tests took %s: they should run at once (%s each)", rep.Elapsed, idle)
	}
}

// TestSignalTLSAndPlainPortsMixedUp: ws:// to a TLS port and wss:// to a plain port must
// say which scheme to use, not blame the proxy's Upgrade headers or the certificate.
func TestSignalTLSAndPlainPortsMixedUp(t *testing.T) {
	t.Parallel()
	tlsSrv, plain := startServe(t, true), startServe(t, false)
	toTLS := Signal(context.Background(), SignalOptions{URL: "ws://" + tlsSrv.Addr().String() + "/ws"})
	c := sigCheck(t, toTLS, "upgrade")
	if toTLS.OK || !strings.Contains(c.Detail, "speaks TLS") || !strings.Contains(c.Fix, "wss://") || strings.Contains(c.Fix, "Upgrade") {
		t.Errorf("ws:// to a TLS port: %+v", c)
	}
	toPlain := Signal(context.Background(), SignalOptions{URL: "wss://" + plain.Addr().String() + "/ws"})
	c = sigCheck(t, toPlain, "tls")
	if toPlain.OK || !strings.Contains(c.Detail, "plain HTTP") || !strings.Contains(c.Fix, "ws://") {
		t.Errorf("wss:// to a plain port: %+v", c)
	}
}

// TestSignalIdleCountsServerPings: a server that pings keeps the socket busy; the idle row
// must say so instead of "without any traffic".
func TestSignalIdleCountsServerPings(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0",
		Signal: signal.ServerConfig{PingInterval: 100 * time.Millisecond}})
	if err != nil {
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(); cancel() })
	rep := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), Idle: time.Second})
	c := sigCheck(t, rep, "idle")
	if !rep.OK || rep.Idle.ServerPings < 2 || !strings.Contains(c.Detail, "ping") || strings.Contains(c.Detail, "without any traffic") {
		t.Errorf("server pings not reported: %+v\n%s", c, dump(rep))
	}
}

// TestSignalSelfSignedSaidOnce: the TLS row names the self-signed problem once.
func TestSignalSelfSignedSaidOnce(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	c := sigCheck(t, Signal(context.Background(), SignalOptions{URL: s.SignalURL()}), "tls")
	if c.OK || !strings.HasSuffix(c.Detail, ": self-signed") || strings.Contains(c.Detail, "(self-signed): self-signed") {
		t.Errorf("tls row %q", c.Detail)
	}
}

// TestSignalURLChecks: out-of-range ports and credentials are bad URLs, and a password in
// the URL never reaches the report.
func TestSignalURLChecks(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"ws://127.0.0.1:99999/ws", "ws://127.0.0.1:0/ws", "wss://h:x/ws", "ws://user:Pa55word@127.0.0.1/ws"} {
		if _, err := ParseSignalURL(raw); err == nil || strings.Contains(err.Error(), "Pa55word") {
			t.Errorf("%s: err %v", raw, err)
		}
	}
	rep := Signal(context.Background(), SignalOptions{URL: "ws://user:Pa55word@127.0.0.1:1/ws"})
	if rep.Outcome != "bad-url" || strings.Contains(dump(rep), "Pa55word") {
		t.Errorf("%s", dump(rep))
	}
}

// TestSignalFullRoomSaidAtOnce: probing a room that already holds two people must say
// "full" as soon as the server does, not time out blaming the server.
func TestSignalFullRoomSaidAtOnce(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	var first *signal.Client
	for _, uid := range []string{"x", "y"} {
		c, err := signal.Dial(context.Background(), signal.ClientConfig{URL: s.SignalURL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Join(signal.StringID("busy"), signal.StringID(uid)); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = c
		}
	}
	if _, err := first.WaitFor(context.Background(), 5*time.Second, signal.CmdNewPeer); err != nil {
		t.Fatalf("room not filled: %v", err)
	}
	start := time.Now()
	rep := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), Room: "busy"})
	c := sigCheck(t, rep, "join")
	if c.OK || !strings.Contains(c.Detail, "full") || !strings.Contains(c.Fix, "--room") {
		t.Errorf("full room: %+v", c)
	}
	if el := time.Since(start); el > SignalJoinTimeout/2 {
		t.Errorf("took %s: the full answer should end the wait", el)
	}
}

// TestSignalOriginFromPage: with --page the upgrade carries the page's origin (as a
// browser on that page would), and a 403 names the Origin that was refused. (serve lets
// its own origin through even with an allowlist, so the refused one is foreign.)
func TestSignalOriginFromPage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0",
		Signal: signal.ServerConfig{PingInterval: -1, AllowedOrigins: []string{"http://call.example.com"}}})
	if err != nil {
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(); cancel() })
	refused := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), Origin: "https://other.example"})
	c := sigCheck(t, refused, "upgrade")
	if refused.OK || refused.Upgrade.Status != 403 || !strings.Contains(c.Detail, `"https://other.example"`) || refused.Upgrade.Origin != "https://other.example" {
		t.Errorf("403 without the refused Origin: %+v %+v", c, refused.Upgrade)
	}
	fromPage := Signal(context.Background(), SignalOptions{URL: s.SignalURL(), PageURL: "http://call.example.com/room.html"})
	if !fromPage.OK || fromPage.Upgrade.Origin != "http://call.example.com" {
		t.Errorf("page origin not sent: %s", dump(fromPage))
	}
}

// TestSignalIdleInterrupted: cancelling the probe (Ctrl-C) during the idle test says so,
// instead of blaming a deadline.
func TestSignalIdleInterrupted(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	cctx, ccancel := context.WithCancel(context.Background())
	go func() { <-ctx.Done(); ccancel() }()
	start := time.Now()
	rep := Signal(cctx, SignalOptions{URL: s.SignalURL(), Idle: 30 * time.Second})
	c := sigCheck(t, rep, "idle")
	if c.OK || !strings.Contains(c.Detail, "interrupted") || !rep.Interrupted || rep.OK || time.Since(start) > 5*time.Second {
		t.Errorf("after %s: %+v", time.Since(start), c)
	}
}

// TestSignalFallsBackToTheNextAddress: a name whose first address refuses and whose second
// serves (IPv6-only listener, stale A record) connects like a browser would, and says so.
func TestSignalFallsBackToTheNextAddress(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	port := s.Addr().(*net.TCPAddr).Port
	// 127.0.0.2 has nothing on the port (refused); 127.0.0.1 serves.
	r := &signalRun{
		opts: SignalOptions{URL: "ws://call.test:" + itoa(port) + "/ws"},
		rep:  &SignalReport{Started: time.Now()},
		lookup: func(context.Context, string) ([]net.IP, error) {
			return []net.IP{net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.1")}, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.run(ctx)
	c := sigCheck(t, r.rep, "connect")
	if !c.OK || !strings.Contains(c.Detail, "refused first: 127.0.0.2") || !sigCheck(t, r.rep, "join").OK || len(r.rep.Warnings) == 0 {
		t.Errorf("%s", dump(r.rep))
	}
}

// reversedJoinServer speaks the room protocol but handles two joins of one room in the
// reverse order of arrival, as a loaded server may (the joins come on separate
// connections): it holds the first join until the second arrives, so the second joiner is
// the first member (it gets new-peer) and the first joiner gets resp-join.
func reversedJoinServer(t *testing.T) string {
	t.Helper()
	type joined struct {
		conn *websocket.Conn
		uid  any
	}
	var (
		mu   sync.Mutex
		held *joined
	)
	up := websocket.Upgrader{}
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			var m map[string]any
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			if m["cmd"] != "join" {
				continue
			}
			mu.Lock()
			if held == nil {
				held = &joined{conn: c, uid: m["uid"]}
				mu.Unlock()
				continue
			}
			first := held
			held = nil
			mu.Unlock()
			// This connection's join is handled first (room empty: no answer), then the
			// held one: the held joiner finds this one in the room.
			_ = first.conn.WriteJSON(map[string]any{"cmd": "resp-join", "remoteUid": m["uid"]})
			_ = c.WriteJSON(map[string]any{"cmd": "new-peer", "remoteUid": first.uid})
		}
	}))
	t.Cleanup(h.Close)
	return "ws://" + h.Listener.Addr().String() + "/ws"
}

// TestSignalJoinEitherOrder: the join round trip passes when the server takes the second
// connection's join first (then the second joiner gets new-peer and the first resp-join).
func TestSignalJoinEitherOrder(t *testing.T) {
	t.Parallel()
	rep := Signal(context.Background(), SignalOptions{URL: reversedJoinServer(t)})
	if c := sigCheck(t, rep, "join"); !c.OK || !rep.Join.RespJoin || !rep.Join.NewPeer || len(rep.Join.Unexpected) != 0 {
		t.Errorf("joins handled in reverse order: %+v\n%s", c, dump(rep))
	}
}

// TestSignalDNSFailureIsARow: a name that does not resolve ends the probe at the dns row
// with the fix, before any connection (the lookup is stubbed: no query leaves the machine).
func TestSignalDNSFailureIsARow(t *testing.T) {
	t.Parallel()
	r := &signalRun{
		opts: SignalOptions{URL: "wss://call.example.invalid:8098/ws"},
		rep:  &SignalReport{Started: time.Now()},
		lookup: func(context.Context, string) ([]net.IP, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "call.example.invalid", IsNotFound: true}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.run(ctx)
	c := sigCheck(t, r.rep, "dns")
	if r.rep.Outcome != "dns-failed" || c.OK || !strings.Contains(c.Detail, "no such host") || !strings.Contains(c.Fix, "getent hosts call.example.invalid") {
		t.Errorf("%s", dump(r.rep))
	}
	for _, later := range r.rep.Checks {
		if later.Name == "connect" || later.Name == "join" {
			t.Errorf("stage %q ran after the DNS failure", later.Name)
		}
	}
}
