package signal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults of ServerConfig; a zero field means the default.
const (
	ServerDefaultMaxMessageBytes = 64 << 10
	ServerDefaultPingInterval    = 10 * time.Second
	ServerDefaultIdleTimeout     = 30 * time.Second
	ServerDefaultMaxConns        = 10000
	ServerDefaultRatePerSec      = 50.0
	ServerDefaultWriteQueue      = 256
	ServerDefaultWriteQueueBytes = 1 << 20
	ServerDefaultWriteTimeout    = 10 * time.Second
)

// closeGrace is how long a connection we are closing gets to answer our close frame (or,
// after an oversized frame, how long we keep draining its input) before the socket is cut.
// protocol.md explains why: closing with unread input makes the kernel reset the
// connection and the client never sees the close code.
const closeGrace = 1 * time.Second

// abuseFactor: a connection that keeps exceeding the rate limit until abuseFactor*burst
// messages were dropped without the bucket ever refilling is closed with 1008.
const abuseFactor = 10

// Error codes of the hardened server's {"cmd":"error","code":N,"reason":"..."} replies.
// They go to the offending connection only; the connection stays open (except after
// CodeTooBig and sustained rate abuse) and no other connection or room is affected.
// The codes borrow HTTP meanings, except CodeTooBig, which repeats the WebSocket close
// code that follows it. Replies are best effort: when the connection's write queue is
// half full they are skipped, so a client flooding bad frames loses replies rather than
// its connection.
//
//	400 CodeMalformed   the frame is not a JSON object (bad JSON, null, array, number,
//	                    invalid UTF-8) or has no string "cmd"
//	403 CodeNotMember   join-bound identity violated: the roomId/uid of a leave or relay is
//	                    not what this connection joined (spoofing); a leave from a
//	                    connection in no room is ignored without a reply
//	404 CodeNoPeer      a relay's remoteUid is not the other member of the sender's room
//	405 CodeUnknownCmd  cmd is unknown, or is a server-to-client command (new-peer, ...)
//	415 CodeBinary      a binary frame (the protocol uses text frames only)
//	422 CodeBadField    a field has the wrong JSON type, a required field is missing, or an
//	                    id is longer than 256 bytes of JSON
//	429 CodeRateLimited the connection exceeded its message rate; the message was dropped
//	                    (one such reply per second at most)
//	1009 CodeTooBig     the frame exceeded MaxMessageBytes; close 1009 follows
const (
	CodeMalformed   = 400
	CodeNotMember   = 403
	CodeNoPeer      = 404
	CodeUnknownCmd  = 405
	CodeBinary      = 415
	CodeBadField    = 422
	CodeRateLimited = 429
	CodeTooBig      = 1009
)

