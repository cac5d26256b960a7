package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/testenv"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logSink) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// start runs a server on ephemeral ports and closes it at cleanup.
func start(t *testing.T, cfg Config) (*Server, *logSink) {
	t.Helper()
	sink := &logSink{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Logf = sink.logf
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, sink
}

func httpClient(s *Server) *http.Client {
	tr := &http.Transport{}
	if pem := s.CACertPEM(); pem != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, s *Server, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := httpClient(s).Get(strings.TrimSuffix(s.HTTPURL(), "/") + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

type configJSON struct {
	ICEServers []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	} `json:"iceServers"`
	ICETransportPolicy string `json:"iceTransportPolicy"`
}

func getConfig(t *testing.T, s *Server, query string) configJSON {
	t.Helper()
	resp, body := get(t, s, "/config"+query)
	if resp.StatusCode != 200 {
		t.Fatalf("/config: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("/config content-type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("/config Cache-Control %q, want no-store", cc)
	}
	var c configJSON
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("/config body %s: %v", body, err)
	}
	return c
}

// turnCreds picks the TURN entry of a /config answer.
func turnCreds(t *testing.T, c configJSON) (urls []string, user, pass string) {
	t.Helper()
	for _, is := range c.ICEServers {
		if is.Username != "" {
			return is.URLs, is.Username, is.Credential
		}
	}
	t.Fatalf("no TURN entry with credentials in %+v", c)
	return nil, "", ""
}

// allocateUDP proves a credential works on the embedded TURN server with a real client.
func allocateUDP(t *testing.T, s *Server, user, pass string) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := s.TURN().Addr()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: s.TURN().Realm(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relay, err := cl.AllocateWithContext(ctx)
	if err != nil {
		return err
	}
	return relay.Close()
}

func TestHealthzConfigAndPage(t *testing.T) {
	t.Parallel()
	s, sink := start(t, Config{TURN: true})

	resp, body := get(t, s, "/healthz")
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	var h Stats
	if err := json.Unmarshal(body, &h); err != nil || h.Status != "ok" || h.TURN == nil {
		t.Fatalf("/healthz body %s (%v)", body, err)
	}

	c1 := getConfig(t, s, "")
	c2 := getConfig(t, s, "")
	if c1.ICETransportPolicy != "all" {
		t.Fatalf("iceTransportPolicy %q, want all", c1.ICETransportPolicy)
	}
	if len(c1.ICEServers) != 2 || len(c1.ICEServers[0].URLs) != 1 || !strings.HasPrefix(c1.ICEServers[0].URLs[0], "stun:127.0.0.1:") {
		t.Fatalf("iceServers %+v, want a stun entry then a turn entry", c1.ICEServers)
	}
	urls, u1, p1 := turnCreds(t, c1)
	_, u2, p2 := turnCreds(t, c2)
	want := s.TURNURLs()
	if len(urls) != 2 || urls[0] != want[0] || urls[1] != want[1] || !strings.HasSuffix(urls[0], "?transport=udp") {
		t.Fatalf("turn urls %v, want %v", urls, want)
	}
	if u1 == u2 || p1 == p2 {
		t.Fatalf("two /config requests gave the same credentials %q/%q", u1, u2)
	}
	for _, up := range [][2]string{{u1, p1}, {u2, p2}} {
		if err := allocateUDP(t, s, up[0], up[1]); err != nil {
			t.Fatalf("credential %q from /config refused by the TURN server: %v", up[0], err)
		}
	}
	if err := allocateUDP(t, s, u1, p2); err == nil {
		t.Fatal("mismatched username/password accepted")
	}
	if c := getConfig(t, s, "?relay=1"); c.ICETransportPolicy != "relay" {
		t.Fatalf("?relay=1 gave policy %q", c.ICETransportPolicy)
	}

	for path, ctype := range map[string]string{"/": "text/html; charset=utf-8", "/app.js": "application/javascript; charset=utf-8"} {
		resp, body := get(t, s, path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if path == "/" && (!strings.Contains(string(body), `id="joinBtn"`) || !strings.Contains(string(body), `src="app.js"`)) {
			t.Fatalf("page body lacks the join button or script:\n%s", body)
		}
		if path == "/app.js" && !strings.Contains(string(body), "window.rtcctl") {
			t.Fatal("app.js lacks window.rtcctl")
		}
	}
	if resp, _ := get(t, s, "/nope"); resp.StatusCode != 404 {
		t.Fatalf("GET /nope: %d", resp.StatusCode)
	}
	logs := sink.text()
	for _, secret := range []string{p1, p2, s.secret} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret or password appears in the logs:\n%s", logs)
		}
	}
}

func TestStaticTURNUserInConfig(t *testing.T) {
	t.Parallel()
	s, sink := start(t, Config{TURN: true, TURNConfig: turnserver.Config{Users: map[string]string{"zed": "pz", "demo": "pd"}}})
	_, u, p := turnCreds(t, getConfig(t, s, ""))
	if u != "demo" || p != "pd" {
		t.Fatalf("/config gave %q/%q, want the first static user demo", u, p)
	}
	if err := allocateUDP(t, s, u, p); err != nil {
		t.Fatal(err)
	}
	if in := s.Info(); in.TURNREST || len(in.TURNUsers) != 2 {
		t.Fatalf("Info %+v", in)
	}
	if strings.Contains(sink.text(), "pd") {
		t.Fatal("static password in logs")
	}
}

func TestNoTURN(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{})
	c := getConfig(t, s, "")
	if len(c.ICEServers) != 0 || s.TURNURLs() != nil || s.ICEServers() != nil {
		t.Fatalf("without TURN: %+v", c)
	}
}

