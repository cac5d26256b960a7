package signal_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// dial connects to url with fast test timeouts and closes the client at cleanup.
func dial(t testing.TB, url string, mod ...func(*signal.ClientConfig)) *signal.Client {
	t.Helper()
	cfg := signal.ClientConfig{URL: url, DialTimeout: 3 * time.Second}
	if _, ok := t.(*testing.T); ok {
		cfg.Logf = t.Logf
	}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := signal.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wait(t testing.TB, c *signal.Client, cmds ...string) signal.Message {
	t.Helper()
	m, err := c.WaitFor(context.Background(), 3*time.Second, cmds...)
	if err != nil {
		t.Fatalf("WaitFor(%v): %v", cmds, err)
	}
	return m
}

// expectSilence asserts that WaitFor returns ErrNoReply.
func expectSilence(t testing.TB, c *signal.Client, d time.Duration) {
	t.Helper()
	m, err := c.WaitFor(context.Background(), d, signal.CmdRespJoin, signal.CmdNewPeer, signal.CmdPeerLeave,
		signal.CmdOffer, signal.CmdAnswer, signal.CmdCandidate)
	if !errors.Is(err, signal.ErrNoReply) {
		t.Fatalf("want ErrNoReply (silence), got msg %+v err %v", m, err)
	}
}

// waitMembers waits (bounded) until the legacy stand-in's room roomJSON has n members.
// Two clients' joins travel on separate connections, so the server may take the second
// one's first; a test that needs an order waits for the first join to be taken.
func waitMembers(t testing.TB, srv *signaltest.Legacy, roomJSON string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(srv.Members(roomJSON)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("room %s has members %v, want %d", roomJSON, srv.Members(roomJSON), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkGoroutines fails the test if the goroutine count does not settle back to before
// (bounded wait), catching leaked client goroutines.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestClientJoinPairAndRelay(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("100")
	a, b := dial(t, srv.URL()), dial(t, srv.URL())
	if err := a.Join(room, signal.StringID("alice")); err != nil {
		t.Fatal(err)
	}
	// a and b are separate connections: without this, the server may take b's join first.
	waitMembers(t, srv, `"100"`, 1)
	expectSilence(t, a, 300*time.Millisecond) // the original answers a first joiner with nothing
	if err := b.Join(room, signal.StringID("bob")); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, signal.CmdNewPeer); m.RemoteUID != signal.StringID("bob") {
		t.Fatalf("new-peer remoteUid = %s, want bob", m.RemoteUID.Key())
	}
	if m := wait(t, b, signal.CmdRespJoin); m.RemoteUID != signal.StringID("alice") {
		t.Fatalf("resp-join remoteUid = %s, want alice", m.RemoteUID.Key())
	}
	offer := signal.SessionDescription{Type: "offer", SDP: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}
	if err := a.SendSDP(signal.CmdOffer, room, signal.StringID("alice"), signal.StringID("bob"), offer); err != nil {
		t.Fatal(err)
	}
	m := wait(t, b, signal.CmdOffer)
	got, err := signal.DecodeSDP(m.Msg)
	if err != nil || got != offer {
		t.Fatalf("relayed offer = %+v, %v; want %+v", got, err, offer)
	}
	if m.UID != signal.StringID("alice") || m.RemoteUID != signal.StringID("bob") || m.RoomID != room {
		t.Fatalf("relayed offer fields = %+v", m)
	}
	mid := "0"
	idx := uint16(0)
	cand := signal.Candidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx}
	for _, f := range []signal.CandidateFormat{signal.FormatAndroid, signal.FormatWeb} {
		if err := b.SendCandidate(room, signal.StringID("bob"), signal.StringID("alice"), cand, f); err != nil {
			t.Fatal(err)
		}
		m := wait(t, a, signal.CmdCandidate)
		c, err := signal.DecodeCandidate(m.Msg)
		if err != nil {
			t.Fatalf("%s candidate: %v", f, err)
		}
		if c.Format != f || c.Candidate != cand.Candidate || *c.SDPMid != "0" || *c.SDPMLineIndex != 0 {
			t.Fatalf("%s candidate relayed as %+v (msg %s)", f, c, m.Msg)
		}
	}
	// Closing b's socket makes the server send peer-leave to a.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, signal.CmdPeerLeave); m.RemoteUID != signal.StringID("bob") {
		t.Fatalf("peer-leave remoteUid = %s, want bob", m.RemoteUID.Key())
	}
	if err := b.Err(); !errors.Is(err, signal.ErrClosed) {
		t.Fatalf("b.Err() = %v, want ErrClosed", err)
	}
	if ci := b.CloseInfo(); ci.ByServer || ci.Code != 1000 {
		t.Fatalf("b.CloseInfo() = %+v, want code 1000 by client", ci)
	}
}