// ServerConfig configures the hardened signaling server. Zero values mean the defaults
// named on each field; negative values switch a limit off where noted.
type ServerConfig struct {
	// MaxMessageBytes is the largest accepted frame (default 64 KiB). A bigger frame gets an
	// error reply with CodeTooBig, then close 1009; the server drains the rest of the input
	// for a short while so the client sees the close code.
	MaxMessageBytes int64
	// PingInterval is how often the server sends a WebSocket ping to each client
	// (default 10 s; negative: never).
	PingInterval time.Duration
	// IdleTimeout drops a connection from which nothing (no message, no pong) arrived for
	// this long, with peer-leave to its room (default 30 s; negative: never). Keep it at
	// least twice PingInterval, or healthy idle clients are dropped.
	IdleTimeout time.Duration
	// MaxConns caps open connections; an upgrade beyond it gets HTTP 503 (default 10000;
	// negative: no cap).
	MaxConns int
	// RatePerSec is the per-connection message rate (token bucket, default 50/s; negative:
	// unlimited). Messages over it are dropped with a CodeRateLimited reply; the connection
	// is closed (1008) only on sustained abuse: abuseFactor*burst dropped messages without
	// the bucket refilling in between.
	RatePerSec float64
	// RateBurst is the token bucket size (default 2*RatePerSec, at least 1).
	RateBurst int
	// WriteQueue bounds the frames queued to one connection (default 256). A client that
	// does not read fast enough is dropped instead of slowing its room down.
	WriteQueue int
	// WriteQueueBytes bounds the bytes queued to one connection (default 1 MiB).
	WriteQueueBytes int
	// WriteTimeout is the deadline of each frame write (default 10 s).
	WriteTimeout time.Duration
	// AllowedOrigins lists the accepted Origin header values (exact, case-insensitive;
	// "*" accepts any). Empty accepts any Origin, as the original server does; gorilla's
	// same-origin default would refuse the course's page on another port. Requests without
	// an Origin header (non-browser clients) are always accepted.
	AllowedOrigins []string
	// Logf receives one line per event (open, join, leave, full, replaced, error reply,
	// evict, close); error replies log one line per second per connection at most, with a
	// count of the others. Message bodies are never logged. Nil: no logging.
	Logf func(format string, args ...any)
	// Now is the clock (test hook; default time.Now).
	Now func() time.Time
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = ServerDefaultMaxMessageBytes
	}
	if c.PingInterval == 0 {
		c.PingInterval = ServerDefaultPingInterval
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = ServerDefaultIdleTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = ServerDefaultMaxConns
	}
	if c.RatePerSec == 0 {
		c.RatePerSec = ServerDefaultRatePerSec
	}
	if c.RateBurst <= 0 {
		c.RateBurst = int(2 * c.RatePerSec)
		if c.RateBurst < 1 {
			c.RateBurst = 1
		}
	}
	if c.WriteQueue <= 0 {
		c.WriteQueue = ServerDefaultWriteQueue
	}
	if c.WriteQueueBytes <= 0 {
		c.WriteQueueBytes = ServerDefaultWriteQueueBytes
	}
	if int64(c.WriteQueueBytes) < 2*c.MaxMessageBytes {
		c.WriteQueueBytes = int(2 * c.MaxMessageBytes) // one maximal relay must fit
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = ServerDefaultWriteTimeout
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ServerStats is a snapshot of the server's counters.
type ServerStats struct {
	Conns       int    `json:"conns"`       // open WebSocket connections
	Rooms       int    `json:"rooms"`       // rooms with at least one member
	Members     int    `json:"members"`     // room members over all rooms
	Accepted    uint64 `json:"accepted"`    // connections upgraded since start
	Refused     uint64 `json:"refused"`     // upgrades refused with 503 (capacity, shutdown)
	MessagesIn  uint64 `json:"messagesIn"`  // frames received from clients
	Relayed     uint64 `json:"relayed"`     // offer/answer/candidate frames delivered
	Errors      uint64 `json:"errors"`      // error replies sent
	Full        uint64 `json:"full"`        // joins refused because the room was full
	Replaced    uint64 `json:"replaced"`    // connections replaced by a rejoin of their uid
	Evicted     uint64 `json:"evicted"`     // connections dropped for idleness
	DroppedSlow uint64 `json:"droppedSlow"` // connections dropped for a full write queue
	RateLimited uint64 `json:"rateLimited"` // messages dropped by the rate limit
	Panics      uint64 `json:"panics"`      // connections ended by a recovered panic
}

// Server is the hardened, drop-in room signaling server. It speaks the original wire
// format to the course's browser and Android clients and fixes the original's quirks:
//
//   - A third join gets {"cmd":"full","roomId":...,"uid":...}; nothing else changes.
//   - Bad frames get an error reply (see the Code* constants); they never affect others.
//   - A uid is bound to the connection that joined with it: leave and relays from a
//     connection that claims another room/uid are refused (CodeNotMember) and not
//     delivered (a leave from a connection in no room is ignored); a relay to a remoteUid that is not in the sender's room is refused
//     (CodeNoPeer) instead of being dropped silently.
//   - A connection is in at most one room with one uid. A join to another room (or the
//     same room with another uid) first leaves the current membership, with peer-leave to
//     that room. Repeating the exact current join is a no-op.
//   - Rejoin policy: a join with a (roomId, uid) held by another connection replaces that
//     connection, even when the room holds two. The old connection gets
//     {"cmd":"replaced","roomId":...,"uid":...} and a close frame (1000) and no longer
//     speaks for the uid; its later close sends no peer-leave. The rejoin is then treated
//     as a join: the other member (if any) gets new-peer and the joiner resp-join, which
//     is what course clients need to start a fresh call. No peer-leave is sent for the
//     replaced connection.
//   - Empty rooms are freed. Closing the socket, or idling past IdleTimeout, sends
//     peer-leave to the room.
//   - Application keepalive: {"cmd":"ping"} is answered with {"cmd":"ping"}, the reply the
//     Android-lineage variant waits for (protocol.md: it "expects a ping reply");
//     {"cmd":"pong"} from a client is accepted silently. Both count as liveness.
//   - Relays forward the sender's frame byte for byte once it validated.
//
// Server implements http.Handler and upgrades any path. Shutdown closes every connection.
type Server struct {
	cfg      ServerConfig
	upgrader websocket.Upgrader

	mu      sync.Mutex
	rooms   map[string]*room
	conns   map[*conn]struct{}
	pending int // admitted connections, upgraded or upgrading
	closing bool
	started bool // liveness loop running
	stop    chan struct{}
	wg      sync.WaitGroup

	nextID atomic.Uint64

	accepted, refused, messagesIn, relayed, errorsSent, full, replaced, evicted,
	droppedSlow, rateLimited, panics atomic.Uint64
}

// NewServer returns a Server; it starts no goroutine until the first connection.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:   cfg,
		rooms: make(map[string]*room),
		conns: make(map[*conn]struct{}),
		stop:  make(chan struct{}),
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// ReadBufferSize 0 reuses net/http's 4 KiB reader; writes borrow pooled buffers,
		// so an idle connection holds no write buffer.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
	}
	return s
}