func dial(t *testing.T, s *Server, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if pem := s.CACertPEM(); pem != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		d.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sendJSON(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

func readMsg(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// joinPair joins two clients to room "100" and checks new-peer / resp-join.
func joinPair(t *testing.T, a, b *websocket.Conn) {
	t.Helper()
	sendJSON(t, a, map[string]any{"cmd": "join", "roomId": "100", "uid": "alice"})
	// The first joiner gets no reply; wait until the server has registered it.
	sendJSON(t, a, map[string]any{"cmd": "ping"})
	if m := readMsg(t, a); m["cmd"] != "ping" {
		t.Fatalf("alice got %v, want the ping reply", m)
	}
	sendJSON(t, b, map[string]any{"cmd": "join", "roomId": "100", "uid": "bob"})
	if m := readMsg(t, a); m["cmd"] != "new-peer" || m["remoteUid"] != "bob" {
		t.Fatalf("alice got %v, want new-peer bob", m)
	}
	if m := readMsg(t, b); m["cmd"] != "resp-join" || m["remoteUid"] != "alice" {
		t.Fatalf("bob got %v, want resp-join alice", m)
	}
}

func TestWSSSelfSigned(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{TLSSelfSigned: true, TURN: true})
	if !strings.HasPrefix(s.SignalURL(), "wss://127.0.0.1:") || !strings.HasPrefix(s.HTTPURL(), "https://127.0.0.1:") {
		t.Fatalf("URLs %s %s", s.SignalURL(), s.HTTPURL())
	}
	if len(s.CACertPEM()) == 0 {
		t.Fatal("no CA PEM")
	}
	a, b := dial(t, s, s.SignalURL()), dial(t, s, s.SignalURL())
	joinPair(t, a, b)
	// A relay from bob reaches alice unchanged.
	offer := map[string]any{"cmd": "offer", "roomId": "100", "uid": "bob", "remoteUid": "alice", "msg": `{"type":"offer","sdp":"v=0"}`}
	sendJSON(t, b, offer)
	if m := readMsg(t, a); m["cmd"] != "offer" || m["msg"] != offer["msg"] {
		t.Fatalf("alice got %v", m)
	}
	if resp, _ := get(t, s, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("https /healthz %d", resp.StatusCode)
	}
	// Without the root the certificate is refused.
	_, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(s.SignalURL(), nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial without the CA: %v, want a certificate error", err)
	}
}

func TestAnyPathUpgrade(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{})
	base := strings.TrimSuffix(s.SignalURL(), "/ws")
	a := dial(t, s, base+"/")
	b := dial(t, s, base+"/anything?x=1")
	joinPair(t, a, b)
	// A cross-origin page is accepted by default, like the original server.
	h := http.Header{"Origin": {"https://course.example:443"}}
	c, _, err := websocket.DefaultDialer.Dial(s.SignalURL(), h)
	if err != nil {
		t.Fatalf("cross-origin upgrade refused: %v", err)
	}
	c.Close()
}

// TestAllowedOriginKeepsOwnPage: with an Origin allowlist (the course's nginx page), the
// call page this server serves itself still reaches the signaling; other origins get 403.
func TestAllowedOriginKeepsOwnPage(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{Signal: signal.ServerConfig{AllowedOrigins: []string{"https://course.example"}}})
	own := strings.TrimSuffix(s.HTTPURL(), "/")
	for origin, want := range map[string]int{
		own:                                      http.StatusSwitchingProtocols,
		"https://course.example":                 http.StatusSwitchingProtocols,
		"https://evil.example":                   http.StatusForbidden,
		strings.Replace(own, "http", "https", 1): http.StatusForbidden, // another scheme is another origin
	} {
		c, resp, err := websocket.DefaultDialer.Dial(s.SignalURL(), http.Header{"Origin": {origin}})
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if c != nil {
			c.Close()
		}
		if got != want {
			t.Errorf("Origin %s: HTTP %d (%v), want %d", origin, got, err, want)
		}
	}
}

