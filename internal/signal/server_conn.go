package signal

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// outFrame is one frame waiting in a connection's write queue.
type outFrame struct {
	typ  int // websocket.TextMessage, PingMessage or CloseMessage
	data []byte
	buf  *frameBuf // when set, data lives in buf, released once written or dropped
}

// conn is one client connection. Its read loop has a goroutine of its own; a writer
// goroutine exists only while frames are queued, so an idle connection costs one
// goroutine and its read buffer.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	id     uint64
	remote string

	// Membership, guarded by s.mu.
	room *room
	uid  ID

	lastSeen atomic.Int64 // Now().UnixNano() of the last frame or pong
	lastPing int64        // liveness loop only
	evicted  atomic.Bool
	reason   atomic.Pointer[string] // why the connection ended, first cause wins

	wmu         sync.Mutex
	queue       []outFrame
	spare       []outFrame // the writer's previous batch, reused as the next queue
	qbytes      int
	writing     bool // a writer goroutine is running
	wclosed     bool // the queue accepts nothing more
	closeQueued bool // a close frame is queued: nothing may follow it

	// Rate limiter state, read goroutine only.
	tokens    float64
	last      time.Time
	abuse     int
	lastLimit time.Time

	// Error logging, read goroutine only (errors answer this connection's own frames).
	lastErrLog time.Time
	errQuiet   int
}

func newConn(s *Server, ws *websocket.Conn, id uint64, remote string) *conn {
	now := s.cfg.Now()
	c := &conn{
		s: s, ws: ws, id: id, remote: remote,
		lastPing: now.UnixNano(),
		tokens:   float64(s.cfg.RateBurst),
		last:     now,
	}
	c.lastSeen.Store(now.UnixNano())
	return c
}

func (c *conn) touch() { c.lastSeen.Store(c.s.cfg.Now().UnixNano()) }

func (c *conn) setReason(r string) { c.reason.CompareAndSwap(nil, &r) }

func (c *conn) reasonString() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return "closed"
}

// serve is the read loop; it returns when the connection is gone and cleaned up.
func (c *conn) serve() {
	defer c.finish()
	defer func() {
		if p := recover(); p != nil {
			c.s.panics.Add(1)
			c.setReason(fmt.Sprintf("recovered panic: %v", p))
		}
	}()
	c.ws.SetPongHandler(func(string) error { c.touch(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.touch() // runs in the read loop, so allow may be used here
		if !c.allow() {
			return nil // a ping flood gets no pongs
		}
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return nil // the writer is busy; the next ping will do
			}
			return err
		}
		return nil
	})
	limit := c.s.cfg.MaxMessageBytes
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.setReason(readReason(err))
			return
		}
		c.touch()
		c.s.messagesIn.Add(1)
		fb, err := readFrame(r, limit)
		if err != nil {
			c.setReason(readReason(err))
			return
		}
		if fb == nil {
			c.tooBig()
			return
		}
		switch {
		case !c.allow():
		case typ != websocket.TextMessage:
			c.replyError(CodeBinary, "binary frames are not part of the protocol")
		default:
			if c.s.handle(c, fb) {
				continue // fb now belongs to a write queue
			}
		}
		fb.release()
	}
}

// readBufs holds scratch buffers for reading a frame of unknown length.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readFrame reads one message of at most limit bytes into a frameBuf of its size class.
// It returns nil (and no error) for a message over the limit, whose first limit+1 bytes it
// has consumed. Frames are recycled (see frameBuf): less garbage means fewer GC cycles,
// the main source of tail latency in BenchmarkServerRelayLatency.
func readFrame(r io.Reader, limit int64) (*frameBuf, error) {
	bp := readBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			readBufs.Put(bp)
		}
	}()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if left := limit + 1 - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, nil
		}
		if err == io.EOF {
			fb := getFrameBuf(len(buf))
			copy(fb.b, buf)
			return fb, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// frameBuf holds one received frame. Relayed frames travel to the target's write queue
// and return to their pool once written; other frames return when handled.
type frameBuf struct {
	b     []byte
	class int // index into frameClasses, -1 when not pooled
}

// frameClasses are the pooled frame sizes: candidates fit the first, SDPs the last.
var frameClasses = [...]int{512, 2048, 8192}

var framePools [len(frameClasses)]sync.Pool

func getFrameBuf(n int) *frameBuf {
	for i, size := range frameClasses {
		if n <= size {
			fb, _ := framePools[i].Get().(*frameBuf)
			if fb == nil {
				fb = &frameBuf{b: make([]byte, 0, size), class: i}
			}
			fb.b = fb.b[:n]
			return fb
		}
	}
	return &frameBuf{b: make([]byte, n), class: -1}
}

func (fb *frameBuf) release() {
	if fb != nil && fb.class >= 0 {
		framePools[fb.class].Put(fb)
	}
}

// dropQueueLocked empties the write queue, recycling its frames. c.wmu is held.
func (c *conn) dropQueueLocked() {
	for _, f := range c.queue {
		f.buf.release()
	}
	c.queue, c.spare = nil, nil
	c.qbytes = 0
}

// tooBig answers an oversized frame: error reply, close 1009, then drain the input for
// closeGrace so that the client reads the close instead of a connection reset.
func (c *conn) tooBig() {
	c.setReason("frame too big")
	c.replyError(CodeTooBig, fmt.Sprintf("frame larger than %d bytes", c.s.cfg.MaxMessageBytes))
	c.closeWith(websocket.CloseMessageTooBig, "message too big")
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

func readReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("client closed (%d)", ce.Code)
	}
	return "read: " + err.Error()
}