// TestClientLeave: Leave sends leave for the room: the other member gets peer-leave and
// the server drops the leaver from the room; the same client can join again.
func TestClientLeave(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("lv")
	a, b := dial(t, srv.URL()), dial(t, srv.URL())
	if err := a.Join(room, signal.StringID("alice")); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, srv, `"lv"`, 1)
	if err := b.Join(room, signal.StringID("bob")); err != nil {
		t.Fatal(err)
	}
	wait(t, a, signal.CmdNewPeer)
	wait(t, b, signal.CmdRespJoin)
	if err := b.Leave(room, signal.StringID("bob")); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, signal.CmdPeerLeave); m.RemoteUID != signal.StringID("bob") {
		t.Fatalf("peer-leave remoteUid = %s, want bob", m.RemoteUID.Key())
	}
	if got := srv.Members(`"lv"`); len(got) != 1 || got[0] != `"alice"` {
		t.Fatalf("members after leave %v, want alice only", got)
	}
	if err := b.Join(room, signal.StringID("bob")); err != nil {
		t.Fatal(err)
	}
	if m := wait(t, a, signal.CmdNewPeer); m.RemoteUID != signal.StringID("bob") {
		t.Fatalf("after rejoin: new-peer %+v", m)
	}
}

func TestClientNumberAndStringRoomNeverMeet(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	a, b := dial(t, srv.URL()), dial(t, srv.URL())
	if err := a.Join(signal.NumberID(100), signal.StringID("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(signal.StringID("100"), signal.StringID("b")); err != nil {
		t.Fatal(err)
	}
	_, err := b.WaitFor(context.Background(), 400*time.Millisecond, signal.CmdRespJoin)
	if !errors.Is(err, signal.ErrNoReply) {
		t.Fatalf("string-room joiner: %v, want ErrNoReply", err)
	}
	expectSilence(t, a, 50*time.Millisecond)
}

func TestClientDialErrors(t *testing.T) {
	t.Parallel()
	// A port that was just free: connection refused, fast.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)

	tests := []struct {
		name   string
		url    string
		want   error
		status int
	}{
		{name: "refused", url: "ws://" + closedAddr + "/ws", want: signal.ErrDial},
		{name: "http 404", url: "ws" + strings.TrimPrefix(notFound.URL, "http") + "/ws", want: signal.ErrUpgrade, status: 404},
		{name: "bad scheme", url: "http://127.0.0.1:1/ws", want: signal.ErrBadURL},
		{name: "no host", url: "ws:///ws", want: signal.ErrBadURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := signal.Dial(context.Background(), signal.ClientConfig{URL: tc.url, DialTimeout: 3 * time.Second})
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Dial error %v, want %v", err, tc.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("Dial took %v, want fast failure", took)
			}
			if tc.status != 0 {
				var ue *signal.UpgradeError
				if !errors.As(err, &ue) || ue.Status != tc.status {
					t.Fatalf("want UpgradeError status %d, got %v", tc.status, err)
				}
			}
		})
	}
}

func TestClientKeepaliveTimeout(t *testing.T) {
	checkGoroutines(t) // not parallel: the goroutine count is process-wide
	// A server that upgrades and then never answers pings nor sends anything.
	var pingsSeen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.SetPingHandler(func(string) error { pingsSeen.Add(1); return nil })
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), func(cfg *signal.ClientConfig) {
		cfg.PingInterval = 100 * time.Millisecond
		cfg.PongTimeout = 400 * time.Millisecond
	})
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("connection not declared dead within 3s")
	}
	took := time.Since(c.Opened())
	if err := c.Err(); !errors.Is(err, signal.ErrKeepaliveTimeout) || !errors.Is(err, signal.ErrClosed) {
		t.Fatalf("Err() = %v, want ErrKeepaliveTimeout", err)
	}
	if took < 350*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("declared dead after %v, want about 400ms", took)
	}
	if ci := c.CloseInfo(); ci.Code != 1006 || ci.ByServer {
		t.Fatalf("CloseInfo = %+v, want 1006 by client", ci)
	}
	// The server's handler reads the pings on its own schedule: they are in its socket
	// buffer when the client gives up, but it may not have read them yet (seen under -race:
	// "saw 0" right after Done), so wait for them, bounded.
	for deadline := time.Now().Add(3 * time.Second); pingsSeen.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if pingsSeen.Load() < 2 {
		t.Fatalf("server saw %d pings (client sent %d), want >= 2", pingsSeen.Load(), c.Stats().Pings)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("Events not closed")
	}
	_ = c.Close()
}

