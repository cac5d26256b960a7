// Package loggate stops a component's logging at a known moment: servers whose
// libraries report late events (net/http, pion's TURN goroutines) after Close must not
// call the caller's Logf afterwards (often a test's t.Logf, which panics after the test).
package loggate

import "sync"

// Gate forwards log lines until closed. Once Close returns, no line is being or will be
// written. The zero Gate is not usable; make one with New.
type Gate struct {
	mu     sync.RWMutex
	closed bool
	logf   func(string, ...any)
}

// New returns a gate in front of logf.
func New(logf func(string, ...any)) *Gate { return &Gate{logf: logf} }

// Logf writes one line through the gate unless it is closed.
func (g *Gate) Logf(format string, args ...any) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.closed {
		g.logf(format, args...)
	}
}

// Close stops forwarding; it waits for a line being written to finish. Idempotent.
func (g *Gate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
