package signaltest

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawClient is a bare gorilla connection, so the stand-in is tested independently of the
// signal package's client.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func connect(t *testing.T, l *Legacy, path string, hdr http.Header) *rawClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	url := strings.TrimSuffix(l.URL(), "/ws") + path
	ws, resp, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", url, err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &rawClient{t: t, ws: ws}
}

func (c *rawClient) send(frame string) {
	c.t.Helper()
	d := 3 * time.Second
	if len(frame) > 64<<10 {
		d = 20 * time.Second // see expectWithin
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(d))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send %s: %v", short(frame), err)
	}
}

// expect reads the next text frame and compares it byte for byte.
func (c *rawClient) expect(want string) {
	c.t.Helper()
	c.expectWithin(want, 3*time.Second)
}

// expectWithin is expect with its own deadline. Relaying a 1 MiB frame takes the stand-in
// about 0.2 s under -race on an idle machine (parse and re-serialise, like JSON.parse and
// JSON.stringify), but more than 3 s was seen on 2 cores running several packages' tests
// at load 14, so big frames get a longer deadline.
func (c *rawClient) expectWithin(want string, d time.Duration) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	_, got, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", short(want), err)
	}
	if string(got) != want {
		c.t.Fatalf("got  %s\nwant %s", short(string(got)), short(want))
	}
}

// short keeps failure messages readable when frames are megabytes long.
func short(s string) string {
	if len(s) <= 300 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)...%s", s[:150], len(s), s[len(s)-100:])
}

// silent asserts that nothing arrives for d (the connection stays open).
func (c *rawClient) silent(d time.Duration) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	_, got, err := c.ws.ReadMessage()
	if err == nil {
		c.t.Fatalf("want silence, got %s", got)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want silence, connection ended: %v", err)
	}
	// A read deadline poisons a gorilla connection; reconnecting is the caller's job.
}

// closeCode reads until the connection ends and returns its close code.
func (c *rawClient) closeCode() int {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.t.Fatalf("connection ended without a close code: %v", err)
	}
}

// pair joins a then b to room and consumes new-peer/resp-join.
func pair(t *testing.T, l *Legacy, room, a, b string) (*rawClient, *rawClient) {
	t.Helper()
	ca, cb := connect(t, l, "/ws", nil), connect(t, l, "/ws", nil)
	ca.send(`{"cmd":"join","roomId":` + room + `,"uid":` + a + `}`)
	waitMembers(t, l, room, 1)
	cb.send(`{"cmd":"join","roomId":` + room + `,"uid":` + b + `}`)
	ca.expect(`{"cmd":"new-peer","remoteUid":` + b + `}`)
	cb.expect(`{"cmd":"resp-join","remoteUid":` + a + `}`)
	return ca, cb
}