// startWS runs handler on every upgraded connection of an httptest server and returns
// its ws:// URL.
func startWS(t *testing.T, handler func(ws *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		handler(ws)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func TestClientWSS(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacyTLS(t)
	tests := []struct {
		name string
		mod  func(*signal.ClientConfig)
		want error
	}{
		{name: "CAFile", mod: func(c *signal.ClientConfig) { c.CAFile = srv.CAFile() }},
		{name: "Insecure", mod: func(c *signal.ClientConfig) { c.Insecure = true }},
		{name: "neither", mod: func(*signal.ClientConfig) {}, want: signal.ErrTLS},
		{name: "CAFile is not PEM", mod: func(c *signal.ClientConfig) { c.CAFile = "client_test.go" }, want: signal.ErrTLS},
		{name: "CAFile missing", mod: func(c *signal.ClientConfig) { c.CAFile = "/nonexistent/ca.pem" }, want: signal.ErrTLS},
		{name: "plain ws to the TLS port", mod: func(c *signal.ClientConfig) { c.URL = "ws" + strings.TrimPrefix(c.URL, "wss") }, want: signal.ErrUpgrade},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := signal.ClientConfig{URL: srv.URL(), DialTimeout: 3 * time.Second}
			tc.mod(&cfg)
			c, err := signal.Dial(context.Background(), cfg)
			if tc.want != nil {
				if err == nil {
					_ = c.Close()
					t.Fatal("Dial succeeded")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("Dial: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			peer := dial(t, srv.URL(), func(c *signal.ClientConfig) { c.CAFile = srv.CAFile() })
			room := signal.StringID("tls-" + tc.name)
			if err := peer.Join(room, signal.StringID("p")); err != nil {
				t.Fatal(err)
			}
			waitMembers(t, srv, `"tls-`+tc.name+`"`, 1) // p's join is taken before q's
			expectSilence(t, peer, 100*time.Millisecond)
			if err := c.Join(room, signal.StringID("q")); err != nil {
				t.Fatal(err)
			}
			if m := wait(t, c, signal.CmdRespJoin); m.RemoteUID != signal.StringID("p") {
				t.Fatalf("resp-join %+v", m)
			}
		})
	}
	// wss to a plain TCP WebSocket port: the TLS handshake fails.
	plain := signaltest.StartLegacy(t)
	_, err := signal.Dial(context.Background(), signal.ClientConfig{URL: "wss" + strings.TrimPrefix(plain.URL(), "ws"), DialTimeout: 3 * time.Second})
	if !errors.Is(err, signal.ErrTLS) {
		t.Fatalf("wss to a plain port: %v, want ErrTLS", err)
	}
}

func TestClientDialTimeoutWhenServerNeverAnswers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // accept, never answer
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-held:
				_ = c.Close()
			default:
				return
			}
		}
	})
	start := time.Now()
	_, err = signal.Dial(context.Background(), signal.ClientConfig{URL: "ws://" + ln.Addr().String() + "/ws", DialTimeout: 300 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, signal.ErrUpgrade) {
		t.Fatalf("Dial: %v, want ErrUpgrade (no answer)", err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Dial gave up after %v, want about 300ms", took)
	}
}

func TestClientSeesLegacyCrashAs1006(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	a, b := dial(t, srv.URL()), dial(t, srv.URL())
	if err := a.Join(signal.StringID("r"), signal.StringID("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.SendRaw([]byte("null")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*signal.Client{"a": a, "b": b} {
		if _, err := c.WaitFor(context.Background(), 3*time.Second, signal.CmdNewPeer); !errors.Is(err, signal.ErrClosed) {
			t.Fatalf("%s: WaitFor = %v, want the connection end", name, err)
		}
		ci := c.CloseInfo()
		if ci.Code != 1006 || !ci.ByServer || ci.At.IsZero() {
			t.Fatalf("%s: CloseInfo %+v, want 1006 by server", name, ci)
		}
		if err := c.Err(); !errors.Is(err, signal.ErrClosed) || !strings.Contains(err.Error(), "1006") {
			t.Fatalf("%s: Err %v, want ErrClosed mentioning 1006", name, err)
		}
		if err := c.Join(signal.StringID("r"), signal.StringID("x")); !errors.Is(err, signal.ErrClosed) {
			t.Fatalf("%s: Join after the end: %v, want ErrClosed", name, err)
		}
	}
	if !srv.ProcessDied() {
		t.Fatal("stand-in did not die")
	}
}

func TestClientTooBigFrameGets1009(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	c := dial(t, srv.URL())
	huge := strings.Repeat("z", signaltest.LegacyMaxFrame+1)
	_ = c.SendRaw([]byte(`{"cmd":"offer","msg":"` + huge + `"}`)) // may fail if cut off while writing
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
	if ci := c.CloseInfo(); ci.Code != 1009 || !ci.ByServer {
		t.Fatalf("CloseInfo %+v, want 1009 by server", ci)
	}
	if err := c.Err(); !strings.Contains(err.Error(), "1009 (message too big)") {
		t.Fatalf("Err %v, want it to name 1009", err)
	}
}

func TestClientAppKeepalive(t *testing.T) {
	t.Parallel()
	got := make(chan string, 100)
	url := startWS(t, func(ws *websocket.Conn) {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(b)
			if string(b) == `{"cmd":"ping"}` { // the Android-lineage server answers ping with ping
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"ping"}`))
			}
		}
	})
	c := dial(t, url, func(cfg *signal.ClientConfig) {
		cfg.AppKeepalive = 50 * time.Millisecond
		cfg.PingInterval = -1
		cfg.PongTimeout = 500 * time.Millisecond
	})
	time.Sleep(400 * time.Millisecond)
	st := c.Stats()
	n := len(got)
	for i := 0; i < n; i++ {
		if f := <-got; f != `{"cmd":"ping"}` {
			t.Fatalf("server received %s, want only keepalive pings", f)
		}
	}
	if n < 4 || n > 10 {
		t.Fatalf("server received %d pings in 400ms at 50ms, want 4..10 (no ping-pong storm)", n)
	}
	if st.AppReplies < 3 || st.Pings != 0 {
		t.Fatalf("stats %+v: want >=3 replies and no ws pings", st)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("keepalive reply delivered as an event: %s", ev.Raw)
	default:
	}
	if c.Err() != nil {
		t.Fatalf("connection ended: %v", c.Err())
	}
}

func TestClientAnswersServerPing(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	url := startWS(t, func(ws *websocket.Conn) {
		var wmu sync.Mutex
		write := func(b []byte) {
			wmu.Lock()
			defer wmu.Unlock()
			_ = ws.WriteMessage(websocket.TextMessage, b)
		}
		write([]byte(`{"cmd":"ping"}`))
		later := time.AfterFunc(1200*time.Millisecond, func() { // the server's next keepalive, after the reply window
			write([]byte(`{"cmd":"ping"}`))
		})
		defer later.Stop()
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(b)
			// Echo it back, like a server that answers every ping: must not loop.
			write(b)
		}
	})
	c := dial(t, url)
	for i := 1; i <= 2; i++ {
		select {
		case f := <-got:
			if f != `{"cmd":"ping"}` {
				t.Fatalf("client answered %s, want {\"cmd\":\"ping\"}", f)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("client did not answer the server's ping #%d", i)
		}
		if i == 1 {
			time.Sleep(300 * time.Millisecond)
			if n := len(got); n != 0 {
				t.Fatalf("client sent %d more frames after the echo: ping loop", n)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(got); n != 0 {
		t.Fatalf("client sent %d more frames: ping loop", n)
	}
	_ = c.Close()
}

func TestClientSkipsBadServerFrames(t *testing.T) {
	t.Parallel()
	url := startWS(t, func(ws *websocket.Conn) {
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte(`{"cmd":"new-peer","remoteUid":"bin"}`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"new-peer","remoteUid":"`+strings.Repeat("x", 2000)+`"}`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`hello`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"dance"}`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"new-peer","remoteUid":"ok"}`))
		_, _, _ = ws.ReadMessage() // until the client closes
	})
	c := dial(t, url, func(cfg *signal.ClientConfig) { cfg.MaxMessageSize = 1024 })
	m := wait(t, c, signal.CmdNewPeer)
	if m.RemoteUID != signal.StringID("ok") {
		t.Fatalf("first event %+v, want the valid new-peer", m)
	}
	want := signal.ClientStats{Received: 1, Undecodable: 2, Binary: 1, Oversized: 1}
	st := c.Stats()
	st.Sent, st.Pings, st.Pongs = 0, 0, 0
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func TestClientWaitForFullAndError(t *testing.T) {
	t.Parallel()
	url := startWS(t, func(ws *websocket.Conn) {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := signal.Decode(b)
			if err != nil {
				return
			}
			switch m.UID.String() {
			case "third":
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"full","roomId":"r","uid":"third"}`))
			case "bad":
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"error","code":400,"reason":"bad roomId"}`))
			}
		}
	})
	c := dial(t, url)
	if err := c.Join(signal.StringID("r"), signal.StringID("third")); err != nil {
		t.Fatal(err)
	}
	m, err := c.WaitFor(context.Background(), 3*time.Second, signal.CmdRespJoin)
	if !errors.Is(err, signal.ErrRoomFull) || m.Cmd != signal.CmdFull {
		t.Fatalf("WaitFor = %+v, %v; want ErrRoomFull", m, err)
	}
	if err := c.Join(signal.StringID("r"), signal.StringID("bad")); err != nil {
		t.Fatal(err)
	}
	m, err = c.WaitFor(context.Background(), 3*time.Second, signal.CmdRespJoin)
	if !errors.Is(err, signal.ErrServer) || m.Code != 400 || !strings.Contains(err.Error(), "bad roomId") {
		t.Fatalf("WaitFor = %+v, %v; want ErrServer 400", m, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.WaitFor(ctx, time.Second, signal.CmdRespJoin); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with a cancelled ctx = %v", err)
	}
}

