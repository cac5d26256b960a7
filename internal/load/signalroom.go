package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcctl/rtcctl/internal/signal"
)

// Signal-only rooms speak the protocol directly over gorilla websockets: one reader
// goroutine per connection and a shared write-buffer pool keep a connection at a few KB,
// so one tester holds thousands.
const (
	wsReadBuffer  = 2048
	wsWriteBuffer = 8192 // an offer fits one frame
	wsReadLimit   = 4 << 20
	wsInbox       = 64
	// holdPing is the websocket ping interval while a room holds, so a proxy's idle
	// timeout (nginx: 60 s) does not cut it.
	holdPing = 20 * time.Second
	// closeWait bounds the close handshake of each connection.
	closeWait = time.Second
)

// signalEnv is what every signal-only room shares.
type signalEnv struct {
	cfg           Config
	dialer        *websocket.Dialer
	offer, answer string // msg strings
	// open and peak count websockets open now and at most, over every room.
	open, peak atomic.Int64
}

func newSignalEnv(cfg Config) (*signalEnv, error) {
	offer, answer, err := realisticSDPs()
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: cfg.Insecure} //nolint:gosec // --insecure asks for it
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca file %s holds no PEM certificate", ErrConfig, cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	return &signalEnv{
		cfg: cfg,
		dialer: &websocket.Dialer{
			HandshakeTimeout: cfg.RoomTimeout,
			ReadBufferSize:   wsReadBuffer,
			WriteBufferSize:  wsWriteBuffer,
			WriteBufferPool:  &sync.Pool{},
			TLSClientConfig:  tlsCfg,
		},
		offer:  signal.EncodeSDP(signal.SessionDescription{Type: "offer", SDP: offer}),
		answer: signal.EncodeSDP(signal.SessionDescription{Type: "answer", SDP: answer}),
	}, nil
}

// frame is one received message, stamped on arrival.
type frame struct {
	m   signal.Message
	at  time.Time
	err error
}

// wsConn is one client connection: the room goroutine writes, a reader goroutine reads.
type wsConn struct {
	c     *websocket.Conn
	in    chan frame
	done  chan struct{}
	wg    sync.WaitGroup
	bytes int64
	env   *signalEnv
}

func (e *signalEnv) dial(ctx context.Context) (*wsConn, error) {
	c, resp, err := e.dialer.DialContext(ctx, e.cfg.Server, http.Header{})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade refused: HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	c.SetReadLimit(wsReadLimit)
	n := e.open.Add(1)
	for p := e.peak.Load(); n > p && !e.peak.CompareAndSwap(p, n); p = e.peak.Load() {
	}
	w := &wsConn{c: c, in: make(chan frame, wsInbox), done: make(chan struct{}), env: e}
	w.wg.Add(1)
	go w.read()
	return w, nil
}

