package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v4"
)

// Retransmission of STUN requests over UDP (RFC 8489 7.2.1 with a shorter first RTO: probes
// are interactive and the stage deadline bounds the total anyway).
const (
	stunInitialRTO = 200 * time.Millisecond
	stunMaxRTO     = 1600 * time.Millisecond
)

// stunConn runs STUN transactions over one connection: a connected UDP socket (datagrams,
// with retransmission) or a TCP/TLS stream (RFC 8489 framing, no retransmission). A reader
// goroutine matches responses to waiting requests and queues indications.
type stunConn struct {
	conn   net.Conn
	stream bool

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan *stun.Message
	readErr error

	// indications receives Data indications and other non-response messages.
	indications chan *stun.Message
	done        chan struct{}
	closeOnce   sync.Once
	wg          sync.WaitGroup
}

func newSTUNConn(conn net.Conn, stream bool) *stunConn {
	c := &stunConn{
		conn: conn, stream: stream,
		pending:     map[[stun.TransactionIDSize]byte]chan *stun.Message{},
		indications: make(chan *stun.Message, 1024),
		done:        make(chan struct{}),
	}
	c.wg.Add(1)
	go c.readLoop()
	return c
}

// Close closes the connection and waits for the reader to end.
func (c *stunConn) Close() {
	c.closeOnce.Do(func() {
		_ = c.conn.Close()
	})
	c.wg.Wait()
}

func (c *stunConn) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := c.readMessage(buf)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		if !stun.IsMessage(buf[:n]) {
			continue // ChannelData or junk: the probe binds no channels
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := m.Decode(); err != nil {
			continue
		}
		if m.Type.Class == stun.ClassSuccessResponse || m.Type.Class == stun.ClassErrorResponse {
			c.mu.Lock()
			ch, ok := c.pending[m.TransactionID]
			if ok {
				delete(c.pending, m.TransactionID)
			}
			c.mu.Unlock()
			if ok {
				ch <- m
			}
			continue
		}
		select {
		case c.indications <- m:
		default: // a slow consumer loses indications, like a full socket buffer would
		}
	}
}

// readMessage reads one datagram, or one framed STUN/ChannelData message from a stream.
func (c *stunConn) readMessage(buf []byte) (int, error) {
	if !c.stream {
		return c.conn.Read(buf)
	}
	if _, err := io.ReadFull(c.conn, buf[:4]); err != nil {
		return 0, err
	}
	if string(buf[:4]) == "HTTP" {
		return 0, fmt.Errorf("%w: %w", ErrProtocol, errHTTPAnswer)
	}
	var total int
	if buf[0]&0xC0 == 0 { // STUN: 20-byte header, length excludes it
		total = 20 + int(binary.BigEndian.Uint16(buf[2:4]))
	} else { // ChannelData: 4-byte header, padded to 4 over streams
		l := int(binary.BigEndian.Uint16(buf[2:4]))
		total = 4 + (l+3)&^3
	}
	if total > len(buf) {
		return 0, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, total)
	}
	if _, err := io.ReadFull(c.conn, buf[4:total]); err != nil {
		return 0, err
	}
	return total, nil
}

// errHTTPAnswer: a stream answered a STUN request with an HTTP response (a web server or
// proxy on the port).
var errHTTPAnswer = errors.New("the server answered in HTTP: a web server or proxy listens there, not TURN")

// err returns why the reader stopped (nil while it runs).
func (c *stunConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// send writes a message without waiting for an answer (indications).
func (c *stunConn) send(m *stun.Message) error {
	_, err := c.conn.Write(m.Raw)
	return err
}

// roundTrip sends req and waits for the matching response, retransmitting over UDP. The
// RTT is measured from the first transmission: a retransmission keeps the transaction ID,
// so an answer cannot be matched to one send, and timing it from the last send would read
// a server further away than the retransmission timeout as fast.
func (c *stunConn) roundTrip(ctx context.Context, req *stun.Message) (*stun.Message, time.Duration, error) {
	ch := make(chan *stun.Message, 1)
	c.mu.Lock()
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return nil, 0, classifyNetErr(err)
	}
	c.pending[req.TransactionID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.TransactionID)
		c.mu.Unlock()
	}()

	rto := stunInitialRTO
	sent := time.Now()
	for {
		if _, err := c.conn.Write(req.Raw); err != nil {
			return nil, 0, classifyNetErr(err)
		}
		var retransmit <-chan time.Time
		var timer *time.Timer
		if !c.stream {
			timer = time.NewTimer(rto)
			retransmit = timer.C
		}
		select {
		case m := <-ch:
			stopTimer(timer)
			return m, time.Since(sent), nil
		case <-c.done:
			stopTimer(timer)
			select {
			case m := <-ch:
				return m, time.Since(sent), nil
			default:
			}
			return nil, 0, classifyNetErr(c.err())
		case <-ctx.Done():
			stopTimer(timer)
			return nil, 0, fmt.Errorf("%s %w", req.Type.Method, ErrTimeout)
		case <-retransmit:
			if rto < stunMaxRTO {
				rto *= 2
			}
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// classifyNetErr maps socket errors to the package sentinels so callers can tell a refusal
// from silence.
func classifyNetErr(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
