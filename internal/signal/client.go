package signal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults of ClientConfig; a zero field means the default.
const (
	DefaultDialTimeout  = 5 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	// DefaultPingInterval keeps an nginx proxy (proxy_read_timeout 60s) from cutting an
	// idle call, like the keepalive of the course's later lessons.
	DefaultPingInterval = 5 * time.Second
	// DefaultMaxMessageSize is larger than the original server's 2 MiB frame limit so that
	// anything a server relays is received.
	DefaultMaxMessageSize = 8 << 20
	// closeWait bounds how long Close waits for the server's answering close frame.
	closeWait = time.Second
	// serverPingReplyGap rate-limits replies to server-sent {"cmd":"ping"}.
	serverPingReplyGap = 500 * time.Millisecond
	// pingReplyWindow: a "ping" arriving this soon after one we sent is taken as its reply,
	// not as the server's own keepalive (which we would answer).
	pingReplyWindow = time.Second
	// maxQueued bounds the events buffered for a consumer that does not read Events.
	maxQueued = 1 << 16
)

// ClientConfig configures Dial. Zero values mean the documented defaults.
type ClientConfig struct {
	// URL is ws:// or wss://, any path (the course uses wss://host:8098/ws).
	URL string
	// CAFile names a PEM file of extra root certificates for wss.
	CAFile string
	// Insecure skips TLS certificate verification (self-signed servers).
	Insecure bool
	// Origin, if set, is sent as the Origin header.
	Origin string
	// DialTimeout bounds TCP connect, TLS and the HTTP upgrade together; default 5s.
	DialTimeout time.Duration
	// WriteTimeout bounds each frame write; default 5s.
	WriteTimeout time.Duration
	// PingInterval is the WebSocket ping frame interval; default 5s; negative turns
	// pings off.
	PingInterval time.Duration
	// PongTimeout: the connection is considered dead when no frame at all (pong included)
	// arrived for this long; default 3*PingInterval. Ignored when pings are off, unless
	// AppKeepalive is on and PongTimeout is set explicitly.
	PongTimeout time.Duration
	// AppKeepalive, if >0, sends {"cmd":"ping"} at this interval, as a variant of the
	// Android lineage expects; default off. Replies ("ping" or "pong") are not delivered
	// as events.
	AppKeepalive time.Duration
	// MaxMessageSize: larger text frames from the server are discarded and counted;
	// default 8 MiB.
	MaxMessageSize int64
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

func (cfg ClientConfig) withDefaults() ClientConfig {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingInterval > 0 && cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 3 * cfg.PingInterval
	}
	if cfg.PingInterval < 0 && cfg.AppKeepalive <= 0 {
		cfg.PongTimeout = 0
	}
	if cfg.PongTimeout < 0 {
		cfg.PongTimeout = 0
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return cfg
}

// Event is one decoded message from the server.
type Event struct {
	// At is when the frame was read.
	At time.Time
	// Msg is the decoded message.
	Msg Message
	// Raw is the frame as received.
	Raw []byte
}

// CloseInfo says how the connection ended.
type CloseInfo struct {
	// Code is the WebSocket close code: 1000 normal, 1006 abnormal (dropped without a
	// close frame, or keepalive timeout), 1009 message too big, ... 0 while open.
	Code int `json:"code"`
	// Text is the close reason sent by the server, or a description of the drop.
	Text string `json:"text,omitempty"`
	// At is when the end was noticed.
	At time.Time `json:"at"`
	// ByServer is true when the server closed or dropped the connection, false when this
	// client closed it (Close, keepalive timeout).
	ByServer bool `json:"byServer"`
}

// ClientStats counts what the client saw and sent.
type ClientStats struct {
	// Received counts text frames delivered as events.
	Received int64 `json:"received"`
	// Undecodable counts text frames that Decode rejected (logged and skipped).
	Undecodable int64 `json:"undecodable"`
	// Binary counts binary frames (ignored).
	Binary int64 `json:"binary"`
	// Oversized counts text frames larger than MaxMessageSize (discarded).
	Oversized int64 `json:"oversized"`
	// Dropped counts events lost because the consumer did not read Events.
	Dropped int64 `json:"dropped"`
	// Sent counts text frames written.
	Sent int64 `json:"sent"`
	// Pings counts WebSocket ping frames sent; Pongs the pong frames received.
	Pings int64 `json:"pings"`
	Pongs int64 `json:"pongs"`
	// AppPings counts {"cmd":"ping"} sent by AppKeepalive; AppReplies the ping/pong
	// messages received from the server.
	AppPings   int64 `json:"appPings"`
	AppReplies int64 `json:"appReplies"`
}

// Client is one WebSocket connection speaking the room protocol. Writes are serialised;
// one goroutine reads. Always call Close.
type Client struct {
	cfg    ClientConfig
	conn   *websocket.Conn
	opened time.Time

	wmu sync.Mutex // serialises data frame writes

	events     chan Event
	qmu        sync.Mutex
	queue      []Event
	queueEnded bool
	qnotify    chan struct{}

	readerDone chan struct{} // closed when the read loop ends (err and info are set)
	stop       chan struct{} // closed by Close
	closeOnce  sync.Once
	wg         sync.WaitGroup

	mu      sync.Mutex
	closing bool
	err     error
	info    CloseInfo

	lastOwnPing   atomic.Int64 // UnixNano of our last {"cmd":"ping"}, 0 once answered
	lastPingReply time.Time    // only touched by the reader

	received, undecodable, binary, oversized, dropped atomic.Int64
	sent, pings, pongs, appPings, appReplies          atomic.Int64
}

// Dial connects to a room signaling server. Errors wrap ErrBadURL, ErrDial (with ErrDNS
// for name resolution), ErrTLS or ErrUpgrade (an *UpgradeError with the HTTP status).
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cfg = cfg.withDefaults()
	conn, err := dialConn(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:        cfg,
		conn:       conn,
		opened:     time.Now(),
		events:     make(chan Event),
		qnotify:    make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		stop:       make(chan struct{}),
	}
	conn.SetPongHandler(func(string) error {
		c.pongs.Add(1)
		c.refreshDeadline()
		return nil
	})
	conn.SetPingHandler(func(data string) error {
		c.refreshDeadline()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.cfg.WriteTimeout))
		if err == nil || errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	c.refreshDeadline()
	c.wg.Add(3)
	go c.readLoop()
	go c.deliverLoop()
	go c.keepLoop()
	cfg.Logf("signal: connected to %s", cfg.URL)
	return c, nil
}