func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(s.cfg.AllowedOrigins) == 0 || origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	s.cfg.Logf("signal: refused origin %.80q from %s", origin, r.RemoteAddr)
	return false
}

// admit reserves a connection slot; false means 503.
func (s *Server) admit() (ok bool, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false, "server shutting down"
	}
	if s.cfg.MaxConns > 0 && s.pending >= s.cfg.MaxConns {
		return false, "server at capacity"
	}
	s.pending++
	s.wg.Add(1)
	if !s.started {
		s.started = true
		s.wg.Add(1)
		go s.livenessLoop()
	}
	return true, ""
}

func (s *Server) release() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	s.wg.Done()
}

// ServeHTTP upgrades the request (any path) and hands the connection to a goroutine of
// the Server; it returns at once. Shutdown ends those goroutines.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ok, why := s.admit()
	if !ok {
		s.refused.Add(1)
		s.cfg.Logf("signal: refused %s: %s", r.RemoteAddr, why)
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered (400 not a websocket, 403 origin).
		s.release()
		return
	}
	s.accepted.Add(1)
	c := newConn(s, ws, s.nextID.Add(1), r.RemoteAddr)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	closing := s.closing
	s.mu.Unlock()
	s.cfg.Logf("signal: conn %d open from %s", c.id, c.remote)
	if closing { // Shutdown began during the upgrade and did not see this connection
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	// The read loop gets a goroutine of its own and ServeHTTP returns: net/http's
	// connection goroutine (its stack grown by request parsing) and state are freed, which
	// makes an idle connection about a third cheaper (measured: 18 -> 12 KiB). Shutdown
	// waits for it.
	go func() {
		defer s.release()
		c.serve()
	}()
}

// Shutdown sends close 1001 (going away) to every connection, waits for them to answer or
// for closeGrace, and returns when every goroutine of the server has ended. When ctx ends
// first, the remaining sockets are cut and ctx's error is returned. New upgrades get 503.
// Stop the HTTP listener separately (http.Server.Shutdown does not track upgraded conns).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.stop)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.abort("shutdown")
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("signal: shutdown: connections still open: %w", ctx.Err())
	}
	return fmt.Errorf("signal: shutdown: %w", ctx.Err())
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		Accepted:    s.accepted.Load(),
		Refused:     s.refused.Load(),
		MessagesIn:  s.messagesIn.Load(),
		Relayed:     s.relayed.Load(),
		Errors:      s.errorsSent.Load(),
		Full:        s.full.Load(),
		Replaced:    s.replaced.Load(),
		Evicted:     s.evicted.Load(),
		DroppedSlow: s.droppedSlow.Load(),
		RateLimited: s.rateLimited.Load(),
		Panics:      s.panics.Load(),
	}
	s.mu.Lock()
	st.Conns = len(s.conns)
	st.Rooms = len(s.rooms)
	for _, r := range s.rooms {
		st.Members += len(r.members)
	}
	s.mu.Unlock()
	return st
}

// codeFor maps a Decode/Validate error to the error reply code.
func codeFor(err error) int {
	switch {
	case errors.Is(err, ErrUnknownCmd):
		return CodeUnknownCmd
	case errors.Is(err, ErrBadField):
		return CodeBadField
	default:
		return CodeMalformed
	}
}

// logKey renders an ID for logs: its JSON text (so "100" and 100 stay distinct; JSON
// escaping keeps control characters out of the log), capped at 64 bytes.
func logKey(id ID) string {
	k := id.Key()
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	return k
}
