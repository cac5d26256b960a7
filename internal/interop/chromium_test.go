package interop

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

func isLoopbackIP(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.IsLoopback()
}

// loopbackPage makes a call between two RTCPeerConnections inside one page with the fake
// camera and microphone, and publishes what the receiving side saw in window.loop.
const loopbackPage = `<!doctype html><meta charset=utf-8><title>loop</title><script>
window.loop = {state: "start"};
(async () => {
  try {
    const s = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
    const a = new RTCPeerConnection(), b = new RTCPeerConnection();
    const hosts = [];
    a.onicecandidate = e => { if (e.candidate) { hosts.push(e.candidate.candidate); b.addIceCandidate(e.candidate); } };
    b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
    s.getTracks().forEach(t => a.addTrack(t, s));
    await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
    window.loop = {state: "negotiated", pc: b, hosts};
    setInterval(async () => {
      let frames = 0, audio = 0;
      (await b.getStats()).forEach(r => {
        if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded || 0;
        if (r.type === "inbound-rtp" && r.kind === "audio") audio = r.packetsReceived || 0;
      });
      window.loop.frames = frames; window.loop.audio = audio;
      window.loop.conn = b.connectionState;
    }, 100);
  } catch (e) { window.loop = {state: "error", error: String(e)}; }
})();
</script>`

// TestChromiumLauncher proves the flag set: fake devices work without a prompt, host
// candidates on loopback are gathered as plain IPs (no mDNS names), and media flows.
func TestChromiumLauncher(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(loopbackPage))
	}))
	t.Cleanup(srv.Close)

	tab := sharedBrowser(t).NewTab(t)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	type loopState struct {
		State  string   `json:"state"`
		Error  string   `json:"error"`
		Conn   string   `json:"conn"`
		Frames int      `json:"frames"`
		Audio  int      `json:"audio"`
		Hosts  []string `json:"hosts"`
	}
	var st loopState
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		st, err = chromedp.Run(ctx, chromedp.Evaluate[loopState](`({state: loop.state, error: loop.error, conn: loop.conn, frames: loop.frames|0, audio: loop.audio|0, hosts: loop.hosts||[]})`))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		if st.State == "error" || (st.Frames >= 30 && st.Audio >= 20) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.State == "error" {
		t.Fatalf("page failed: %s", st.Error)
	}
	if st.Conn != "connected" || st.Frames < 30 || st.Audio < 20 {
		t.Fatalf("in-page call did not carry media: %+v", st)
	}
	for _, c := range st.Hosts {
		if contains(c, ".local") {
			t.Errorf("candidate hides its address behind mDNS (WebRtcHideLocalIpsWithMdns still on): %s", c)
		}
		// Confinement: in the package's loopback-only namespace the browser has no other
		// interface to gather on (candidate:F C proto prio ADDRESS port typ ...).
		if f := strings.Fields(c); testenv.InLoopbackNetns() && (len(f) < 5 || !isLoopbackIP(f[4])) {
			t.Errorf("Chromium gathered a non-loopback candidate inside the loopback-only namespace: %s", c)
		}
	}
	if len(st.Hosts) == 0 {
		t.Errorf("no candidates gathered")
	}
	if !testenv.InLoopbackNetns() {
		t.Logf("not confined to a loopback-only namespace (needs root): candidates %q", st.Hosts)
	}
	t.Logf("in-page call: %d frames decoded, %d audio packets, candidates %q", st.Frames, st.Audio, st.Hosts)
}
