package turnserver

import (
	"runtime"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/turncred"
)

// TestCloseLeavesNoGoroutines allocates over UDP and TCP, closes the server while the
// allocations are live, and checks every goroutine of the server ends. Not parallel, so
// the goroutine count is stable.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s, err := Start(Config{Secret: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, p := turncred.Generate("k", "leak", time.Hour, time.Now())
		for _, tr := range []string{"udp", "tcp"} {
			t.Run(tr, func(t *testing.T) {
				relay, err := allocate(t, newClient(t, s, tr, u, p))
				if err != nil {
					t.Fatal(err)
				}
				echoThroughRelay(t, relay)
			})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
