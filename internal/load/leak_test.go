package load

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/serve"
)

// TestNoGoroutineLeft runs signal-only rooms (including failed ones) and checks that every
// goroutine Run started is gone afterwards. Not parallel: parallel tests wait until the
// sequential ones are done, so the count is this test's alone.
func TestNoGoroutineLeft(t *testing.T) {
	if _, _, err := realisticSDPs(); err != nil { // pion's one-time set-up first
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		servedURL := srv.SignalURL()
		for _, cfg := range []Config{
			{Mode: ModeSignal, Server: servedURL, Rooms: 20, Ramp: -1, Duration: 50 * time.Millisecond},
			{Mode: ModeSignal, Server: "ws://127.0.0.1:1/ws", Rooms: 3, Ramp: -1},
			{Mode: ModeMedia, Runner: fakeRunner, Rooms: 5, Ramp: 100, Progress: func(Progress) {}, ProgressInterval: time.Millisecond},
		} {
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var ours []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "rtcctl/internal/load.") {
				ours = append(ours, g)
			}
		}
		t.Fatalf("%d goroutines before, %d after; load's own:\n%s", before, n, strings.Join(ours, "\n\n"))
	}
}