func TestClientCloseLeavesNoGoroutines(t *testing.T) {
	checkGoroutines(t) // not parallel: the goroutine count is process-wide
	srv := signaltest.StartLegacy(t)
	var clients []*signal.Client
	for i := 0; i < 5; i++ {
		c, err := signal.Dial(context.Background(), signal.ClientConfig{URL: srv.URL(), AppKeepalive: 10 * time.Millisecond, PingInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	_ = clients[0].Join(signal.StringID("g"), signal.StringID("0"))
	_ = clients[1].Join(signal.StringID("g"), signal.StringID("1")) // events nobody reads
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // twice is fine
		if !errors.Is(c.Err(), signal.ErrClosed) || c.CloseInfo().ByServer {
			t.Fatalf("after Close: Err %v, CloseInfo %+v", c.Err(), c.CloseInfo())
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closing 5 clients took %v", took)
	}
	srv.Close()
}

func TestClientServerCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		text string
		want string
	}{
		{code: 1000, text: "", want: "code 1000 (normal closure)"},
		{code: 1001, text: "server shutting down", want: `code 1001 (going away): "server shutting down"`},
		{code: 1008, text: "origin not allowed", want: `code 1008 (policy violation): "origin not allowed"`},
		{code: 4000, text: "replaced", want: `code 4000 (close code): "replaced"`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			url := startWS(t, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"new-peer","remoteUid":"x"}`))
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(tc.code, tc.text), time.Now().Add(time.Second))
				_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _, _ = ws.ReadMessage() // the client's answering close
			})
			c := dial(t, url)
			// The message sent before the close is still delivered, then the end.
			if m := wait(t, c, signal.CmdNewPeer); m.RemoteUID != signal.StringID("x") {
				t.Fatalf("got %+v", m)
			}
			_, err := c.WaitFor(context.Background(), 3*time.Second, signal.CmdRespJoin)
			if !errors.Is(err, signal.ErrClosed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WaitFor after the close: %v, want ErrClosed with %q", err, tc.want)
			}
			ci := c.CloseInfo()
			if ci.Code != tc.code || ci.Text != tc.text || !ci.ByServer {
				t.Fatalf("CloseInfo %+v, want %d %q by server", ci, tc.code, tc.text)
			}
		})
	}
}

func TestClientSendsOrigin(t *testing.T) {
	t.Parallel()
	origins := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origins <- r.Header.Get("Origin")
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		if ws, err := up.Upgrade(w, r, nil); err == nil {
			_, _, _ = ws.ReadMessage()
			_ = ws.Close()
		}
	}))
	t.Cleanup(srv.Close)
	dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", func(c *signal.ClientConfig) { c.Origin = "https://course.example" })
	if got := <-origins; got != "https://course.example" {
		t.Fatalf("Origin %q", got)
	}
}
