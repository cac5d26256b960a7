package signal

import (
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// allow applies the per-connection token bucket to one incoming frame. Dropped frames get
// one CodeRateLimited reply per second at most; a connection that keeps going until
// abuseFactor*burst frames were dropped without the bucket refilling is closed (1008).
func (c *conn) allow() bool {
	cfg := &c.s.cfg
	if cfg.RatePerSec < 0 {
		return true
	}
	now := cfg.Now()
	burst := float64(cfg.RateBurst)
	if el := now.Sub(c.last).Seconds(); el > 0 {
		c.tokens += el * cfg.RatePerSec
		if c.tokens > burst {
			c.tokens = burst
		}
	}
	c.last = now
	if c.tokens >= burst {
		c.abuse = 0
	}
	if c.tokens >= 1 {
		c.tokens--
		return true
	}
	c.s.rateLimited.Add(1)
	c.abuse++
	if c.abuse >= abuseFactor*cfg.RateBurst {
		if c.abuse == abuseFactor*cfg.RateBurst {
			cfg.Logf("signal: conn %d closed: sustained rate limit abuse", c.id)
			c.closeWith(websocket.ClosePolicyViolation, "rate limit exceeded")
		}
		return false
	}
	if c.lastLimit.IsZero() || now.Sub(c.lastLimit) >= time.Second {
		c.lastLimit = now
		c.replyError(CodeRateLimited, "rate limit exceeded: message dropped")
	}
	return false
}

// livenessLoop pings every connection each PingInterval and evicts connections silent for
// IdleTimeout. One goroutine serves all connections (no timer per connection).
func (s *Server) livenessLoop() {
	defer s.wg.Done()
	ping, idle := s.cfg.PingInterval, s.cfg.IdleTimeout
	if ping < 0 && idle < 0 {
		<-s.stop
		return
	}
	tick := ping
	if tick < 0 || (idle > 0 && idle < tick) {
		tick = idle
	}
	tick /= 4
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var snap []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			snap = append(snap, c)
		}
		s.mu.Unlock()
		now := s.cfg.Now().UnixNano()
		for _, c := range snap {
			if idle > 0 && now-c.lastSeen.Load() > int64(idle) {
				if c.evicted.CompareAndSwap(false, true) {
					s.evicted.Add(1)
					s.cfg.Logf("signal: conn %d evicted: silent for %v", c.id, idle)
					// Say why before cutting: a client that still reads sees 1001
					// with the reason instead of a bare 1006 that looks like a proxy cut.
					_ = c.ws.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseGoingAway, fmt.Sprintf("idle timeout: nothing received for %v", idle)),
						time.Now().Add(evictCloseWait))
					c.abort("evicted: idle")
				}
				continue
			}
			if ping > 0 && now-c.lastPing >= int64(ping) {
				c.lastPing = now
				c.send(websocket.PingMessage, nil)
			}
		}
		clear(snap)
		snap = snap[:0]
	}
}

// evictCloseWait bounds the close-frame write to an evicted (possibly dead) client.
const evictCloseWait = 100 * time.Millisecond