// finish runs once, when the read loop ends: it stops the queue, leaves the room (with
// peer-leave to the remaining member) and closes the socket.
func (c *conn) finish() {
	c.wmu.Lock()
	c.wclosed = true
	c.dropQueueLocked()
	c.wmu.Unlock()
	c.s.detach(c)
	_ = c.ws.Close()
	c.s.cfg.Logf("signal: conn %d closed: %s", c.id, c.reasonString())
}

// abort cuts the socket at once; the read loop then ends and cleans up.
func (c *conn) abort(reason string) {
	c.setReason(reason)
	_ = c.ws.Close()
}

// send queues one frame without blocking. A connection whose queue is full is dropped:
// a slow reader must not hold up its room. It reports whether the frame was queued.
func (c *conn) send(typ int, data []byte) bool {
	return c.sendFrame(outFrame{typ: typ, data: data})
}

// sendFrame queues f; when it reports false, f.buf still belongs to the caller.
func (c *conn) sendFrame(f outFrame) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || c.closeQueued {
		return false
	}
	if len(c.queue) >= c.s.cfg.WriteQueue || c.qbytes+len(f.data) > c.s.cfg.WriteQueueBytes {
		c.wclosed = true
		c.dropQueueLocked()
		c.s.droppedSlow.Add(1)
		c.s.cfg.Logf("signal: conn %d dropped: write queue full (slow reader)", c.id)
		c.abort("slow reader: write queue full")
		return false
	}
	c.queue = append(c.queue, f)
	c.qbytes += len(f.data)
	c.startWriterLocked()
	return true
}

// reply queues an answer to c's own frame (an error reply, a ping answer). Replies are
// best effort: when c's queue is half full the reply is skipped, so a client that floods
// bad frames loses replies instead of being dropped as a slow reader.
func (c *conn) reply(data []byte) {
	c.wmu.Lock()
	full := len(c.queue) >= c.s.cfg.WriteQueue/2 || c.qbytes+len(data) > c.s.cfg.WriteQueueBytes/2
	c.wmu.Unlock()
	if !full {
		c.send(websocket.TextMessage, data)
	}
}

// closeWith queues a close frame (nothing is sent after it) and gives the client
// closeGrace to answer before the read loop gives up.
func (c *conn) closeWith(code int, text string) {
	c.wmu.Lock()
	if c.wclosed || c.closeQueued {
		c.wmu.Unlock()
		return
	}
	c.closeQueued = true
	c.queue = append(c.queue, outFrame{typ: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, text)})
	c.startWriterLocked()
	c.wmu.Unlock()
	c.setReason(fmt.Sprintf("server closed (%d %s)", code, text))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// startWriterLocked starts the writer goroutine if none runs. c.wmu is held. The
// connection's read loop still holds its WaitGroup count here (wclosed is false), so the
// Add cannot race Shutdown's Wait.
func (c *conn) startWriterLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.s.wg.Add(1)
	go c.writeLoop()
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var batch []outFrame
	for {
		c.wmu.Lock()
		if batch != nil {
			c.spare = batch[:0]
		}
		if len(c.queue) == 0 || c.wclosed {
			c.writing = false
			if cap(c.queue) > 16 || cap(c.spare) > 16 {
				c.queue, c.spare = nil, nil // do not keep a burst's arrays on an idle connection
			}
			c.wmu.Unlock()
			return
		}
		batch, c.queue, c.spare = c.queue, c.spare, nil
		c.qbytes = 0
		c.wmu.Unlock()
		for i, f := range batch {
			var err error
			deadline := time.Now().Add(c.s.cfg.WriteTimeout)
			if f.typ == websocket.TextMessage || f.typ == websocket.BinaryMessage {
				_ = c.ws.SetWriteDeadline(deadline)
				err = c.ws.WriteMessage(f.typ, f.data)
			} else {
				err = c.ws.WriteControl(f.typ, f.data, deadline)
			}
			f.buf.release()
			batch[i] = outFrame{}
			if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
				for _, rest := range batch[i+1:] {
					rest.buf.release()
				}
				clear(batch)
				c.abort("write: " + err.Error())
				c.wmu.Lock()
				c.wclosed = true
				c.dropQueueLocked()
				c.writing = false
				c.wmu.Unlock()
				return
			}
		}
	}
}

// replyError sends {"cmd":"error","code":code,"reason":reason} to this connection only.
func (c *conn) replyError(code int, reason string) {
	b, err := Message{Cmd: CmdError, Code: code, Reason: reason}.Encode()
	if err != nil {
		return
	}
	c.s.errorsSent.Add(1)
	// One log line per second per connection at most, so a flood cannot flood the log.
	if now := c.s.cfg.Now(); c.lastErrLog.IsZero() || now.Sub(c.lastErrLog) >= time.Second {
		more := ""
		if c.errQuiet > 0 {
			more = fmt.Sprintf(" (%d more errors not logged)", c.errQuiet)
		}
		c.s.cfg.Logf("signal: conn %d error %d: %s%s", c.id, code, reason, more)
		c.lastErrLog, c.errQuiet = now, 0
	} else {
		c.errQuiet++
	}
	c.reply(b)
}

// sendMsg encodes and queues a server message.
func (c *conn) sendMsg(m Message) {
	b, err := m.Encode()
	if err != nil {
		return
	}
	c.send(websocket.TextMessage, b)
}