func TestCloseGracefulAndIdempotent(t *testing.T) {
	t.Parallel()
	sink := &logSink{}
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", TURN: true, Logf: sink.logf})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, s.SignalURL())
	sendJSON(t, c, map[string]any{"cmd": "join", "roomId": "1", "uid": "u"})
	addr := s.Addr().String()
	turnPort := s.TURN().Port()
	if !stunAnswers(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(turnPort))) {
		t.Fatal("the running TURN server does not answer a STUN binding request")
	}

	got := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		got <- err
	}()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Close() }()
	}
	wg.Wait()
	for i, e := range errs {
		if e != nil {
			t.Fatalf("Close #%d: %v", i, e)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after close: %v", err)
	}
	select {
	case err := <-got:
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("client saw %v, want close 1001 (going away)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client never saw the server close")
	}
	// Nothing listens on either port any more. (Not checked by binding them again: on a
	// busy machine a freed ephemeral port is soon the local port of some other process's
	// connection or UDP socket, and the bind then fails although serve let go of it.)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("HTTP port %s still accepts connections after Close", addr)
	}
	turnAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(turnPort))
	if c, err := net.DialTimeout("tcp", turnAddr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("TURN TCP port %s still accepts connections after Close", turnAddr)
	}
	if stunAnswers(t, turnAddr) {
		t.Fatalf("TURN UDP port %s still answers STUN after Close", turnAddr)
	}
	if !strings.Contains(sink.text(), "serve: stopped") {
		t.Fatalf("no stop log line:\n%s", sink.text())
	}
}

// stunAnswers sends a STUN binding request over UDP to addr and tells whether a binding
// response comes back within 500 ms (a refused or silent port does not answer).
func stunAnswers(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := c.Write(req.Raw); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		resp := &stun.Message{Raw: buf[:n]}
		if resp.Decode() == nil && resp.TransactionID == req.TransactionID && resp.Type == stun.BindingSuccess {
			return true
		}
	}
}

func TestContextCancelStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := s.HTTPURL() + "healthz"
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answering 10 s after ctx was cancelled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyUDP, err := turnserver.Start(turnserver.Config{Secret: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()

	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"http port in use", Config{Addr: busy.Addr().String()}, ErrAddrInUse},
		{"turn port in use", Config{Addr: "127.0.0.1:0", TURN: true, TURNConfig: turnserver.Config{Port: busyUDP.Port()}}, ErrAddrInUse},
		{"bad address", Config{Addr: "nonsense"}, ErrConfig},
		{"half TLS", Config{Addr: "127.0.0.1:0", TLSCert: "x.pem"}, ErrConfig},
		{"self-signed and files", Config{Addr: "127.0.0.1:0", TLSSelfSigned: true, TLSCert: "a", TLSKey: "b"}, ErrConfig},
		{"missing cert files", Config{Addr: "127.0.0.1:0", TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"}, ErrTLS},
		{"bad turn config", Config{Addr: "127.0.0.1:0", TURN: true, TURNConfig: turnserver.Config{ListenIP: "0.0.0.0"}}, ErrTURN},
	}
	for _, tc := range cases {
		s, err := Start(context.Background(), tc.cfg)
		if !errors.Is(err, tc.want) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A failed start must not leave the TURN port open: the HTTP port is busy here.
	probe, err := turnserver.Start(turnserver.Config{Secret: "k"})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Port()
	probe.Close()
	_, err = Start(context.Background(), Config{Addr: busy.Addr().String(), TURN: true, TURNConfig: turnserver.Config{Port: port}})
	if !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("err = %v", err)
	}
	// Checked by probing, not by binding the port again (see TestCloseGracefulAndIdempotent).
	turnAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if stunAnswers(t, turnAddr) {
		t.Fatalf("TURN port %s left open by a failed Start", turnAddr)
	}

	// And a TURN port in use must not leave the HTTP port open.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := free.Addr().String()
	free.Close()
	_, err = Start(context.Background(), Config{Addr: httpAddr, TURN: true, TURNConfig: turnserver.Config{Port: busyUDP.Port()}})
	if !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("err = %v", err)
	}
	if c, err := net.DialTimeout("tcp", httpAddr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("HTTP port %s left open by a failed Start", httpAddr)
	}
}

func TestStartWithCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := Start(ctx, Config{Addr: "127.0.0.1:0", TURN: true}); err == nil {
		s.Close()
		t.Fatal("Start with a cancelled context succeeded")
	}
}

func TestTLSCertFiles(t *testing.T) {
	t.Parallel()
	cert := testenv.SelfSignedCert(t, testenv.CertOptions{})
	s, _ := start(t, Config{TLSCert: cert.CertFile, TLSKey: cert.KeyFile})
	if string(s.CACertPEM()) != string(cert.PEM) {
		t.Fatal("CACertPEM is not the served certificate")
	}
	a, b := dial(t, s, s.SignalURL()), dial(t, s, s.SignalURL())
	joinPair(t, a, b)
	// A key that does not match the certificate is refused at Start.
	other := testenv.SelfSignedCert(t, testenv.CertOptions{})
	if _, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", TLSCert: cert.CertFile, TLSKey: other.KeyFile}); !errors.Is(err, ErrTLS) {
		t.Fatalf("mismatched key: %v, want ErrTLS", err)
	}
}

func TestTURNPublicHost(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{TURN: true, TURNPublicHost: "turn.example.net", ICECredTTL: time.Minute})
	c := getConfig(t, s, "")
	port := s.TURN().Port()
	want := fmt.Sprintf("turn:turn.example.net:%d?transport=udp", port)
	urls, user, _ := turnCreds(t, c)
	if urls[0] != want || c.ICEServers[0].URLs[0] != fmt.Sprintf("stun:turn.example.net:%d", port) {
		t.Fatalf("/config urls %+v, want host turn.example.net", c.ICEServers)
	}
	// The credential expires ICECredTTL from now.
	exp, err := strconv.ParseInt(strings.SplitN(user, ":", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(time.Unix(exp, 0)); d < 50*time.Second || d > 70*time.Second {
		t.Fatalf("credential %q expires in %s, want ~1m", user, d)
	}
}

// TestNoLogAfterClose: once Close returns, Logf is never called again, even though the
// TURN server's goroutines report allocation deletions late (a test's t.Logf would
// panic).
func TestNoLogAfterClose(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	closed, late := false, []string{}
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			late = append(late, fmt.Sprintf(format, args...))
		}
	}
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", TURN: true, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	// Live allocations and a live WebSocket at Close time.
	for range 3 {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		is := s.ICEServers()[1]
		cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: s.TURN().Addr(), TURNServerAddr: s.TURN().Addr(),
			Conn: conn, Username: is.Username, Password: is.Credential.(string), Realm: s.TURN().Realm()})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Listen(); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Allocate(); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, s, s.SignalURL())
	sendJSON(t, c, map[string]any{"cmd": "join", "roomId": "9", "uid": "x"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(late) > 0 {
		t.Fatalf("Logf called after Close returned: %q", late)
	}
}
