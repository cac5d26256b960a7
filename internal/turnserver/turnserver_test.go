package turnserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/turncred"
)

// logSink collects Logf lines for assertions.
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

func startServer(t *testing.T, cfg Config) (*Server, *logSink) {
	t.Helper()
	sink := &logSink{}
	cfg.Logf = sink.logf
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, sink
}

// newClient makes a real pion TURN client over UDP or TCP to the server.
func newClient(t *testing.T, s *Server, transport, user, pass string) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr(),
		TURNServerAddr: s.Addr(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          s.Realm(),
		LoggerFactory:  pionLogs{logf: discard},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	return cl
}

func allocate(t *testing.T, cl *turn.Client) (net.PacketConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relay, err := cl.AllocateWithContext(ctx)
	if err == nil {
		t.Cleanup(func() { _ = relay.Close() })
	}
	return relay, err
}

// echoThroughRelay sends a datagram from a plain UDP peer to the relayed address and
// expects the client to receive it, then answers back through the relay.
func echoThroughRelay(t *testing.T, relay net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// Writing to the peer makes the client create a permission for its IP.
	if _, err := relay.WriteTo([]byte("from-client"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay write: %v", err)
	}
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatalf("peer did not receive relayed data: %v", err)
	}
	if string(buf[:n]) != "from-client" {
		t.Fatalf("peer got %q", buf[:n])
	}
	if from.String() != relay.LocalAddr().String() {
		t.Fatalf("data came from %s, want the relayed address %s", from, relay.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("from-peer"), relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err = relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("client did not receive the peer's data: %v", err)
	}
	if !bytes.Equal(buf[:n], []byte("from-peer")) || from.String() != peer.LocalAddr().String() {
		t.Fatalf("client got %q from %s", buf[:n], from)
	}
}

func TestStaticUserUDPAndTCPRelay(t *testing.T) {
	t.Parallel()
	s, sink := startServer(t, Config{Users: map[string]string{"alice": "wonderland"}})
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			cl := newClient(t, s, tr, "alice", "wonderland")
			relay, err := allocate(t, cl)
			if err != nil {
				t.Fatalf("allocate over %s: %v", tr, err)
			}
			ra := relay.LocalAddr().(*net.UDPAddr)
			if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port == 0 {
				t.Fatalf("relayed address %s, want 127.0.0.1:<port>", ra)
			}
			echoThroughRelay(t, relay)
		})
	}
	st := s.Stats()
	if st.AllocationsTotal != 2 || st.Permissions < 2 || st.AuthOK == 0 || st.AuthFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(sink.text(), "wonderland") {
		t.Fatal("password leaked into logs")
	}
	if !strings.Contains(sink.text(), "allocation created") {
		t.Fatalf("no allocation log line:\n%s", sink.text())
	}
}

func TestWrongPasswordRejected(t *testing.T) {
	t.Parallel()
	s, sink := startServer(t, Config{Users: map[string]string{"alice": "wonderland"}})
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "nope"},
		{"unknown user", "mallory", "wonderland"},
	} {
		cl := newClient(t, s, "udp", tc.user, tc.pass)
		if _, err := allocate(t, cl); err == nil {
			t.Fatalf("%s: allocation succeeded", tc.name)
		}
	}
	st := s.Stats()
	if st.AuthFailures < 2 || st.AllocationsTotal != 0 || st.Allocations != 0 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(sink.text(), "nope") || strings.Contains(sink.text(), "wonderland") {
		t.Fatalf("password in logs:\n%s", sink.text())
	}
}

func TestRESTCredentials(t *testing.T) {
	t.Parallel()
	const secret = "north-wind-secret"
	s, sink := startServer(t, Config{Secret: secret, Users: map[string]string{"static": "pw"}})
	now := time.Now()

	t.Run("fresh accepted", func(t *testing.T) {
		u, p := turncred.Generate(secret, "room100", time.Hour, now)
		relay, err := allocate(t, newClient(t, s, "udp", u, p))
		if err != nil {
			t.Fatalf("fresh REST credential refused: %v", err)
		}
		echoThroughRelay(t, relay)
	})
	t.Run("static still works", func(t *testing.T) {
		if _, err := allocate(t, newClient(t, s, "tcp", "static", "pw")); err != nil {
			t.Fatalf("static user refused alongside a secret: %v", err)
		}
	})
	t.Run("expired rejected", func(t *testing.T) {
		u, p := turncred.Generate(secret, "room100", -time.Minute, now)
		if _, err := allocate(t, newClient(t, s, "udp", u, p)); err == nil {
			t.Fatal("expired REST credential was accepted")
		}
	})
	t.Run("other secret rejected", func(t *testing.T) {
		u, p := turncred.Generate("not-the-secret", "room100", time.Hour, now)
		if _, err := allocate(t, newClient(t, s, "udp", u, p)); err == nil {
			t.Fatal("credential under another secret was accepted")
		}
	})
	if st := s.Stats(); st.Expired == 0 || st.AuthFailures < 2 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(sink.text(), secret) {
		t.Fatal("secret leaked into logs")
	}
}

