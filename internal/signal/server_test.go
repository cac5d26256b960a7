package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitFor bounds every expected frame; silenceFor is how long "nothing arrives" is checked.
const (
	waitFor    = 5 * time.Second
	silenceFor = 300 * time.Millisecond
)

// srvEnv is one hardened server on a loopback httptest listener.
type srvEnv struct {
	srv  *Server
	http *httptest.Server
	url  string
	logs *logBuf
}

// logBuf collects Logf lines so tests can check events and that bodies are not logged.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logBuf) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// want checks that some logged line contains s.
func (l *logBuf) want(t *testing.T, s string) {
	t.Helper()
	if !strings.Contains(l.all(), s) {
		t.Fatalf("no log line contains %q; log:\n%s", s, l.all())
	}
}

func startServer(t *testing.T, cfg ServerConfig) *srvEnv {
	t.Helper()
	e := &srvEnv{logs: &logBuf{}}
	if cfg.Logf == nil {
		cfg.Logf = e.logs.logf
	}
	e.srv = NewServer(cfg)
	e.http = httptest.NewServer(e.srv)
	e.url = "ws" + strings.TrimPrefix(e.http.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Shutdown returns nil only when every server goroutine (read loops, writers,
		// liveness) has ended: this is the goroutine-leak check.
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if st := e.srv.Stats(); st.Conns != 0 || st.Rooms != 0 {
			t.Errorf("after Shutdown: %d conns, %d rooms", st.Conns, st.Rooms)
		}
		e.http.Close()
	})
	return e
}

// frame is one received WebSocket message.
type frame struct {
	typ  int
	data []byte
}

// tclient is a gorilla client whose reader goroutine queues every frame, so that waits
// with deadlines (including "nothing arrives") never break the connection.
type tclient struct {
	t    *testing.T
	name string
	ws   *websocket.Conn
	in   chan frame
	done chan struct{}
	err  error // the read error, valid after done
}

func (e *srvEnv) dial(t *testing.T, name string) *tclient {
	t.Helper()
	c, resp, err := e.tryDial(t, name, "/", nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", name, err, status)
	}
	return c
}

func (e *srvEnv) tryDial(t *testing.T, name, path string, hdr http.Header) (*tclient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(e.url+path, hdr)
	if err != nil {
		return nil, resp, err
	}
	c := &tclient{t: t, name: name, ws: ws, in: make(chan frame, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			select {
			case c.in <- frame{typ, data}:
			default:
				c.err = errors.New("test client buffer overflow")
				return
			}
		}
	}()
	t.Cleanup(func() {
		ws.Close()
		<-c.done
	})
	return c, resp, nil
}

func (c *tclient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("%s: send: %v", c.name, err)
	}
}

func (c *tclient) sendf(format string, args ...any) {
	c.t.Helper()
	c.send(fmt.Sprintf(format, args...))
}

func (c *tclient) join(room, uid string) {
	c.t.Helper()
	c.sendf(`{"cmd":"join","roomId":%s,"uid":%s}`, room, uid)
}

// sync proves that everything c sent before was processed: the server handles one
// connection's frames in order, so the answer to a ping comes after them.
func (c *tclient) sync() {
	c.t.Helper()
	c.send(`{"cmd":"ping"}`)
	c.expectBytes(`{"cmd":"ping"}`)
}

// next returns the next frame or fails.
func (c *tclient) next() []byte {
	c.t.Helper()
	select {
	case f := <-c.in:
		if f.typ != websocket.TextMessage {
			c.t.Fatalf("%s: got frame type %d, want text", c.name, f.typ)
		}
		return f.data
	case <-c.done:
		select {
		case f := <-c.in:
			return f.data
		default:
		}
		c.t.Fatalf("%s: connection ended while waiting: %v", c.name, c.err)
	case <-time.After(waitFor):
		c.t.Fatalf("%s: nothing within %v", c.name, waitFor)
	}
	return nil
}

// expect checks that the next frame is the JSON object want (same fields, same values,
// same JSON types).
func (c *tclient) expect(want string) {
	c.t.Helper()
	got := c.next()
	if !jsonEqual(got, []byte(want)) {
		c.t.Fatalf("%s: got %s, want %s", c.name, got, want)
	}
}

// expectBytes checks that the next frame is exactly want, byte for byte.
func (c *tclient) expectBytes(want string) {
	c.t.Helper()
	if got := c.next(); !bytes.Equal(got, []byte(want)) {
		c.t.Fatalf("%s: got %q, want exactly %q", c.name, got, want)
	}
}

