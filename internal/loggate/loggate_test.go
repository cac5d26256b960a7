package loggate

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestGateStopsAtClose: lines pass until Close; after Close returns, concurrent writers
// reach the underlying logger no more.
func TestGateStopsAtClose(t *testing.T) {
	var n, after atomic.Int64
	var closed atomic.Bool
	g := New(func(string, ...any) {
		n.Add(1)
		if closed.Load() {
			after.Add(1)
		}
	})
	g.Logf("one")
	if n.Load() != 1 {
		t.Fatalf("lines before close: %d, want 1", n.Load())
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				g.Logf("line %d", j)
			}
		}()
	}
	g.Close()
	closed.Store(true)
	wg.Wait()
	g.Close() // idempotent
	if after.Load() != 0 {
		t.Fatalf("%d lines written after Close returned", after.Load())
	}
}
