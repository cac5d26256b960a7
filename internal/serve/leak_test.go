package serve

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCloseLeavesNoGoroutines runs a server through a WebSocket join, a TURN allocation
// and HTTPS requests, closes everything, and checks the goroutine count returns to where
// it was. It is not parallel: parallel tests are paused while it runs, so the count is
// stable.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", TURN: true, TLSSelfSigned: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		hc := httpClient(s)
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(s.HTTPURL() + "config")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c := dial(t, s, s.SignalURL())
		sendJSON(t, c, map[string]any{"cmd": "join", "roomId": "1", "uid": "u"})
		sendJSON(t, c, map[string]any{"cmd": "ping"})
		readMsg(t, c)
		for _, is := range s.ICEServers() {
			if is.Username != "" {
				if err := allocateUDP(t, s, is.Username, is.Credential.(string)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var ours []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "rtcctl/internal") || strings.Contains(g, "pion") || strings.Contains(g, "net/http") {
					ours = append(ours, g)
				}
			}
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), strings.Join(ours, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