// expectError checks that the next frame is an error reply with the given code.
func (c *tclient) expectError(code int) {
	c.t.Helper()
	got := c.next()
	var m struct {
		Cmd    string   `json:"cmd"`
		Code   int      `json:"code"`
		Reason string   `json:"reason"`
		Extra  struct{} `json:"-"`
	}
	if err := json.Unmarshal(got, &m); err != nil || m.Cmd != CmdError || m.Code != code || m.Reason == "" {
		c.t.Fatalf("%s: got %s, want an error with code %d and a reason", c.name, got, code)
	}
	var fields map[string]any
	_ = json.Unmarshal(got, &fields)
	if len(fields) != 3 {
		c.t.Fatalf("%s: error reply %s has fields other than cmd, code, reason", c.name, got)
	}
}

// silent checks that nothing arrives for silenceFor.
func (c *tclient) silent() {
	c.t.Helper()
	select {
	case f := <-c.in:
		c.t.Fatalf("%s: expected silence, got %s", c.name, f.data)
	case <-time.After(silenceFor):
	}
}

// expectClose waits for the connection to end with the given close code.
func (c *tclient) expectClose(code int) {
	c.t.Helper()
	for {
		select {
		case f := <-c.in:
			c.t.Fatalf("%s: expected close %d, got frame %s", c.name, code, f.data)
		case <-c.done:
			if !websocket.IsCloseError(c.err, code) {
				c.t.Fatalf("%s: connection ended with %v, want close code %d", c.name, c.err, code)
			}
			return
		case <-time.After(waitFor):
			c.t.Fatalf("%s: no close within %v", c.name, waitFor)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// call puts two clients "a" and "b" into room, checking the join handshake on the way.
func (e *srvEnv) call(t *testing.T, room string) (a, b *tclient) {
	t.Helper()
	a, b = e.dial(t, "a"), e.dial(t, "b")
	a.join(room, `"a"`)
	a.sync()
	b.join(room, `"b"`)
	a.expect(`{"cmd":"new-peer","remoteUid":"b"}`)
	b.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
	return a, b
}

// offer is an offer from a to b in room; relays must arrive byte for byte.
func offer(room, from, to, sdp string) string {
	return fmt.Sprintf(`{"cmd":"offer","roomId":%s,"uid":%q,"remoteUid":%q,"msg":%q}`, room, from, to,
		fmt.Sprintf(`{"type":"offer","sdp":%q}`, sdp))
}

// proveRelay checks that a can still relay to b (and b to a) in room.
func proveRelay(a, b *tclient, room string) {
	a.t.Helper()
	m := offer(room, "a", "b", "v=0 proof")
	a.send(m)
	b.expectBytes(m)
	m = fmt.Sprintf(`{"cmd":"answer","roomId":%s,"uid":"b","remoteUid":"a","msg":"{\"type\":\"answer\",\"sdp\":\"v=0\"}"}`, room)
	b.send(m)
	a.expectBytes(m)
}

// badFrame is one invalid input and the error code the server must answer with.
type badFrame struct {
	name   string
	binary bool
	data   string
	code   int
}

var badFrames = []badFrame{
	{name: "not JSON", data: `hello {`, code: CodeMalformed},
	{name: "truncated JSON", data: `{"cmd":"join","roomId":"r"`, code: CodeMalformed},
	{name: "null", data: `null`, code: CodeMalformed},
	{name: "array", data: `[{"cmd":"join","roomId":"r","uid":"a"}]`, code: CodeMalformed},
	{name: "number", data: `42`, code: CodeMalformed},
	{name: "empty", data: ``, code: CodeMalformed},
	{name: "invalid UTF-8", data: "{\"cmd\":\"offer\",\"roomId\":\"r\",\"uid\":\"a\",\"remoteUid\":\"b\",\"msg\":\"\xff\xfe\"}", code: CodeMalformed},
	{name: "missing cmd", data: `{"roomId":"r","uid":"a"}`, code: CodeMalformed},
	{name: "cmd not a string", data: `{"cmd":7,"roomId":"r","uid":"a"}`, code: CodeMalformed},
	{name: "unknown cmd", data: `{"cmd":"dance","roomId":"r","uid":"a"}`, code: CodeUnknownCmd},
	{name: "server-only cmd", data: `{"cmd":"new-peer","remoteUid":"b"}`, code: CodeUnknownCmd},
	{name: "roomId object", data: `{"cmd":"join","roomId":{"id":1},"uid":"x"}`, code: CodeBadField},
	{name: "uid bool", data: `{"cmd":"join","roomId":"q","uid":true}`, code: CodeBadField},
	{name: "msg not a string", data: `{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":{"type":"offer"}}`, code: CodeBadField},
	{name: "missing remoteUid", data: `{"cmd":"candidate","roomId":"r","uid":"a","msg":"{}"}`, code: CodeBadField},
	{name: "missing msg", data: `{"cmd":"answer","roomId":"r","uid":"a","remoteUid":"b"}`, code: CodeBadField},
	{name: "join without uid", data: `{"cmd":"join","roomId":"r"}`, code: CodeBadField},
	{name: "roomId too long", data: `{"cmd":"join","roomId":"` + strings.Repeat("r", 300) + `","uid":"a"}`, code: CodeBadField},
	{name: "binary", binary: true, data: `{"cmd":"join","roomId":"r","uid":"a"}`, code: CodeBinary},
}

type serverCase struct {
	name string
	cfg  ServerConfig
	run  func(t *testing.T, e *srvEnv)
}

func serverCases() []serverCase {
	cases := []serverCase{
		{name: "first joiner gets nothing", run: func(t *testing.T, e *srvEnv) {
			a := e.dial(t, "a")
			a.join(`"r"`, `"a"`)
			a.silent()
			if st := e.srv.Stats(); st.Rooms != 1 || st.Members != 1 {
				t.Fatalf("stats %+v, want 1 room with 1 member", st)
			}
		}},
		{name: "second joiner: new-peer to member, resp-join to joiner", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			a.silent()
			b.silent()
		}},
		{name: "numeric uids keep their type", run: func(t *testing.T, e *srvEnv) {
			a, b := e.dial(t, "a"), e.dial(t, "b")
			a.join(`"r"`, `7`)
			a.sync()
			b.join(`"r"`, `"8"`)
			a.expectBytes(`{"cmd":"new-peer","remoteUid":"8"}`)
			b.expectBytes(`{"cmd":"resp-join","remoteUid":7}`)
		}},
		{name: "relay offer, answer and candidate byte for byte", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			frames := []struct {
				from, to *tclient
				data     string
			}{
				// Whitespace, key order, escapes and extra fields survive unchanged.
				{a, b, `{ "cmd" : "offer", "uid":"a", "roomId":"r", "remoteUid":"b", "msg":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n\\u00e9\"}", "x":1.0e2 }`},
				{b, a, `{"cmd":"answer","roomId":"r","uid":"b","remoteUid":"a","msg":"{\"sdp\":\"v=0\\r\\n\",\"type\":\"answer\"}"}`},
				{a, b, `{"cmd":"candidate","roomId":"r","uid":"a","remoteUid":"b","msg":"{\"label\":0,\"id\":\"0\",\"candidate\":\"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\"}"}`},
				{b, a, `{"cmd":"candidate","roomId":"r","uid":"b","remoteUid":"a","msg":"{\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 5 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"u\"}"}`},
			}
			for _, f := range frames {
				f.from.send(f.data)
				f.to.expectBytes(f.data)
			}
			a.silent()
			b.silent()
			if got := e.srv.Stats().Relayed; got != 4 {
				t.Fatalf("Relayed = %d, want 4", got)
			}
			if strings.Contains(e.logs.all(), "v=0") || strings.Contains(e.logs.all(), "candidate:1") {
				t.Fatalf("a message body was logged:\n%s", e.logs.all())
			}
		}},
		{name: "leave sends peer-leave and frees the room", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			a.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
			a.silent()
			b.send(`{"cmd":"leave","roomId":"r","uid":"b"}`)
			b.silent()
			if st := e.srv.Stats(); st.Rooms != 0 || st.Members != 0 || st.Conns != 2 {
				t.Fatalf("stats %+v, want no rooms and 2 connections", st)
			}
			// A later join starts a new call in the same room.
			a.join(`"r"`, `"a"`)
			a.silent()
			a.sync()
			b.join(`"r"`, `"b"`)
			a.expect(`{"cmd":"new-peer","remoteUid":"b"}`)
			b.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
		}},
		{name: "closing the socket sends peer-leave", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			a.ws.Close()
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
			b.silent()
		}},
		{name: "close handshake sends peer-leave", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			_ = a.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
		}},
		{name: "third joiner gets full and nothing else changes", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			c := e.dial(t, "c")
			c.join(`"r"`, `"c"`)
			c.expectBytes(`{"cmd":"full","roomId":"r","uid":"c"}`)
			e.logs.want(t, `join room="r" uid="c": room full`)
			a.silent()
			b.silent()
			proveRelay(a, b, `"r"`)
			// The refused joiner's close must not disturb the call (no wipe quirk).
			c.ws.Close()
			<-c.done
			a.silent()
			proveRelay(a, b, `"r"`)
			// A member re-sending its own join is a no-op, not "full".
			a.join(`"r"`, `"a"`)
			a.silent()
			b.silent()
			a.ws.Close()
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
		}},
		{name: "numeric and string roomId are different rooms", run: func(t *testing.T, e *srvEnv) {
			a, b := e.dial(t, "a"), e.dial(t, "b")
			a.join(`100`, `"a"`)
			b.join(`"100"`, `"b"`)
			a.sync()
			b.sync()
			a.silent()
			b.silent()
			if st := e.srv.Stats(); st.Rooms != 2 {
				t.Fatalf("Rooms = %d, want 2", st.Rooms)
			}
			c := e.dial(t, "c")
			c.join(`1.0e2`, `"c"`) // the same number as 100
			a.expect(`{"cmd":"new-peer","remoteUid":"c"}`)
			c.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
			b.silent()
		}},
		{name: "application ping is answered with ping", run: func(t *testing.T, e *srvEnv) {
			a := e.dial(t, "a")
			a.send(`{"cmd":"ping"}`)
			a.expectBytes(`{"cmd":"ping"}`)
			a.send(`{"cmd":"pong"}`)
			a.silent()
		}},
		{name: "any upgrade path is accepted", run: func(t *testing.T, e *srvEnv) {
			for _, p := range []string{"/", "/ws", "/anything?x=1"} {
				c, _, err := e.tryDial(t, p, p, nil)
				if err != nil {
					t.Fatalf("dial %s: %v", p, err)
				}
				c.send(`{"cmd":"ping"}`)
				c.expectBytes(`{"cmd":"ping"}`)
			}
		}},
		{name: "oversized frame: error 1009, close 1009, others unaffected", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			x, y := e.call(t, `"other"`)
			big := offer(`"r"`, "a", "b", strings.Repeat("x", 65*1024))
			a.send(big)
			a.expectError(CodeTooBig)
			a.expectClose(websocket.CloseMessageTooBig)
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
			proveRelay(x, y, `"other"`)
			// A frame just under the limit still passes.
			c := e.dial(t, "c")
			c.join(`"r"`, `"a"`)
			b.expect(`{"cmd":"new-peer","remoteUid":"a"}`)
			c.expect(`{"cmd":"resp-join","remoteUid":"b"}`)
			ok := offer(`"r"`, "a", "b", strings.Repeat("x", 60*1024))
			c.send(ok)
			b.expectBytes(ok)
		}},
		{name: "oversized frame from a fast sender: no reset, the client sees 1009", run: func(t *testing.T, e *srvEnv) {
			// protocol.md: closing with the rest of the frame unread resets the connection,
			// and a client still writing never sees the close code. 8 MiB is more than the
			// loopback socket buffers hold, so without draining the write below fails with
			// "connection reset by peer". The client reads only after writing, like a
			// single-threaded client would.
			huge := bytes.Repeat([]byte("x"), 8<<20)
			d := websocket.Dialer{HandshakeTimeout: waitFor}
			for range 3 {
				ws, _, err := d.Dial(e.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				_ = ws.SetWriteDeadline(time.Now().Add(waitFor))
				if err := ws.WriteMessage(websocket.TextMessage, huge); err != nil {
					t.Fatalf("writing the oversized frame: %v (the server did not drain it)", err)
				}
				_ = ws.SetReadDeadline(time.Now().Add(waitFor))
				_, got, err := ws.ReadMessage()
				if err != nil || !bytes.HasPrefix(got, []byte(`{"cmd":"error","code":1009,`)) {
					t.Fatalf("got %s, %v; want the 1009 error reply", got, err)
				}
				if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
					t.Fatalf("got %v, want close 1009", err)
				}
			}
		}},
		{name: "uid spoofing is refused and not delivered", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			x, y := e.call(t, `"other"`)
			z := e.dial(t, "z") // joined nothing
			z.send(offer(`"r"`, "a", "b", "v=0 spoof"))
			z.expectError(CodeNotMember)
			x.send(offer(`"r"`, "a", "b", "v=0 spoof")) // member elsewhere
			x.expectError(CodeNotMember)
			b.send(offer(`"r"`, "a", "b", "v=0 spoof")) // member of r, other uid
			b.expectError(CodeNotMember)
			z.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			z.silent() // in no room: ignored, and a stays in r (proveRelay below)
			b.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			b.expectError(CodeNotMember)
			a.silent()
			b.silent()
			y.silent()
			proveRelay(a, b, `"r"`)
			if st := e.srv.Stats(); st.Members != 4 {
				t.Fatalf("Members = %d, want 4", st.Members)
			}
		}},
		{name: "relay to a remoteUid outside the room is refused", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			x, _ := e.call(t, `"other"`) // has members "a" and "b" too
			a.send(offer(`"r"`, "a", "zz", "v=0"))
			a.expectError(CodeNoPeer)
			a.send(offer(`"r"`, "a", "a", "v=0")) // to itself
			a.expectError(CodeNoPeer)
			x.silent()
			// uids are per room: "a" of room "other" is no peer of room "solo".
			lone := e.dial(t, "lone")
			lone.join(`"solo"`, `"s"`)
			lone.send(offer(`"solo"`, "s", "a", "v=0"))
			lone.expectError(CodeNoPeer)
			b.silent()
			proveRelay(a, b, `"r"`)
		}},
		{name: "leave by a non-member is ignored", run: func(t *testing.T, e *srvEnv) {
			a := e.dial(t, "a")
			a.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			a.silent()
			a.join(`"r"`, `"a"`)
			a.silent()
			// A second leave after leaving (a double click) is ignored too, and the
			// connection still works.
			b := e.dial(t, "b")
			b.join(`"r"`, `"b"`)
			b.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
			a.expect(`{"cmd":"new-peer","remoteUid":"b"}`)
			a.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
			a.send(`{"cmd":"leave","roomId":"r","uid":"a"}`)
			a.silent()
			b.silent()
			if st := e.srv.Stats(); st.Members != 1 {
				t.Fatalf("Members = %d, want 1 (b)", st.Members)
			}
			a.join(`"r"`, `"a"`)
			a.expect(`{"cmd":"resp-join","remoteUid":"b"}`)
		}},
		{name: "rejoin from a new connection replaces the old one", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			a2 := e.dial(t, "a2")
			a2.join(`"r"`, `"a"`)
			a.expectBytes(`{"cmd":"replaced","roomId":"r","uid":"a"}`)
			a.expectClose(websocket.CloseNormalClosure)
			b.expect(`{"cmd":"new-peer","remoteUid":"a"}`)
			a2.expect(`{"cmd":"resp-join","remoteUid":"b"}`)
			b.silent() // the old connection's close sends no peer-leave
			m := offer(`"r"`, "b", "a", "v=0 to new")
			b.send(m)
			a2.expectBytes(m)
			if st := e.srv.Stats(); st.Replaced != 1 || st.Members != 2 {
				t.Fatalf("stats %+v, want Replaced 1, Members 2", st)
			}
		}},
		{name: "join to another room leaves the first", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			a.join(`"r2"`, `"a"`)
			b.expect(`{"cmd":"peer-leave","remoteUid":"a"}`)
			a.silent()
			b.send(offer(`"r"`, "b", "a", "v=0"))
			b.expectError(CodeNoPeer)
			c := e.dial(t, "c")
			c.join(`"r2"`, `"c"`)
			a.expect(`{"cmd":"new-peer","remoteUid":"c"}`)
			c.expect(`{"cmd":"resp-join","remoteUid":"a"}`)
		}},
		{name: "idle client that stops answering pings is evicted",
			// Idle 1 s rather than 300 ms: the healthy client must never miss it on a busy
			// machine under -race.
			cfg: ServerConfig{PingInterval: 100 * time.Millisecond, IdleTimeout: time.Second},
			run: func(t *testing.T, e *srvEnv) {
				// mute never reads, so gorilla never answers the server's pings.
				d := websocket.Dialer{HandshakeTimeout: waitFor}
				mute, _, err := d.Dial(e.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer mute.Close()
				if err := mute.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"join","roomId":"r","uid":"m"}`)); err != nil {
					t.Fatal(err)
				}
				b := e.dial(t, "b") // its reader answers pings
				// Let the join land first, then b joins.
				deadline := time.Now().Add(waitFor)
				for e.srv.Stats().Members != 1 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				b.join(`"r"`, `"b"`)
				b.expect(`{"cmd":"resp-join","remoteUid":"m"}`)
				start := time.Now()
				b.expect(`{"cmd":"peer-leave","remoteUid":"m"}`)
				if el := time.Since(start); el > 3*time.Second {
					t.Fatalf("eviction took %v", el)
				}
				// b answered pings all along and stays.
				time.Sleep(1500 * time.Millisecond)
				b.send(`{"cmd":"ping"}`)
				b.expectBytes(`{"cmd":"ping"}`)
				e.logs.want(t, "evicted: silent for 1s")
				e.logs.want(t, `gone room="r" uid="m" members=1`)
				if st := e.srv.Stats(); st.Evicted != 1 || st.Conns != 1 {
					t.Fatalf("stats %+v, want Evicted 1, Conns 1", st)
				}
			}},
		{name: "idle client without server pings is told why it is closed",
			cfg: ServerConfig{PingInterval: -1, IdleTimeout: 300 * time.Millisecond},
			run: func(t *testing.T, e *srvEnv) {
				a := e.dial(t, "a")
				a.expectClose(websocket.CloseGoingAway)
				e.logs.want(t, "evicted: silent for 300ms")
			}},
		{name: "rate limit: burst passes, then error 429, connection kept",
			cfg: ServerConfig{RatePerSec: 10, Now: frozenClock()},
			run: func(t *testing.T, e *srvEnv) {
				a := e.dial(t, "a")
				for range 25 {
					a.send(`{"cmd":"ping"}`)
				}
				for range 20 { // burst = 2*rate
					a.expectBytes(`{"cmd":"ping"}`)
				}
				a.expectError(CodeRateLimited)
				a.silent() // the other 4 were dropped, one 429 per second at most
				if st := e.srv.Stats(); st.RateLimited != 5 {
					t.Fatalf("RateLimited = %d, want 5", st.RateLimited)
				}
			}},
		{name: "rate limit: sustained abuse is closed with 1008",
			cfg: ServerConfig{RatePerSec: 1, RateBurst: 2, Now: frozenClock()},
			run: func(t *testing.T, e *srvEnv) {
				a := e.dial(t, "a")
				for range 2 + abuseFactor*2 {
					a.send(`{"cmd":"ping"}`)
				}
				a.expectBytes(`{"cmd":"ping"}`)
				a.expectBytes(`{"cmd":"ping"}`)
				a.expectError(CodeRateLimited)
				a.expectClose(websocket.ClosePolicyViolation)
			}},
		{name: "MaxConns: one more gets 503", cfg: ServerConfig{MaxConns: 2}, run: func(t *testing.T, e *srvEnv) {
			a := e.dial(t, "a")
			e.dial(t, "b")
			_, resp, err := e.tryDial(t, "c", "/", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("third dial: err %v, resp %v; want HTTP 503", err, resp)
			}
			a.ws.Close()
			<-a.done
			deadline := time.Now().Add(waitFor)
			for e.srv.Stats().Conns != 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			c := e.dial(t, "c") // a slot is free again
			c.send(`{"cmd":"ping"}`)
			c.expectBytes(`{"cmd":"ping"}`)
			if st := e.srv.Stats(); st.Refused != 1 {
				t.Fatalf("Refused = %d, want 1", st.Refused)
			}
		}},
		{name: "any Origin is accepted by default", run: func(t *testing.T, e *srvEnv) {
			hdr := http.Header{"Origin": {"https://course.example:443"}}
			if _, resp, err := e.tryDial(t, "x", "/ws", hdr); err != nil {
				t.Fatalf("cross-origin dial refused: %v (%v)", err, resp)
			}
		}},
		{name: "AllowedOrigins refuses other origins with 403",
			cfg: ServerConfig{AllowedOrigins: []string{"https://good.example"}},
			run: func(t *testing.T, e *srvEnv) {
				_, resp, err := e.tryDial(t, "evil", "/", http.Header{"Origin": {"https://evil.example"}})
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("evil origin: err %v, resp %v; want HTTP 403", err, resp)
				}
				if _, _, err := e.tryDial(t, "good", "/", http.Header{"Origin": {"https://GOOD.example"}}); err != nil {
					t.Fatalf("allowed origin refused: %v", err)
				}
				if _, _, err := e.tryDial(t, "native", "/", nil); err != nil {
					t.Fatalf("client without Origin refused: %v", err)
				}
			}},
		{name: "slow reader is dropped, not waited for",
			cfg: ServerConfig{RatePerSec: -1, WriteQueue: 8},
			run: func(t *testing.T, e *srvEnv) {
				a := e.dial(t, "a")
				a.join(`"r"`, `"a"`)
				a.sync()
				d := websocket.Dialer{HandshakeTimeout: waitFor}
				mute, _, err := d.Dial(e.url, nil) // never reads
				if err != nil {
					t.Fatal(err)
				}
				defer mute.Close()
				if err := mute.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"join","roomId":"r","uid":"m"}`)); err != nil {
					t.Fatal(err)
				}
				a.expect(`{"cmd":"new-peer","remoteUid":"m"}`)
				m := offer(`"r"`, "a", "m", strings.Repeat("x", 32*1024))
				deadline := time.Now().Add(20 * time.Second)
				for i := 0; ; i++ {
					if time.Now().After(deadline) {
						t.Fatalf("slow reader not dropped after %d messages", i)
					}
					if e.srv.Stats().DroppedSlow == 1 {
						break
					}
					a.send(m)
				}
				a.expect(`{"cmd":"peer-leave","remoteUid":"m"}`)
			}},
		{name: "Shutdown sends close 1001 and refuses new connections", run: func(t *testing.T, e *srvEnv) {
			a, b := e.call(t, `"r"`)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			a.expectClose(websocket.CloseGoingAway)
			b.expectClose(websocket.CloseGoingAway)
			_, resp, err := e.tryDial(t, "late", "/", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("dial after Shutdown: err %v, resp %v; want 503", err, resp)
			}
		}},
		{name: "Shutdown cuts a client that does not answer the close", run: func(t *testing.T, e *srvEnv) {
			d := websocket.Dialer{HandshakeTimeout: waitFor}
			mute, _, err := d.Dial(e.url, nil) // never reads, never answers the close
			if err != nil {
				t.Fatal(err)
			}
			defer mute.Close()
			deadline := time.Now().Add(waitFor)
			for e.srv.Stats().Conns != 1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		}},
		{name: "random frames never break the server", cfg: ServerConfig{RatePerSec: -1},
			run: func(t *testing.T, e *srvEnv) {
				a, b := e.call(t, `"r"`)
				x := e.dial(t, "x")
				rng := rand.New(rand.NewPCG(1, 2))
				pieces := []string{`{`, `}`, `[`, `]`, `"cmd"`, `:`, `,`, `"join"`, `"offer"`, `"leave"`,
					`"roomId"`, `"uid"`, `"remoteUid"`, `"msg"`, `"q"`, `"a"`, `"b"`, `1e999`, `null`, `true`,
					`"\u0000"`, `"\ud800"`, "\xff", ` `, `-0`, `{"cmd":"candidate","roomId":"r","uid":"a","remoteUid":"b"`}
				for range 400 {
					var sb strings.Builder
					for range rng.IntN(12) {
						sb.WriteString(pieces[rng.IntN(len(pieces))])
					}
					x.send(sb.String())
				}
				// x was answered (errors, or nothing for frames that happen to be valid; the
				// replies are best effort, so a flood loses some) and still works: once the
				// replies have drained, its ping is answered.
				for drained := false; !drained; {
					select {
					case f := <-x.in:
						if !bytes.HasPrefix(f.data, []byte(`{"cmd":"error","code":`)) {
							t.Fatalf("unexpected reply %s", f.data)
						}
					case <-x.done:
						t.Fatalf("x dropped: %v", x.err)
					case <-time.After(silenceFor):
						drained = true
					}
				}
				x.send(`{"cmd":"ping"}`)
				for i := 0; ; i++ {
					got := x.next()
					if string(got) == `{"cmd":"ping"}` {
						break
					}
					if i > 400 || !bytes.HasPrefix(got, []byte(`{"cmd":"error","code":`)) {
						t.Fatalf("unexpected reply %s", got)
					}
				}
				b.silent()
				proveRelay(a, b, `"r"`)
				if st := e.srv.Stats(); st.Panics != 0 {
					t.Fatalf("%d panics", st.Panics)
				}
			}},
		{name: "a flood of bad frames loses replies, not the connection", cfg: ServerConfig{RatePerSec: -1, WriteQueue: 8},
			run: func(t *testing.T, e *srvEnv) {
				x := e.dial(t, "x")
				for range 300 {
					x.send(`null`)
				}
				got := 0
				for drained := false; !drained; {
					select {
					case f := <-x.in:
						if !bytes.HasPrefix(f.data, []byte(`{"cmd":"error","code":400,`)) {
							t.Fatalf("unexpected reply %s", f.data)
						}
						got++
					case <-x.done:
						t.Fatalf("x dropped: %v", x.err)
					case <-time.After(silenceFor):
						drained = true
					}
				}
				x.sync()
				if st := e.srv.Stats(); st.DroppedSlow != 0 || st.Errors != 300 || got == 0 {
					t.Fatalf("stats %+v, %d replies received", st, got)
				}
				if n := strings.Count(e.logs.all(), "error 400"); n > 10 {
					t.Fatalf("%d error lines logged for one flood; want a few", n)
				}
			}},
		{name: "concurrent churn leaves consistent state", cfg: ServerConfig{RatePerSec: -1},
			run: func(t *testing.T, e *srvEnv) {
				var wg sync.WaitGroup
				for i := range 40 {
					c := e.dial(t, fmt.Sprintf("c%d", i))
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(i), 7))
						for range 60 {
							room, uid, peer := rng.IntN(5), rng.IntN(4), rng.IntN(4)
							var f string
							switch rng.IntN(4) {
							case 0:
								f = fmt.Sprintf(`{"cmd":"join","roomId":"%d","uid":"%d"}`, room, uid)
							case 1:
								f = fmt.Sprintf(`{"cmd":"leave","roomId":"%d","uid":"%d"}`, room, uid)
							default:
								f = offer(fmt.Sprintf(`"%d"`, room), fmt.Sprint(uid), fmt.Sprint(peer), "v=0")
							}
							if c.ws.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
								return // replaced and closed by another client's join
							}
						}
						c.ws.Close()
					}()
				}
				wg.Wait()
				deadline := time.Now().Add(waitFor)
				for time.Now().Before(deadline) {
					if st := e.srv.Stats(); st.Conns == 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if st := e.srv.Stats(); st.Conns != 0 || st.Rooms != 0 || st.Members != 0 || st.Panics != 0 {
					t.Fatalf("after every client closed: %+v", st)
				}
			}},
	}
	for _, bf := range badFrames {
		cases = append(cases, serverCase{
			name: "bad frame: " + bf.name + ": error to sender, connection and other rooms keep working",
			run: func(t *testing.T, e *srvEnv) {
				a, b := e.call(t, `"r"`)
				x, y := e.call(t, `"other"`)
				typ := websocket.TextMessage
				if bf.binary {
					typ = websocket.BinaryMessage
				}
				if err := a.ws.WriteMessage(typ, []byte(bf.data)); err != nil {
					t.Fatal(err)
				}
				a.expectError(bf.code)
				b.silent()
				proveRelay(a, b, `"r"`)
				proveRelay(x, y, `"other"`)
				if st := e.srv.Stats(); st.Errors != 1 || st.Members != 4 {
					t.Fatalf("stats %+v, want 1 error and 4 members", st)
				}
			},
		})
	}
	return cases
}