func (c *Client) refreshDeadline() {
	if c.cfg.PongTimeout > 0 {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.PongTimeout))
	}
}

// Opened is when the connection was established.
func (c *Client) Opened() time.Time { return c.opened }

// Events delivers decoded server messages in order. It is closed when the connection
// ends (see Err) or Close is called. Keepalive ping/pong messages are not delivered.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.readerDone }

// Err says why the connection ended; nil while it is open. It wraps ErrClosed, and
// ErrKeepaliveTimeout when the server went silent; the close code is in the text and in
// CloseInfo.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// CloseInfo says how the connection ended; the zero value while it is open.
func (c *Client) CloseInfo() CloseInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Stats returns the counters so far.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Received: c.received.Load(), Undecodable: c.undecodable.Load(), Binary: c.binary.Load(),
		Oversized: c.oversized.Load(), Dropped: c.dropped.Load(), Sent: c.sent.Load(),
		Pings: c.pings.Load(), Pongs: c.pongs.Load(), AppPings: c.appPings.Load(),
		AppReplies: c.appReplies.Load(),
	}
}

// LocalAddr is the client's end of the TCP connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Join sends {"cmd":"join","roomId":room,"uid":uid}.
func (c *Client) Join(room, uid ID) error {
	return c.Send(Message{Cmd: CmdJoin, RoomID: room, UID: uid})
}

// Leave sends {"cmd":"leave","roomId":room,"uid":uid}.
func (c *Client) Leave(room, uid ID) error {
	return c.Send(Message{Cmd: CmdLeave, RoomID: room, UID: uid})
}

// SendSDP sends an offer or answer (cmd) for remote, with msg a JSON string of d.
func (c *Client) SendSDP(cmd string, room, uid, remote ID, d SessionDescription) error {
	if cmd != CmdOffer && cmd != CmdAnswer {
		return fmt.Errorf("%w: SendSDP cmd %q (want offer or answer)", ErrBadField, cmd)
	}
	return c.Send(Message{Cmd: cmd, RoomID: room, UID: uid, RemoteUID: remote, Msg: EncodeSDP(d)})
}

// SendCandidate sends a candidate for remote in format f.
func (c *Client) SendCandidate(room, uid, remote ID, cand Candidate, f CandidateFormat) error {
	return c.Send(Message{Cmd: CmdCandidate, RoomID: room, UID: uid, RemoteUID: remote, Msg: cand.Encode(f)})
}

// Send writes one message as a text frame, as is (no Validate).
func (c *Client) Send(m Message) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	if err := c.SendRaw(b); err != nil {
		return fmt.Errorf("signal: send %s: %w", m.Cmd, err)
	}
	return nil
}