func waitMembers(t *testing.T, l *Legacy, room string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(l.Members(room)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("room %s has members %v, want %d", room, l.Members(room), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLegacyFirstJoinerSilenceAndPairing(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a := connect(t, l, "/ws", nil)
	a.send(`{"cmd":"join","roomId":"100","uid":"a"}`)
	a.silent(200 * time.Millisecond)
	if got := l.Members(`"100"`); len(got) != 1 || got[0] != `"a"` {
		t.Fatalf("members %v, want [\"a\"]", got)
	}
	pair(t, l, `"7"`, `"x"`, `"y"`)
}

func TestLegacyRoomIDTypesNeverMeet(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := connect(t, l, "/ws", nil), connect(t, l, "/ws", nil)
	a.send(`{"cmd":"join","roomId":100,"uid":"a"}`)
	waitMembers(t, l, `100`, 1)
	b.send(`{"cmd":"join","roomId":"100","uid":"b"}`)
	waitMembers(t, l, `"100"`, 1)
	a.silent(200 * time.Millisecond)
	b.silent(50 * time.Millisecond)
	// 1.0e2 is the number 100 (exact JSON value, not text).
	c := connect(t, l, "/ws", nil)
	c.send(`{"cmd":"join","roomId":1.0e2,"uid":"c"}`)
	c.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
}

func TestLegacyFullRoomWipeQuirk(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
	c := connect(t, l, "/ws", nil)
	c.send(`{"cmd":"join","roomId":"r","uid":"c"}`)
	c.silent(200 * time.Millisecond) // third joiner: no reply at all
	// b re-sends join to its own full room: its membership record is wiped, so its close
	// later sends no peer-leave, and its stale entry keeps the room full for good.
	b.send(`{"cmd":"join","roomId":"r","uid":"b"}`)
	time.Sleep(50 * time.Millisecond)
	_ = b.ws.Close()
	a.silent(300 * time.Millisecond)
	if got := l.Members(`"r"`); strings.Join(got, ",") != `"a","b"` {
		t.Fatalf("members %v, want the stale [a b]", got)
	}
	d := connect(t, l, "/ws", nil)
	d.send(`{"cmd":"join","roomId":"r","uid":"d"}`)
	d.silent(200 * time.Millisecond)
}

func TestLegacyRelayIsReserialised(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := pair(t, l, `100`, `"a"`, `"b"`)
	a.send(` { "cmd" : "offer", "roomId": 1.0e2, "uid":"a", "remoteUid":"b", "msg":"\u0041\/<\u2028", "x": [1.50, true, null, -0, 1e21, 0.0000001], "cmd":"offer" } `)
	b.expect(`{"cmd":"offer","roomId":100,"uid":"a","remoteUid":"b","msg":"A/<` + "\u2028" + `","x":[1.5,true,null,0,1e+21,1e-7]}`)
	// Unknown remoteUid: dropped, no error to the sender.
	a.send(`{"cmd":"answer","roomId":100,"uid":"a","remoteUid":"nobody","msg":"{}"}`)
	// A connection that never joined can send as a member.
	spy := connect(t, l, "/anything?x=1", nil)
	spy.send(`{"cmd":"candidate","roomId":100,"uid":"b","remoteUid":"a","msg":"{}"}`)
	a.expect(`{"cmd":"candidate","roomId":100,"uid":"b","remoteUid":"a","msg":"{}"}`)
	a.silent(100 * time.Millisecond)
}

func TestLegacyLeaveQuirks(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
	// A non-member's leave is still broadcast to every member.
	outsider := connect(t, l, "/", nil)
	outsider.send(`{"cmd":"leave","roomId":"r","uid":"ghost"}`)
	a.expect(`{"cmd":"peer-leave","remoteUid":"ghost"}`)
	b.expect(`{"cmd":"peer-leave","remoteUid":"ghost"}`)
	// Closing b's socket sends peer-leave to a.
	_ = b.ws.Close()
	a.expect(`{"cmd":"peer-leave","remoteUid":"b"}`)
	waitMembers(t, l, `"r"`, 1)
}

func TestLegacyRejoinReplacesAndOldSocketEvicts(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	oldA := connect(t, l, "/ws", nil)
	oldA.send(`{"cmd":"join","roomId":"r","uid":"a"}`)
	waitMembers(t, l, `"r"`, 1)
	newA := connect(t, l, "/ws", nil)
	newA.send(`{"cmd":"join","roomId":"r","uid":"a"}`) // replaces silently
	time.Sleep(50 * time.Millisecond)
	b := connect(t, l, "/ws", nil)
	b.send(`{"cmd":"join","roomId":"r","uid":"b"}`)
	newA.expect(`{"cmd":"new-peer","remoteUid":"b"}`)
	b.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
	_ = oldA.ws.Close() // the old socket's close evicts the new member
	b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
	waitMembers(t, l, `"r"`, 1)
}

func TestLegacyCrashOnBadFrame(t *testing.T) {
	t.Parallel()
	for _, frame := range []string{`null`, `not json`, `{"cmd":"join"`, ``} {
		t.Run(frame, func(t *testing.T) {
			t.Parallel()
			l := StartLegacy(t)
			a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
			other := connect(t, l, "/ws", nil)
			// Harmless frames first: scalars, arrays, unknown cmds, binary.
			other.send(`5`)
			other.send(`[1,2]`)
			other.send(`"join"`)
			other.send(`{"cmd":"dance"}`)
			if err := other.ws.WriteMessage(websocket.BinaryMessage, []byte("null")); err != nil {
				t.Fatal(err)
			}
			if l.ProcessDied() {
				t.Fatal("server died on a harmless frame")
			}
			other.send(frame)
			select {
			case <-l.Crashed():
			case <-time.After(3 * time.Second):
				t.Fatal("server did not die")
			}
			for name, c := range map[string]*rawClient{"a": a, "b": b, "sender": other} {
				if code := c.closeCode(); code != websocket.CloseAbnormalClosure {
					t.Errorf("%s: close code %d, want 1006", name, code)
				}
			}
			if _, _, err := websocket.DefaultDialer.Dial(l.URL(), nil); err == nil {
				t.Error("a dead server accepted a new connection")
			}
		})
	}
}

func TestLegacyFrameLimit(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
	big := strings.Repeat("x", 1<<20)
	a.send(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":"` + big + `"}`)
	b.expectWithin(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":"`+big+`"}`, 20*time.Second)
	huge := strings.Repeat("y", LegacyMaxFrame)
	_ = a.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = a.ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"offer","msg":"`+huge+`"}`)) // may fail once cut off
	if code := a.closeCode(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
	if l.ProcessDied() {
		t.Fatal("an oversized frame must not kill the server")
	}
}

func TestLegacyAnyPathOriginAndPing(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	c := connect(t, l, "/some/path?x=1", http.Header{"Origin": {"https://evil.example"}})
	pong := make(chan struct{}, 1)
	c.ws.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.ws.ReadMessage() }() // pongs are handled while reading
	select {
	case <-pong:
	case <-time.After(3 * time.Second):
		t.Fatal("no pong")
	}
}

func TestLegacyTLS(t *testing.T) {
	t.Parallel()
	l := StartLegacyTLS(t)
	if !strings.HasPrefix(l.URL(), "wss://127.0.0.1:") || l.CAFile() == "" {
		t.Fatalf("URL %s CAFile %q", l.URL(), l.CAFile())
	}
	// Without the CA the handshake fails.
	if _, _, err := websocket.DefaultDialer.Dial(l.URL(), nil); err == nil {
		t.Fatal("TLS without the CA succeeded")
	}
}

func TestLegacyOnlyLastRoomCleanedUp(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	// x joins room 1 (with peer p1) and then room 2 (with peer p2) on one connection.
	x := connect(t, l, "/ws", nil)
	p1, p2 := connect(t, l, "/ws", nil), connect(t, l, "/ws", nil)
	p1.send(`{"cmd":"join","roomId":"1","uid":"p1"}`)
	p2.send(`{"cmd":"join","roomId":"2","uid":"p2"}`)
	waitMembers(t, l, `"1"`, 1)
	waitMembers(t, l, `"2"`, 1)
	x.send(`{"cmd":"join","roomId":"1","uid":"x"}`)
	x.expect(`{"cmd":"resp-join","remoteUid":"p1"}`)
	x.send(`{"cmd":"join","roomId":"2","uid":"x"}`)
	x.expect(`{"cmd":"resp-join","remoteUid":"p2"}`)
	p1.expect(`{"cmd":"new-peer","remoteUid":"x"}`)
	p2.expect(`{"cmd":"new-peer","remoteUid":"x"}`)
	_ = x.ws.Close()
	p2.expect(`{"cmd":"peer-leave","remoteUid":"x"}`) // the last room is cleaned up
	p1.silent(300 * time.Millisecond)                 // the first keeps the stale x
	if got := l.Members(`"1"`); strings.Join(got, ",") != `"p1","x"` {
		t.Fatalf("room 1 members %v, want stale [p1 x]", got)
	}
}

func TestLegacyLeaveThenCloseSendsOnePeerLeave(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
	b.send(`{"cmd":"leave","roomId":"r","uid":"b"}`)
	a.expect(`{"cmd":"peer-leave","remoteUid":"b"}`)
	waitMembers(t, l, `"r"`, 1)
	_ = b.ws.Close()
	a.silent(300 * time.Millisecond) // force-leave finds b gone: nothing more
}

// Not parallel: the goroutine count is process-wide.
func TestLegacyCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, crash := range []bool{false, true} {
		l := StartLegacy(t)
		a, b := pair(t, l, `"r"`, `"a"`, `"b"`)
		a.send(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":"x"}`)
		b.expect(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":"x"}`)
		if crash {
			a.send(`null`)
			<-l.Crashed()
		}
		l.Close()
		_ = a.ws.Close()
		_ = b.ws.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The joiner is told about members whose uid != its own (loose equality): uids 100 and
// "100" both enter the room but hear nothing of each other.
func TestLegacyLooseUIDCompare(t *testing.T) {
	t.Parallel()
	l := StartLegacy(t)
	a, b := connect(t, l, "/ws", nil), connect(t, l, "/ws", nil)
	a.send(`{"cmd":"join","roomId":"r","uid":100}`)
	waitMembers(t, l, `"r"`, 1)
	b.send(`{"cmd":"join","roomId":"r","uid":"100"}`)
	waitMembers(t, l, `"r"`, 2)
	a.silent(200 * time.Millisecond)
	b.silent(50 * time.Millisecond)
}
