// Package signaltest holds test helpers for the room signaling protocol: a faithful
// in-process stand-in of the original Node.js server (signal_server.js on
// nodejs-websocket), quirks included, so that tests can prove rtcctl works against the
// servers deployed in the wild.
//
// Where protocol.md is silent the stand-in follows the shape of the course's
// signal_server.js: a joiner is told about members whose uid is != (loose equality) its
// own, so uids 100 and "100" in one room hear nothing of each other; the close handler
// ("force leave") checks membership first, so a leave followed by a close sends one
// peer-leave; a member entry is looked up with ===. Frames are decoded as text with
// invalid UTF-8 replaced, as Buffer.toString does.
package signaltest

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// LegacyMaxFrame is the original server's frame limit (nodejs-websocket's default
// maxBufferLength, 2 MiB); a larger frame gets close code 1009.
const LegacyMaxFrame = 2 << 20

// tooBigDrain is how long the stand-in keeps reading after sending 1009, so that the
// client sees the close frame instead of a connection reset (see protocol.md).
const tooBigDrain = time.Second

// Legacy is the stand-in of the original server. It behaves as protocol.md's "How the
// original server really behaves" describes: rooms and uids compared as exact JSON values,
// silence to a first joiner and to a third joiner (whose own membership record is wiped),
// relays re-serialised like JSON.stringify, unknown remoteUid dropped, leave by a
// non-member still broadcast, binary frames ignored, 2 MiB frame limit (1009), any path
// and Origin accepted, WebSocket pings answered; and a non-JSON or "null" text frame kills
// the whole "process": the listener closes and every client is dropped without a close
// frame (1006).
//
// Every message is handled under one lock, like Node's single event loop; sends are
// queued per connection (Node's sendText never blocks the loop).
type Legacy struct {
	url    string
	caFile string
	ln     net.Listener
	srv    *http.Server
	up     websocket.Upgrader

	mu      sync.Mutex // the event loop
	rooms   []*legacyRoom
	conns   map[*legacyConn]struct{}
	dead    bool // crashed
	closed  bool // shut down by Close
	reason  string
	crashed chan struct{}
	logs    []string

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// legacyRoom is one entry of roomTableMap.
type legacyRoom struct {
	key     *jsValue
	members *legacyMap
}

// legacyMap is the original's ZeroRTCMap of uid -> client: an array searched with ===.
type legacyMap struct {
	entries []*legacyEntry
}

type legacyEntry struct {
	key    *jsValue
	client *legacyClient
}

// legacyClient is the original's Client{uid, conn, roomId}.
type legacyClient struct {
	uid, roomID *jsValue
	conn        *legacyConn
}

// legacyConn is one WebSocket connection with its queued sends.
type legacyConn struct {
	ws     *websocket.Conn
	client *legacyClient // conn.client: the last successful join, null after a full join

	qmu       sync.Mutex
	queue     []string
	stopped   bool // no more sends (socket gone)
	flushKill bool // crash: write what is queued, then drop the TCP connection
	notify    chan struct{}
	done      chan struct{}
}

func nullish(v *jsValue) bool { return v == nil || v.kind == jsNull }

func (m *legacyMap) index(key *jsValue) int {
	if nullish(key) {
		return -1
	}
	for i, e := range m.entries {
		if strictEqual(e.key, key) {
			return i
		}
	}
	return -1
}

func (m *legacyMap) get(key *jsValue) *legacyClient {
	if i := m.index(key); i >= 0 {
		return m.entries[i].client
	}
	return nil
}

func (m *legacyMap) put(key *jsValue, c *legacyClient) {
	if nullish(key) {
		return
	}
	if i := m.index(key); i >= 0 {
		m.entries[i].client = c
		return
	}
	m.entries = append(m.entries, &legacyEntry{key: key, client: c})
}

func (m *legacyMap) remove(key *jsValue) {
	if i := m.index(key); i >= 0 {
		m.entries = append(m.entries[:i:i], m.entries[i+1:]...)
	}
}

func (m *legacyMap) contains(key *jsValue) bool { return m.index(key) >= 0 }

// NewLegacy returns a stand-in that is not listening; use it as an http.Handler (for
// example inside an httptest TLS server). A crash then drops the connections but cannot
// close the caller's listener. Most tests want StartLegacy.
func NewLegacy() *Legacy {
	return &Legacy{
		conns:   map[*legacyConn]struct{}{},
		crashed: make(chan struct{}),
		up: websocket.Upgrader{
			CheckOrigin:     func(*http.Request) bool { return true }, // the original never checks
			ReadBufferSize:  16 << 10,
			WriteBufferSize: 16 << 10,
		},
	}
}

// StartLegacy starts a stand-in on 127.0.0.1 (ephemeral port); it is closed by
// tb.Cleanup, which also prints its log when the test failed.
func StartLegacy(tb testing.TB) *Legacy {
	tb.Helper()
	l := NewLegacy()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("signaltest: listen: %v", err)
	}
	l.ln = ln
	l.url = "ws://" + ln.Addr().String() + "/ws"
	l.serve()
	l.cleanup(tb)
	return l
}