// SendRaw writes frame as one text frame, unchecked (tests use it for bad input).
func (c *Client) SendRaw(frame []byte) error {
	select {
	case <-c.readerDone:
		if err := c.Err(); err != nil {
			return err
		}
		return ErrClosed
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("%w: write: %w", ErrClosed, err)
	}
	c.sent.Add(1)
	return nil
}

// WaitFor reads Events until a message whose cmd is in cmds arrives and returns it.
// Other messages are consumed and discarded, except that a "full" or "error" message not
// asked for ends the wait with ErrRoomFull or ErrServer (and the message). When timeout
// passes it returns ErrNoReply ("joined but the server said nothing"); when the
// connection ends, the end error (Err); when ctx ends, ctx's error.
func (c *Client) WaitFor(ctx context.Context, timeout time.Duration, cmds ...string) (Message, error) {
	want := make(map[string]bool, len(cmds))
	for _, cmd := range cmds {
		want[cmd] = true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				if err := c.Err(); err != nil {
					return Message{}, err
				}
				return Message{}, ErrClosed
			}
			switch {
			case want[ev.Msg.Cmd]:
				return ev.Msg, nil
			case ev.Msg.Cmd == CmdFull:
				return ev.Msg, fmt.Errorf("%w: room %s (uid %s)", ErrRoomFull, ev.Msg.RoomID, ev.Msg.UID)
			case ev.Msg.Cmd == CmdError:
				return ev.Msg, fmt.Errorf("%w: code %d: %s", ErrServer, ev.Msg.Code, ev.Msg.Reason)
			}
			c.cfg.Logf("signal: waiting for %s, skipped %s", strings.Join(cmds, "|"), ev.Msg.Cmd)
		case <-timer.C:
			return Message{}, fmt.Errorf("%w within %v (waited for %s)", ErrNoReply, timeout, strings.Join(cmds, "|"))
		case <-ctx.Done():
			return Message{}, fmt.Errorf("signal: waiting for %s: %w", strings.Join(cmds, "|"), ctx.Err())
		}
	}
}

// Close sends a close frame (1000), waits briefly for the server's answer, closes the
// connection and waits for the client's goroutines. Events is closed afterwards; events not
// yet read are discarded. It always returns nil; it is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		select {
		case <-c.readerDone:
		default:
			err := c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(c.cfg.WriteTimeout))
			if err == nil {
				t := time.NewTimer(closeWait)
				select {
				case <-c.readerDone:
				case <-t.C:
				}
				t.Stop()
			}
		}
		_ = c.conn.Close()
		close(c.stop)
		c.wg.Wait()
	})
	return nil
}

// readLoop is the only reader of the connection.
func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		typ, r, err := c.conn.NextReader()
		if err != nil {
			c.end(err)
			return
		}
		c.refreshDeadline()
		if typ != websocket.TextMessage {
			c.binary.Add(1)
			_, _ = io.Copy(io.Discard, r) // a read error shows up at the next NextReader
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxMessageSize+1))
		if err != nil {
			continue // the next NextReader returns the same error
		}
		if int64(len(raw)) > c.cfg.MaxMessageSize {
			c.oversized.Add(1)
			n, _ := io.Copy(io.Discard, r)
			c.cfg.Logf("signal: skipped an oversized frame (%d bytes)", int64(len(raw))+n)
			continue
		}
		c.handleFrame(raw)
	}
}

func (c *Client) handleFrame(raw []byte) {
	now := time.Now()
	m, err := Decode(raw)
	if err != nil {
		c.undecodable.Add(1)
		c.cfg.Logf("signal: skipped an undecodable frame (%v): %.80q", err, raw)
		return
	}
	switch m.Cmd {
	case CmdPong:
		c.appReplies.Add(1)
		c.lastOwnPing.Store(0)
		return
	case CmdPing:
		c.appReplies.Add(1)
		if sent := c.lastOwnPing.Swap(0); sent != 0 && now.Sub(time.Unix(0, sent)) < pingReplyWindow {
			return // the reply to our ping
		}
		// The server pings us: answer the way the Android-lineage variant expects (a
		// "ping" back), rate-limited. Our answer counts as our ping, so a server that
		// echoes every ping cannot start an endless exchange.
		if now.Sub(c.lastPingReply) >= serverPingReplyGap {
			c.lastPingReply = now
			c.lastOwnPing.Store(now.UnixNano())
			if err := c.SendRaw([]byte(`{"cmd":"ping"}`)); err != nil {
				c.cfg.Logf("signal: answering a server ping: %v", err)
			}
		}
		return
	}
	c.received.Add(1)
	c.enqueue(Event{At: now, Msg: m, Raw: raw})
}