func (w *wsConn) read() {
	defer w.wg.Done()
	defer close(w.in)
	for {
		typ, data, err := w.c.ReadMessage()
		f := frame{at: time.Now(), err: err}
		if err == nil {
			if typ != websocket.TextMessage {
				continue
			}
			f.m, f.err = signal.Decode(data)
		}
		select {
		case w.in <- f:
		case <-w.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (w *wsConn) send(m signal.Message) (time.Time, error) {
	b, err := m.Encode()
	if err != nil {
		return time.Time{}, err
	}
	_ = w.c.SetWriteDeadline(time.Now().Add(DefaultRoomTimeout))
	at := time.Now()
	if err := w.c.WriteMessage(websocket.TextMessage, b); err != nil {
		return at, fmt.Errorf("send %s: %w", m.Cmd, err)
	}
	w.bytes += int64(len(b))
	return at, nil
}

// close says goodbye (close frame), stops the reader and waits for it.
func (w *wsConn) close() {
	_ = w.c.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeWait))
	close(w.done)
	_ = w.c.Close()
	w.wg.Wait()
	w.env.open.Add(-1)
}

// side is one of the two members during the exchange.
type side struct {
	conn      *wsConn
	uid       signal.ID
	joinAt    time.Time
	caller    bool
	known     bool // new-peer or resp-join arrived
	gotSDP    bool
	gotCands  int
	sentSDP   bool
	peerLeave time.Time
}

// roomError is a failed stage with its verdict code.
type roomError struct {
	verdict string
	err     error
}

func (e *roomError) Error() string { return e.verdict + ": " + e.err.Error() }

func fail(verdict string, format string, args ...any) *roomError {
	return &roomError{verdict: verdict, err: fmt.Errorf(format, args...)}
}

// runRoom runs one signal-only room: two members join, exchange an offer, an answer and
// Candidates candidates each way, hold for Duration, and leave.
func (e *signalEnv) runRoom(parent context.Context, room Room) outcome {
	st := newSignalStats()
	o := outcome{room: room, signal: st}
	rerr := e.room(parent, room, st)
	if rerr != nil {
		o.verdict, o.err = rerr.verdict, rerr.err.Error()
		if parent.Err() != nil && rerr.verdict != "dial" {
			o.verdict = "timeout"
		}
		return o
	}
	o.ok = true
	return o
}

func (e *signalEnv) room(parent context.Context, room Room, st *SignalStats) *roomError {
	ctx, cancel := context.WithTimeout(parent, e.cfg.RoomTimeout)
	defer cancel()
	roomID := signal.StringID(room.ID)
	var sides [2]*side
	for i, uid := range []string{room.CallerUID, room.CalleeUID} {
		c, err := e.dial(ctx)
		if err != nil {
			st.DialFailures++
			return fail("dial", "%s: %w", uid, err)
		}
		st.Conns++
		sides[i] = &side{conn: c, uid: signal.StringID(uid)}
		defer func(c *wsConn) {
			st.BytesSent += c.bytes
			c.close()
		}(c)
	}
	for _, s := range sides {
		at, err := s.conn.send(signal.Message{Cmd: signal.CmdJoin, RoomID: roomID, UID: s.uid})
		if err != nil {
			return fail("send", "%w", err)
		}
		s.joinAt = at
	}

	pending := map[string]time.Time{} // msg -> send time, for both directions
	sendRelay := func(from, to *side, cmd, msg string) error {
		at, err := from.conn.send(signal.Message{Cmd: cmd, RoomID: roomID, UID: from.uid, RemoteUID: to.uid, Msg: msg})
		if err != nil {
			return err
		}
		pending[msg] = at
		st.MessagesSent++
		return nil
	}
	sendBatch := func(from, to *side, cmd, sdp string, sideNo int) error {
		if err := sendRelay(from, to, cmd, sdp); err != nil {
			return err
		}
		for i := range e.cfg.Candidates {
			if err := sendRelay(from, to, signal.CmdCandidate, fakeCandidate(sideNo, i)); err != nil {
				return err
			}
		}
		from.sentSDP = true
		return nil
	}
	want := 1 + e.cfg.Candidates
	exchanged := func() bool {
		return sides[0].gotSDP && sides[1].gotSDP &&
			sides[0].gotCands == e.cfg.Candidates && sides[1].gotCands == e.cfg.Candidates
	}
	handle := func(me, other *side, f frame) *roomError {
		if f.err != nil {
			var ce *websocket.CloseError
			if errors.As(f.err, &ce) || errors.Is(f.err, websocket.ErrCloseSent) {
				return fail("conn-closed", "%s: %w", me.uid, f.err)
			}
			if errors.Is(f.err, signal.ErrMalformed) || errors.Is(f.err, signal.ErrUnknownCmd) ||
				errors.Is(f.err, signal.ErrNoCmd) || errors.Is(f.err, signal.ErrBadField) {
				return nil // a frame we do not understand is not the room's failure
			}
			return fail("conn-closed", "%s: %w", me.uid, f.err)
		}
		m := f.m
		switch m.Cmd {
		case signal.CmdFull:
			return fail("room-full", "%s: server says room %s is full", me.uid, room.ID)
		case signal.CmdError:
			return fail("server-error", "%s: server error %d: %s", me.uid, m.Code, m.Reason)
		case signal.CmdNewPeer:
			me.known, me.caller = true, true
			if !me.sentSDP {
				if err := sendBatch(me, other, signal.CmdOffer, e.offer, 0); err != nil {
					return fail("send", "%w", err)
				}
			}
		case signal.CmdRespJoin:
			me.known = true
			st.JoinMs.Add(ms(f.at.Sub(me.joinAt)))
		case signal.CmdOffer, signal.CmdAnswer, signal.CmdCandidate:
			if t0, ok := pending[m.Msg]; ok {
				delete(pending, m.Msg)
				lat := ms(f.at.Sub(t0))
				st.RelayMs.Add(lat)
				switch m.Cmd {
				case signal.CmdOffer:
					st.OfferMs.Add(lat)
				case signal.CmdAnswer:
					st.AnswerMs.Add(lat)
				default:
					st.CandidateMs.Add(lat)
				}
			} else {
				return fail("relay-mismatch", "%s: received a %s this room never sent (or twice)", me.uid, m.Cmd)
			}
			st.MessagesRelayed++
			if m.Cmd == signal.CmdCandidate {
				me.gotCands++
			} else {
				me.gotSDP = true
			}
			if m.Cmd == signal.CmdOffer && !me.sentSDP {
				if err := sendBatch(me, other, signal.CmdAnswer, e.answer, 1); err != nil {
					return fail("send", "%w", err)
				}
			}
		case signal.CmdPeerLeave:
			me.peerLeave = f.at
		}
		return nil
	}
	// wait runs the event loop until cond holds; verdict names the stage on timeout.
	wait := func(cond func() bool, verdict string, what func() string) *roomError {
		for !cond() {
			select {
			case <-ctx.Done():
				return fail(verdict, "%s after %v", what(), e.cfg.RoomTimeout)
			case f, ok := <-sides[0].conn.in:
				if !ok {
					return fail("conn-closed", "%s: connection ended", sides[0].uid)
				}
				if err := handle(sides[0], sides[1], f); err != nil {
					return err
				}
			case f, ok := <-sides[1].conn.in:
				if !ok {
					return fail("conn-closed", "%s: connection ended", sides[1].uid)
				}
				if err := handle(sides[1], sides[0], f); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := wait(func() bool { return sides[0].known && sides[1].known }, "join-silent", func() string {
		return fmt.Sprintf("no new-peer/resp-join (caller known %v, callee known %v)", sides[0].known, sides[1].known)
	}); err != nil {
		return err
	}
	if err := wait(exchanged, "relay-incomplete", func() string {
		got := 0
		for _, s := range sides {
			got += s.gotCands
			if s.gotSDP {
				got++
			}
		}
		return fmt.Sprintf("%d of %d relayed messages arrived", got, 2*want)
	}); err != nil {
		return err
	}
	if e.cfg.Duration > 0 {
		if err := e.hold(parent, sides); err != nil {
			return err
		}
	}
	// The caller leaves first; the callee must hear about it.
	leaver, stayer := sides[0], sides[1]
	if !leaver.caller {
		leaver, stayer = stayer, leaver
	}
	leaveAt, err := leaver.conn.send(signal.Message{Cmd: signal.CmdLeave, RoomID: roomID, UID: leaver.uid})
	if err != nil {
		return fail("send", "%w", err)
	}
	ctx2, cancel2 := context.WithTimeout(parent, e.cfg.RoomTimeout)
	defer cancel2()
	ctx = ctx2
	if err := wait(func() bool { return !stayer.peerLeave.IsZero() }, "no-peer-leave", func() string {
		return fmt.Sprintf("%s never got peer-leave", stayer.uid)
	}); err != nil {
		return err
	}
	st.LeaveMs.Add(ms(stayer.peerLeave.Sub(leaveAt)))
	if _, err := stayer.conn.send(signal.Message{Cmd: signal.CmdLeave, RoomID: roomID, UID: stayer.uid}); err != nil {
		return fail("send", "%w", err)
	}
	return nil
}

// hold keeps both members in the room for Duration, pinging so proxies keep the sockets,
// and fails if a connection drops.
func (e *signalEnv) hold(ctx context.Context, sides [2]*side) *roomError {
	end := time.NewTimer(e.cfg.Duration)
	defer end.Stop()
	ping := time.NewTicker(holdPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return fail("timeout", "run deadline during the hold: %w", ctx.Err())
		case <-end.C:
			return nil
		case <-ping.C:
			for _, s := range sides {
				if err := s.conn.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(closeWait)); err != nil {
					return fail("conn-closed", "%s: ping: %w", s.uid, err)
				}
			}
		case f, ok := <-sides[0].conn.in:
			if !ok || f.err != nil {
				return fail("conn-closed", "%s dropped during the hold: %v", sides[0].uid, f.err)
			}
		case f, ok := <-sides[1].conn.in:
			if !ok || f.err != nil {
				return fail("conn-closed", "%s dropped during the hold: %v", sides[1].uid, f.err)
			}
		}
	}
}