// StartLegacyTLS is StartLegacy behind TLS (wss://127.0.0.1:port/ws) with a self-signed
// certificate for 127.0.0.1; CAFile names its PEM.
func StartLegacyTLS(tb testing.TB) *Legacy {
	tb.Helper()
	l := NewLegacy()
	// httptest's certificate is valid for 127.0.0.1, ::1 and example.com.
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS()
	cert, leaf := ts.TLS, ts.Certificate()
	ts.Close()
	caFile := filepath.Join(tb.TempDir(), "legacy-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		tb.Fatalf("signaltest: write CA: %v", err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("signaltest: listen: %v", err)
	}
	l.ln = tls.NewListener(raw, &tls.Config{Certificates: cert.Certificates, NextProtos: []string{"http/1.1"}})
	l.url = "wss://" + raw.Addr().String() + "/ws"
	l.caFile = caFile
	l.serve()
	l.cleanup(tb)
	return l
}

func (l *Legacy) serve() {
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(legacyLogWriter{l}, "http: ", 0)} // TLS handshake errors go to Logs, not stderr
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = l.srv.Serve(l.ln)
	}()
}

func (l *Legacy) cleanup(tb testing.TB) {
	tb.Cleanup(func() {
		l.Close()
		if tb.Failed() {
			logs := l.Logs()
			if len(logs) > 60 {
				logs = logs[len(logs)-60:]
			}
			tb.Logf("legacy server log (last %d lines):\n%s", len(logs), strings.Join(logs, "\n"))
		}
	})
}

// URL is ws://127.0.0.1:port/ws (wss:// for StartLegacyTLS). Any path works.
func (l *Legacy) URL() string { return l.url }

// Addr is host:port.
func (l *Legacy) Addr() string {
	if l.ln == nil {
		return ""
	}
	return l.ln.Addr().String()
}

// CAFile is the PEM of the TLS certificate (StartLegacyTLS), else "".
func (l *Legacy) CAFile() string { return l.caFile }

// Crashed is closed when a frame killed the server "process".
func (l *Legacy) Crashed() <-chan struct{} { return l.crashed }

// ProcessDied reports whether a frame killed the server "process".
func (l *Legacy) ProcessDied() bool {
	select {
	case <-l.crashed:
		return true
	default:
		return false
	}
}

// CrashReason is the "uncaught exception" that killed it, or "".
func (l *Legacy) CrashReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

// Logs returns what the server would have printed on its console.
func (l *Legacy) Logs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.logs...)
}

// Members lists the member uids (as JSON text) of the room whose roomId is the JSON text
// roomJSON (e.g. `"100"` or `100`), in join order; nil when no such room exists.
func (l *Legacy) Members(roomJSON string) []string {
	key, err := jsonParse(roomJSON)
	if err != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	room := l.room(key)
	if room == nil {
		return nil
	}
	out := []string{}
	for _, e := range room.entries {
		s, _ := jsonStringify(e.key)
		out = append(out, s)
	}
	return out
}

// Close stops the server: it closes the listener and drops every connection, then waits
// for its goroutines.
func (l *Legacy) Close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		conns := make([]*legacyConn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		if l.srv != nil {
			_ = l.srv.Close()
		}
		for _, c := range conns {
			_ = c.ws.Close()
		}
		l.wg.Wait()
	})
}

// legacyLogWriter feeds the http.Server's error log into Logs.
type legacyLogWriter struct{ l *Legacy }

func (w legacyLogWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	w.l.logf("%s", strings.TrimRight(string(p), "\n"))
	w.l.mu.Unlock()
	return len(p), nil
}