// frozenClock returns a clock that never moves, so token buckets never refill.
func frozenClock() func() time.Time {
	t0 := time.Now()
	return func() time.Time { return t0 }
}

func TestServer(t *testing.T) {
	for _, tc := range serverCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, startServer(t, tc.cfg))
		})
	}
}

func TestServerConfigDefaults(t *testing.T) {
	c := ServerConfig{}.withDefaults()
	if c.MaxMessageBytes != 64<<10 || c.PingInterval != 10*time.Second || c.IdleTimeout != 30*time.Second ||
		c.MaxConns != 10000 || c.RatePerSec != 50 || c.RateBurst != 100 {
		t.Fatalf("defaults %+v", c)
	}
	if c.IdleTimeout <= c.PingInterval {
		t.Fatalf("IdleTimeout %v must exceed PingInterval %v or healthy clients get evicted", c.IdleTimeout, c.PingInterval)
	}
	if int64(c.WriteQueueBytes) < 2*c.MaxMessageBytes {
		t.Fatalf("WriteQueueBytes %d cannot hold a maximal relay", c.WriteQueueBytes)
	}
}

// FuzzServerFastDecode checks the server's fast path against Decode: whatever fastDecode
// accepts must be valid JSON that Decode accepts with the same command and ids (msg is
// only compared for presence).
func FuzzServerFastDecode(f *testing.F) {
	f.Add([]byte(`{"cmd":"join","roomId":"100","uid":"a"}`))
	f.Add([]byte(`{"cmd":"join","roomId":100,"uid":-7}`))
	f.Add([]byte(`{"cmd":"leave","roomId":"r","uid":"a"}`))
	f.Add([]byte(` {"cmd" : "candidate", "roomId":"r","uid":"a","remoteUid":"b","msg":"{\"label\":0,\"id\":\"0\",\"candidate\":\"candidate:1 1 udp 1 127.0.0.1 5 typ host\"}"} `))
	f.Add(relayFrame("room1", "a", "b", "o"))
	f.Add([]byte(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":""}`))
	f.Add([]byte(`{"cmd":"offer","roomId":"r","uid":"a","remoteUid":"b","msg":"\u00e9\ud800"}`))
	f.Add([]byte(`{"cmd":"join","roomId":"<r>","uid":"a\u0041"}`))
	f.Add([]byte(`{"cmd":"join","roomId":1.0e2,"uid":0}`))
	f.Add([]byte(`{"cmd":"join","cmd":"leave","roomId":"r","uid":"a"}`))
	f.Add([]byte(`{"CMD":"join","roomId":"r","uid":"a"}`))
	f.Add([]byte(`{"cmd":"ping"}`))
	for _, bf := range badFrames {
		f.Add([]byte(bf.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fm, ok := fastDecode(data)
		if !ok {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("fast path accepted invalid JSON %q", data)
		}
		dm, err := Decode(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, Decode refuses it: %v", data, err)
		}
		if fm.Cmd != dm.Cmd || fm.RoomID != dm.RoomID || fm.UID != dm.UID || fm.RemoteUID != dm.RemoteUID ||
			(fm.Msg != "") != (dm.Msg != "") || dm.Code != 0 || dm.Reason != "" {
			t.Fatalf("%q: fast path %+v, Decode %+v", data, fm, dm)
		}
	})
}

// TestServerShutdownLeavesNoGoroutine runs alone (not parallel): after Shutdown no
// goroutine of any Server may remain, whatever state its connections were in.
func TestServerShutdownLeavesNoGoroutine(t *testing.T) {
	srv := NewServer(ServerConfig{PingInterval: 50 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	e := &srvEnv{srv: srv, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http"), logs: &logBuf{}}
	a, b := e.call(t, `"r"`)
	proveRelay(a, b, `"r"`)
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	mute, _, err := d.Dial(e.url, nil) // never reads: its close handshake never completes
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "signal.(*conn)") && !strings.Contains(stacks, "signal.(*Server)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server goroutines left after Shutdown:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
