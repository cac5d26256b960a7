package signal_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// dial connects to url with fast test timeouts and closes the client at cleanup.
func dial(t *testing.T, url string, mod ...func(*signal.ClientConfig)) *signal.Client {
	t.Helper()
	cfg := signal.ClientConfig{URL: url, DialTimeout: 3 * time.Second, Logf: t.Logf}
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

func wait(t *testing.T, c *signal.Client, cmds ...string) signal.Message {
	t.Helper()
	m, err := c.WaitFor(context.Background(), 3*time.Second, cmds...)
	if err != nil {
		t.Fatalf("WaitFor(%v): %v", cmds, err)
	}
	return m
}

// expectSilence asserts that WaitFor returns ErrNoReply.
func expectSilence(t *testing.T, c *signal.Client, d time.Duration) {
	t.Helper()
	m, err := c.WaitFor(context.Background(), d, signal.CmdRespJoin, signal.CmdNewPeer, signal.CmdPeerLeave,
		signal.CmdOffer, signal.CmdAnswer, signal.CmdCandidate)
	if !errors.Is(err, signal.ErrNoReply) {
		t.Fatalf("want ErrNoReply (silence), got msg %+v err %v", m, err)
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
	t.Parallel()
	checkGoroutines(t)
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
	if pingsSeen.Load() < 2 {
		t.Fatalf("server saw %d pings, want >= 2", pingsSeen.Load())
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("Events not closed")
	}
	_ = c.Close()
}