// logf appends to the console log; l.mu must be held.
func (l *Legacy) logf(format string, args ...any) {
	l.logs = append(l.logs, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

func jsText(v *jsValue) string {
	if v == nil {
		return "undefined"
	}
	return toJSString(v)
}

// ServeHTTP upgrades any path, from any Origin.
func (l *Legacy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	stopped := l.dead || l.closed
	l.mu.Unlock()
	if stopped {
		// A dead process accepts nothing; drop the connection without an answer.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		http.Error(w, "server stopped", http.StatusServiceUnavailable)
		return
	}
	ws, err := l.up.Upgrade(w, r, nil)
	if err != nil {
		return // gorilla answered the bad request
	}
	ws.SetReadLimit(LegacyMaxFrame)
	c := &legacyConn{ws: ws, notify: make(chan struct{}, 1), done: make(chan struct{})}
	l.mu.Lock()
	if l.dead || l.closed {
		l.mu.Unlock()
		_ = ws.Close()
		return
	}
	l.conns[c] = struct{}{}
	l.logf("new connection from %s (path %s)", r.RemoteAddr, r.URL.Path)
	l.wg.Add(2) // the writer and this handler; Close waits for both
	l.mu.Unlock()
	defer l.wg.Done()
	go func() {
		defer l.wg.Done()
		c.writeLoop()
	}()
	l.readLoop(c)
}

func (l *Legacy) readLoop(c *legacyConn) {
	code, reason := 0, ""
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				code, reason = websocket.CloseMessageTooBig, "frame too big"
				// gorilla sent 1009 already; keep reading so the client gets it.
				nc := c.ws.UnderlyingConn()
				_ = nc.SetReadDeadline(time.Now().Add(tooBigDrain))
				_, _ = io.Copy(io.Discard, nc)
			case errors.As(err, &ce):
				code, reason = ce.Code, ce.Text
			default:
				code, reason = websocket.CloseAbnormalClosure, err.Error()
			}
			break
		}
		if typ != websocket.TextMessage {
			continue // the original registers no "binary" handler
		}
		l.mu.Lock()
		if l.dead || l.closed {
			l.mu.Unlock()
			break
		}
		l.handleText(c, strings.ToValidUTF8(string(data), "\uFFFD"))
		l.mu.Unlock()
	}
	c.stop()
	_ = c.ws.Close()
	l.mu.Lock()
	delete(l.conns, c)
	if !l.dead && !l.closed {
		l.logf("connection closed code: %d, reason: %s", code, reason)
		if c.client != nil {
			l.forceLeave(c.client)
		}
	}
	l.mu.Unlock()
}

// handleText is conn.on("text"); l.mu is held.
func (l *Legacy) handleText(c *legacyConn, text string) {
	msg, err := jsonParse(text)
	if err != nil {
		l.crash(fmt.Sprintf("%v (frame %.60q)", err, text))
		return
	}
	if msg.kind == jsNull {
		l.crash("TypeError: Cannot read properties of null (reading 'cmd')")
		return
	}
	cmd := msg.get("cmd")
	if cmd == nil || cmd.kind != jsString {
		return // switch (jsonMsg.cmd) matches no case
	}
	switch cmd.s {
	case "join":
		c.client = l.join(msg, c)
	case "leave":
		l.leave(msg)
	case "offer", "answer", "candidate":
		l.relay(cmd.s, msg)
	}
}

// crash is the uncaught exception: the process dies, every socket is dropped without a
// close frame (clients see 1006), the port closes. l.mu is held.
func (l *Legacy) crash(reason string) {
	l.dead = true
	l.reason = reason
	l.logf("uncaught exception, process exits: %s", reason)
	close(l.crashed)
	if l.ln != nil {
		_ = l.ln.Close()
	}
	for c := range l.conns {
		c.kill()
	}
}

func (l *Legacy) room(key *jsValue) *legacyMap {
	if nullish(key) {
		return nil
	}
	for _, r := range l.rooms {
		if strictEqual(r.key, key) {
			return r.members
		}
	}
	return nil
}