func TestRESTExpiryUsesInjectedClock(t *testing.T) {
	t.Parallel()
	// The server's clock is two hours ahead: a credential valid for one hour by the real
	// clock is already expired for the server.
	s, _ := startServer(t, Config{Secret: "k", Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	u, p := turncred.Generate("k", "x", time.Hour, time.Now())
	if _, err := allocate(t, newClient(t, s, "udp", u, p)); err == nil {
		t.Fatal("credential expired by the injected clock was accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no credentials", Config{}},
		{"bad ip", Config{ListenIP: "localhost", Secret: "k"}},
		{"unspecified without relay", Config{ListenIP: "0.0.0.0", Secret: "k"}},
		{"half range", Config{Secret: "k", MinRelayPort: 50000}},
		{"inverted range", Config{Secret: "k", MinRelayPort: 50010, MaxRelayPort: 50000}},
		{"port range", Config{Secret: "k", Port: 70000}},
	}
	for _, tc := range cases {
		if _, err := Start(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{Secret: "k"})
	_, err := Start(Config{Secret: "k", Port: s.Port()})
	if !errors.Is(err, ErrListen) {
		t.Fatalf("err = %v, want ErrListen", err)
	}
}

func TestRelayPortRangeAndURLs(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{Users: map[string]string{"u": "p"}, MinRelayPort: 40000, MaxRelayPort: 40999})
	relay, err := allocate(t, newClient(t, s, "udp", "u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if p := relay.LocalAddr().(*net.UDPAddr).Port; p < 40000 || p > 40999 {
		t.Fatalf("relay port %d outside 40000-40999", p)
	}
	want := fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", s.Port())
	if u := s.URLs(); len(u) != 2 || u[0] != want || !strings.HasSuffix(u[1], "?transport=tcp") {
		t.Fatalf("URLs = %v", u)
	}
}

func TestCloseIdempotentAndCutsTCP(t *testing.T) {
	t.Parallel()
	s, err := Start(Config{Users: map[string]string{"u": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A STUN binding request answered over TCP proves the server accepted the connection.
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no STUN answer over TCP: %v", err)
	}
	resp := &stun.Message{Raw: buf[:n]}
	if err := resp.Decode(); err != nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer %v %v", resp, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The server side of the TCP connection is closed: a read ends with EOF/reset, not a
	// timeout.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(buf)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("TCP connection still open after Close: read err %v", err)
	}
}

// TestRelayIPAdvertised: the relayed address given to clients is RelayIP (the address
// peers reach, e.g. a public IP in front of the listen IP), not the bind address.
func TestRelayIPAdvertised(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{Users: map[string]string{"u": "p"}, RelayIP: "127.0.0.2"})
	relay, err := allocate(t, newClient(t, s, "udp", "u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.ParseIP("127.0.0.2")) {
		t.Fatalf("relayed address %s, want 127.0.0.2", relay.LocalAddr())
	}
	if !strings.HasPrefix(s.URLs()[0], "turn:127.0.0.1:") {
		t.Fatalf("URLs %v: clients still dial the listen IP", s.URLs())
	}
}

func TestIPv6Loopback(t *testing.T) {
	t.Parallel()
	s, err := Start(Config{ListenIP: "::1", Users: map[string]string{"u": "p"}})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if u := s.URLs()[0]; !strings.HasPrefix(u, "turn:[::1]:") {
		t.Fatalf("URL %q", u)
	}
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr(), TURNServerAddr: s.Addr(), Conn: conn,
		Username: "u", Password: "p", Realm: s.Realm(), LoggerFactory: pionLogs{logf: discard},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := allocate(t, cl)
	if err != nil {
		t.Fatalf("allocate over IPv6: %v", err)
	}
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv6loopback) {
		t.Fatalf("relayed address %s, want [::1]", relay.LocalAddr())
	}
}

// discard is the pion client logger in tests: a client's goroutines may still log after
// its test returned, when t.Logf is no longer allowed.
func discard(string, ...any) {}

// TestAuthRefusalLogIsRateLimited: a client retrying a wrong password (turnutils_uclient
// wrote 31 lines in 3 ms) logs one refusal per address per 10 s; the next line after the
// pause says how many were held back. Every refusal is still counted in the stats.
func TestAuthRefusalLogIsRateLimited(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s, sink := startServer(t, Config{Users: map[string]string{"alice": "wonderland"}, Now: now})
	count := func() int { return strings.Count(sink.text(), "auth refused") }
	for range 4 {
		if _, err := allocate(t, newClient(t, s, "udp", "alice", "nope")); err == nil {
			t.Fatal("allocation with a wrong password succeeded")
		}
	}
	if st := s.Stats(); st.AuthFailures < 4 {
		t.Fatalf("auth failures %d, want every refusal counted", st.AuthFailures)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d refusal lines for 4 quick attempts from one address, want 1:\n%s", n, sink.text())
	}
	mu.Lock()
	clock = clock.Add(authLogEvery + time.Second)
	mu.Unlock()
	if _, err := allocate(t, newClient(t, s, "udp", "mallory", "x")); err == nil {
		t.Fatal("unknown user allocated")
	}
	if n := count(); n != 2 || !strings.Contains(sink.text(), "more refusals from this address not logged") {
		t.Fatalf("after the pause: %d refusal lines, want 2, the second counting the held-back ones:\n%s", n, sink.text())
	}
}