func (c *Client) enqueue(ev Event) {
	c.qmu.Lock()
	if len(c.queue) >= maxQueued {
		c.qmu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.queue = append(c.queue, ev)
	c.qmu.Unlock()
	select {
	case c.qnotify <- struct{}{}:
	default:
	}
}

// end records why the connection ended; called once by the read loop.
func (c *Client) end(err error) {
	now := time.Now()
	c.mu.Lock()
	info := CloseInfo{At: now, ByServer: !c.closing}
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case c.closing:
		info.Code = websocket.CloseNormalClosure
		info.Text = "closed by client"
		if errors.As(err, &ce) {
			info.Code = ce.Code
		}
		c.err = fmt.Errorf("%w: closed by client", ErrClosed)
	case errors.As(err, &ce):
		info.Code, info.Text = ce.Code, ce.Text
		c.err = fmt.Errorf("%w: server closed with code %d (%s)%s", ErrClosed, ce.Code,
			closeCodeName(ce.Code), quoteIf(ce.Text))
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		info.Code = websocket.CloseAbnormalClosure
		info.Text = fmt.Sprintf("no frame from the server for %v", c.cfg.PongTimeout)
		info.ByServer = false
		c.err = fmt.Errorf("%w: %w: nothing received for %v (code 1006)", ErrClosed,
			ErrKeepaliveTimeout, c.cfg.PongTimeout)
	default:
		info.Code = websocket.CloseAbnormalClosure
		info.Text = err.Error()
		c.err = fmt.Errorf("%w: connection dropped (code 1006 abnormal closure): %w", ErrClosed, err)
	}
	c.info = info
	closing := c.closing
	c.mu.Unlock()
	if !closing {
		c.cfg.Logf("%v", c.err)
		_ = c.conn.Close()
	}
	c.qmu.Lock()
	c.queueEnded = true
	c.qmu.Unlock()
	select {
	case c.qnotify <- struct{}{}:
	default:
	}
	close(c.readerDone)
}

// deliverLoop moves queued events to the unbuffered Events channel, so the reader never
// blocks on a slow consumer (and keepalive keeps working).
func (c *Client) deliverLoop() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.qmu.Lock()
		var ev Event
		have := len(c.queue) > 0
		if have {
			ev = c.queue[0]
			c.queue[0] = Event{}
			c.queue = c.queue[1:]
		}
		ended := c.queueEnded
		c.qmu.Unlock()
		if !have {
			if ended {
				return
			}
			select {
			case <-c.qnotify:
				continue
			case <-c.stop:
				return
			}
		}
		select {
		case c.events <- ev:
		case <-c.stop:
			return
		}
	}
}

// keepLoop sends WebSocket pings and the optional application keepalive.
func (c *Client) keepLoop() {
	defer c.wg.Done()
	var pingC, appC <-chan time.Time
	if c.cfg.PingInterval > 0 {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		pingC = t.C
	}
	if c.cfg.AppKeepalive > 0 {
		t := time.NewTicker(c.cfg.AppKeepalive)
		defer t.Stop()
		appC = t.C
	}
	for {
		select {
		case <-pingC:
			err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout))
			if err != nil {
				c.cfg.Logf("signal: ping: %v", err)
				continue
			}
			c.pings.Add(1)
		case <-appC:
			c.lastOwnPing.Store(time.Now().UnixNano())
			if err := c.SendRaw([]byte(`{"cmd":"ping"}`)); err != nil {
				c.cfg.Logf("signal: keepalive: %v", err)
				continue
			}
			c.appPings.Add(1)
		case <-c.readerDone:
			return
		case <-c.stop:
			return
		}
	}
}

func quoteIf(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(": %q", s)
}

// closeCodeName names the close codes a user of the course system meets.
func closeCodeName(code int) string {
	switch code {
	case websocket.CloseNormalClosure:
		return "normal closure"
	case websocket.CloseGoingAway:
		return "going away"
	case websocket.CloseProtocolError:
		return "protocol error"
	case websocket.CloseUnsupportedData:
		return "unsupported data"
	case websocket.CloseNoStatusReceived:
		return "no status"
	case websocket.CloseAbnormalClosure:
		return "abnormal closure: dropped without a close frame"
	case websocket.CloseInvalidFramePayloadData:
		return "invalid payload"
	case websocket.ClosePolicyViolation:
		return "policy violation"
	case websocket.CloseMessageTooBig:
		return "message too big"
	case websocket.CloseInternalServerErr:
		return "internal server error"
	case websocket.CloseServiceRestart:
		return "service restart"
	case websocket.CloseTryAgainLater:
		return "try again later"
	}
	return "close code"
}
