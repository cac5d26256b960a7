package turnserver

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// authLogEvery is how often one source address may log an auth refusal; a client retrying
// a wrong password (or a scanner) would otherwise write dozens of lines per second.
const authLogEvery = 10 * time.Second

// authLogMaxSources bounds the memory of the limiter; when full it starts over.
const authLogMaxSources = 4096

// authLogLimiter lets one auth-refusal line per source IP through per authLogEvery and
// counts the ones it held back, so the next line can say how many there were.
type authLogLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]*authLogEntry
}

type authLogEntry struct {
	last       time.Time
	suppressed int
}

// allow reports whether a refusal from src may be logged now and how many refusals from
// the same IP were held back since its last logged line.
func (l *authLogLimiter) allow(src net.Addr) (ok bool, suppressed int) {
	key := ""
	if src != nil {
		key = src.String()
		if host, _, err := net.SplitHostPort(key); err == nil {
			key = host
		}
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) >= authLogMaxSources {
		l.seen = map[string]*authLogEntry{}
	}
	e := l.seen[key]
	if e == nil {
		l.seen[key] = &authLogEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < authLogEvery {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// authSuffix is appended to a logged refusal that follows held-back ones.
func authSuffix(suppressed int) string {
	if suppressed == 0 {
		return ""
	}
	if suppressed == 1 {
		return " (1 more refusal from this address not logged)"
	}
	return " (" + strconv.Itoa(suppressed) + " more refusals from this address not logged)"
}