func (l *Legacy) join(msg *jsValue, c *legacyConn) *legacyClient {
	roomID, uid := msg.get("roomId"), msg.get("uid")
	l.logf("uid: %s try to join room %s", jsText(uid), jsText(roomID))
	members := l.room(roomID)
	if members == nil {
		members = &legacyMap{}
		if !nullish(roomID) { // roomTableMap.put ignores a null key
			l.rooms = append(l.rooms, &legacyRoom{key: roomID, members: members})
		}
	}
	if len(members.entries) >= 2 {
		l.logf("roomId: %s already has two members, use another room", jsText(roomID))
		return nil
	}
	client := &legacyClient{uid: uid, roomID: roomID, conn: c}
	members.put(uid, client)
	if len(members.entries) > 1 {
		for _, e := range append([]*legacyEntry(nil), members.entries...) {
			if looseEqual(e.key, uid) { // the original compares with !=
				continue
			}
			remote := members.get(e.key)
			if remote == nil {
				continue
			}
			remote.conn.sendText(l, stringifyCmd("new-peer", uid))
			c.sendText(l, stringifyCmd("resp-join", e.key))
		}
	}
	return client
}

func stringifyCmd(cmd string, remoteUID *jsValue) string {
	obj := &jsValue{kind: jsObject, keys: []string{"cmd", "remoteUid"}, obj: map[string]*jsValue{
		"cmd": {kind: jsString, s: cmd}, "remoteUid": remoteUID,
	}}
	s, _ := jsonStringify(obj)
	return s
}

func (l *Legacy) leave(msg *jsValue) {
	roomID, uid := msg.get("roomId"), msg.get("uid")
	members := l.room(roomID)
	if members == nil {
		l.logf("handleLeave can't find the roomId %s", jsText(roomID))
		return
	}
	l.logf("uid: %s leave room %s", jsText(uid), jsText(roomID))
	members.remove(uid) // no membership check: a non-member's leave is still broadcast
	l.broadcastLeave(members, uid)
}

func (l *Legacy) forceLeave(client *legacyClient) {
	members := l.room(client.roomID)
	if members == nil {
		return
	}
	if !members.contains(client.uid) {
		l.logf("uid: %s has left room %s", jsText(client.uid), jsText(client.roomID))
		return
	}
	l.logf("uid: %s force leave room %s", jsText(client.uid), jsText(client.roomID))
	members.remove(client.uid)
	l.broadcastLeave(members, client.uid)
}

func (l *Legacy) broadcastLeave(members *legacyMap, uid *jsValue) {
	msg := stringifyCmd("peer-leave", uid)
	for _, e := range append([]*legacyEntry(nil), members.entries...) {
		if remote := members.get(e.key); remote != nil {
			remote.conn.sendText(l, msg)
		}
	}
}

func (l *Legacy) relay(cmd string, msg *jsValue) {
	roomID, uid, remoteUID := msg.get("roomId"), msg.get("uid"), msg.get("remoteUid")
	members := l.room(roomID)
	if members == nil {
		l.logf("handle %s can't find the roomId %s", cmd, jsText(roomID))
		return
	}
	if members.get(uid) == nil {
		l.logf("handle %s can't find the uid %s", cmd, jsText(uid))
		return
	}
	remote := members.get(remoteUID)
	if remote == nil {
		l.logf("can't find remoteUid: %s", jsText(remoteUID))
		return
	}
	s, _ := jsonStringify(msg)
	remote.conn.sendText(l, s)
}

// sendText queues a text frame; on a gone socket it only logs (the original's "error"
// handler). l.mu is held.
func (c *legacyConn) sendText(l *Legacy, s string) {
	c.qmu.Lock()
	if c.stopped {
		c.qmu.Unlock()
		l.logf("error: can't send a text frame in this state")
		return
	}
	c.queue = append(c.queue, s)
	c.qmu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// stop ends the writer without writing more.
func (c *legacyConn) stop() {
	c.qmu.Lock()
	c.stopped = true
	c.qmu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	<-c.done
}

// kill writes what is queued (Node had written it to the kernel already) and then drops
// the TCP connection without a close frame. It does not wait.
func (c *legacyConn) kill() {
	c.qmu.Lock()
	c.flushKill = true
	c.qmu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *legacyConn) writeLoop() {
	defer close(c.done)
	for {
		c.qmu.Lock()
		if c.stopped {
			c.qmu.Unlock()
			return
		}
		batch := c.queue
		c.queue = nil
		kill := c.flushKill
		c.qmu.Unlock()
		for _, s := range batch {
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
				c.qmu.Lock()
				c.stopped = true
				c.queue = nil
				c.qmu.Unlock()
				break
			}
		}
		if kill {
			_ = c.ws.UnderlyingConn().Close()
			c.qmu.Lock()
			c.stopped = true
			c.qmu.Unlock()
			return
		}
		if len(batch) > 0 {
			continue
		}
		<-c.notify
	}
}
