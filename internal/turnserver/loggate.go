package turnserver

import "sync"

// logGate forwards log lines until closed, and guarantees that once close returns no
// line is being or will be written: pion's goroutines can report events (allocation
// deleted...) after Server.Close, when the caller's Logf (often a test's t.Logf) must
// not be called any more.
type logGate struct {
	mu     sync.RWMutex
	closed bool
	logf   func(string, ...any)
}

func (g *logGate) log(format string, args ...any) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.closed {
		g.logf(format, args...)
	}
}

func (g *logGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
