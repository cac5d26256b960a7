package interop

import (
	"context"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/serve"
)

// startServe runs rtcctl serve in process on an ephemeral loopback port with embedded
// TURN (REST credentials from /config).
func startServe(t *testing.T) *serve.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0", TURN: true, Logf: t.Logf})
	if err != nil {
		cancel()
		t.Fatalf("serve.Start: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		cancel()
	})
	return srv
}

// TestBrowserToBrowserThroughServe: two Chromium tabs on serve's page get a call with
// media both ways — the page works with a real browser on both ends.
func TestBrowserToBrowserThroughServe(t *testing.T) {
	t.Parallel()
	srv := startServe(t)
	room := randomRoom()
	a := openCallPage(t, "tab A", pageURL(srv.HTTPURL(), room, "autojoin=1"))
	a.waitState("joined", 15*time.Second, func(s pageState) bool { return s.Joined })
	b := openCallPage(t, "tab B", pageURL(srv.HTTPURL(), room, "autojoin=1", "format=web"))
	connected := func(s pageState) bool { return s.Connection == "connected" }
	sa := a.waitState("connected", 20*time.Second, connected)
	sb := b.waitState("connected", 20*time.Second, connected)
	if sa.Role != "caller" || sb.Role != "callee" {
		t.Errorf("roles: first joiner %q, second %q; want caller (got new-peer) and callee", sa.Role, sb.Role)
	}
	ma := a.requireMedia(7) // half of the 15 fps the camera hook asks for
	mb := b.requireMedia(7)
	t.Logf("A receives %.1f fps, %d audio B/2s (%s/%s); B receives %.1f fps, %d audio B/2s",
		ma.FPS, ma.AudioBytes, ma.Stats.LocalCandidateType, ma.Stats.RemoteCandidateType, mb.FPS, mb.AudioBytes)
}
