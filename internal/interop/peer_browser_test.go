package interop

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

// rtcctlPeer runs the rtcctl side (peer.Run, in process) in the background.
type rtcctlPeer struct {
	done    chan struct{}
	res     *peer.Result
	err     error
	waiting chan struct{} // closed when the peer has joined and waits for a peer
}

func startPeer(t *testing.T, cfg peer.Config) *rtcctlPeer {
	t.Helper()
	p := &rtcctlPeer{done: make(chan struct{}), waiting: make(chan struct{})}
	var once bool
	cfg.OnStatus = func(s peer.Status) {
		if s.Stage == "waiting-peer" && !once {
			once = true
			close(p.waiting)
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(p.done)
		p.res, p.err = peer.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait returns the peer's result, failing the test if it does not end within d.
func (p *rtcctlPeer) wait(t *testing.T, d time.Duration) *peer.Result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("rtcctl peer did not finish within %v", d)
	}
	if p.err != nil {
		t.Fatalf("rtcctl peer could not run: %v", p.err)
	}
	return p.res
}

func (p *rtcctlPeer) waitJoined(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.waiting:
	case <-p.done:
		t.Fatalf("rtcctl peer ended before joining: %v %+v", p.err, p.res)
	case <-time.After(d):
		t.Fatalf("rtcctl peer did not join within %v", d)
	}
}

// requireChromiumMediaAtRtcctl asserts what rtcctl received from Chromium in call i:
// video arriving, moving, not black; audio arriving.
func requireChromiumMediaAtRtcctl(t *testing.T, res *peer.Result, i int, wantRole string) *peer.CallResult {
	t.Helper()
	if len(res.Calls) <= i {
		js, _ := json.MarshalIndent(res, "", "  ")
		t.Fatalf("rtcctl took %d call(s), want at least %d; result:\n%s", len(res.Calls), i+1, js)
	}
	c := res.Calls[i]
	dump := func() string { js, _ := json.MarshalIndent(c, "", "  "); return string(js) }
	if c.Role != wantRole {
		t.Errorf("rtcctl role in call %d = %q, want %q", i, c.Role, wantRole)
	}
	if !c.Verdict.OK {
		t.Errorf("rtcctl verdict on Chromium's media: %s (%s): %s\n%s", c.Verdict.Code, c.Verdict.Finding, c.Verdict.Fix, dump())
	}
	var video, audio *peer.TrackRx
	for _, rx := range c.Rx {
		switch rx.Kind {
		case "video":
			video = rx
		case "audio":
			audio = rx
		}
	}
	if video == nil || audio == nil {
		t.Fatalf("rtcctl did not receive both tracks from Chromium:\n%s", dump())
	}
	// The camera hook asks Chrome for 15 fps; half of it allows for a busy CI machine.
	if video.FPS < 7 || video.FramesDecoded < 20 {
		t.Errorf("Chromium video at rtcctl: %.1f fps, %d frames decoded; want >= 7 fps (half of the 15 fps asked of the camera)", video.FPS, video.FramesDecoded)
	}
	if video.Black {
		t.Errorf("Chromium video at rtcctl judged black (the fake camera is dark but structured)")
	}
	if video.Frozen {
		t.Errorf("Chromium video at rtcctl judged frozen (the fake camera moves)")
	}
	if audio.Packets < 50 || audio.Bytes == 0 {
		t.Errorf("Chromium audio at rtcctl: %d packets, %d bytes", audio.Packets, audio.Bytes)
	}
	t.Logf("rtcctl got from Chromium: video %dx%d %.1f fps (%d decoded), audio %d pkts; pair %+v",
		video.Width, video.Height, video.FPS, video.FramesDecoded, audio.Packets, c.Selected)
	return c
}

// peerConfig is the rtcctl side of a browser test.
func peerConfig(srv string, room string, format signal.CandidateFormat, d time.Duration) peer.Config {
	return peer.Config{
		Server:          srv,
		Room:            signal.StringID(room),
		CandidateFormat: format,
		Send:            peer.DefaultMedia,
		Once:            true,
		Duration:        d,
		Network:         peer.NetworkLoopback,
		PeerTimeout:     20 * time.Second,
		// Small and light: the suite shares 2 cores with the race detector and other
		// packages' tests, and a starved encoder measures the machine, not interop.
		VideoProfile: media.VideoProfile{Width: rtcctlWidth, Height: rtcctlHeight, FPS: rtcctlFPS, BitrateKbps: 300},
	}
}

// The rtcctl sender's video in browser tests; Chromium must decode it at no less than
// half the sent rate.
const (
	rtcctlWidth, rtcctlHeight = 320, 240
	rtcctlFPS                 = 15
	minBrowserFPS             = rtcctlFPS / 2
)

// TestBrowserAndRtcctl: Chromium on serve's page and rtcctl call each other, in both join
// orders and with each side sending the other candidate format; media is checked on both
// ends (rtcctl's analyzer, Chromium's getStats).
func TestBrowserAndRtcctl(t *testing.T) {
	srv := startServe(t)
	cases := []struct {
		name          string
		browserFirst  bool
		browserFormat string
		rtcctlFormat  signal.CandidateFormat
	}{
		{"browser-first/browser-web/rtcctl-android", true, "web", signal.FormatAndroid},
		{"browser-first/browser-android/rtcctl-web", true, "android", signal.FormatWeb},
		{"rtcctl-first/browser-web/rtcctl-android", false, "web", signal.FormatAndroid},
		{"rtcctl-first/browser-android/rtcctl-web", false, "android", signal.FormatWeb},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			room := randomRoom()
			url := pageURL(srv.HTTPURL(), room, "autojoin=1", "format="+tc.browserFormat)
			cfg := peerConfig(srv.SignalURL(), room, tc.rtcctlFormat, 9*time.Second)
			var tab *callPage
			var p *rtcctlPeer
			if tc.browserFirst {
				tab = openCallPage(t, "chromium", url)
				tab.waitState("joined", 15*time.Second, func(s pageState) bool { return s.Joined })
				p = startPeer(t, cfg)
			} else {
				p = startPeer(t, cfg)
				p.waitJoined(t, 10*time.Second)
				tab = openCallPage(t, "chromium", url)
			}
			st := tab.waitState("connected", 20*time.Second, func(s pageState) bool { return s.Connection == "connected" })
			wantBrowserRole, wantRtcctlRole := "caller", "callee"
			if !tc.browserFirst {
				wantBrowserRole, wantRtcctlRole = "callee", "caller"
			}
			if st.Role != wantBrowserRole {
				t.Errorf("Chromium role %q, want %q", st.Role, wantBrowserRole)
			}
			m := tab.requireMedia(minBrowserFPS)
			t.Logf("Chromium got from rtcctl: %.1f fps, %d audio B/2s, pair %s/%s",
				m.FPS, m.AudioBytes, m.Stats.LocalCandidateType, m.Stats.RemoteCandidateType)
			res := p.wait(t, 30*time.Second)
			requireChromiumMediaAtRtcctl(t, res, 0, wantRtcctlRole)
		})
	}
}

// TestBrowserAndRtcctlRelayOnlyCoturn: both sides relay-only through Debian coturn
// (Chromium with relay=1, its /config answered with coturn's ICE servers; rtcctl with
// RelayOnly). The selected pair is relay on both ends.
func TestBrowserAndRtcctlRelayOnlyCoturn(t *testing.T) {
	srv := startServe(t)
	turn := testenv.StartCoturn(t, testenv.CoturnOptions{})
	var user, pass string
	for u, pw := range turn.Users {
		user, pass = u, pw
	}
	room := randomRoom()
	cfg := peerConfig(srv.SignalURL(), room, signal.FormatAndroid, 9*time.Second)
	cfg.RelayOnly = true
	cfg.ICEServers = []webrtc.ICEServer{{URLs: []string{turn.UDPURL()}, Username: user, Credential: pass}}
	p := startPeer(t, cfg)
	p.waitJoined(t, 10*time.Second)

	iceCfg, _ := json.Marshal(map[string]any{"iceServers": []map[string]any{
		{"urls": []string{turn.UDPURL()}, "username": user, "credential": pass}}})
	tab := openCallPage(t, "chromium", pageURL(srv.HTTPURL(), room, "autojoin=1", "relay=1"), string(iceCfg))
	tab.waitState("connected", 20*time.Second, func(s pageState) bool { return s.Connection == "connected" })
	m := tab.requireMedia(minBrowserFPS)
	if m.Stats.LocalCandidateType != "relay" {
		t.Errorf("Chromium's selected local candidate is %q, want relay", m.Stats.LocalCandidateType)
	}
	res := p.wait(t, 30*time.Second)
	c := requireChromiumMediaAtRtcctl(t, res, 0, "caller")
	if c.Selected == nil || c.Selected.LocalType != "relay" {
		t.Errorf("rtcctl's selected pair is not relay: %+v", c.Selected)
	}
}

// TestBrowserLeavesAndRejoins: rtcctl stays in the room (not Once); Chromium calls it,
// leaves, rejoins; rtcctl takes the second call too.
func TestBrowserLeavesAndRejoins(t *testing.T) {
	srv := startServe(t)
	room := randomRoom()
	cfg := peerConfig(srv.SignalURL(), room, signal.FormatAndroid, 25*time.Second)
	cfg.Once = false
	p := startPeer(t, cfg)
	p.waitJoined(t, 10*time.Second)
	tab := openCallPage(t, "chromium", pageURL(srv.HTTPURL(), room, "autojoin=1"))
	tab.waitState("first call connected", 20*time.Second, func(s pageState) bool { return s.Connection == "connected" })
	tab.requireMedia(minBrowserFPS)
	time.Sleep(2 * time.Second) // let rtcctl measure the first call
	tab.do(`window.rtcctl.leave()`)
	tab.waitState("left", 5*time.Second, func(s pageState) bool { return !s.Joined && s.WS == "closed" })
	time.Sleep(500 * time.Millisecond)
	tab.do(`window.rtcctl.join(` + testenv.JSString(room) + `)`)
	st := tab.waitState("second call connected", 20*time.Second, func(s pageState) bool { return s.Connection == "connected" && s.ConnectedCalls >= 1 })
	if st.Role != "callee" {
		t.Errorf("rejoining Chromium role %q, want callee (rtcctl is already in the room)", st.Role)
	}
	tab.requireMedia(minBrowserFPS)
	res := p.wait(t, 40*time.Second)
	if len(res.Calls) != 2 {
		t.Fatalf("rtcctl took %d calls, want 2 (one per Chromium join)", len(res.Calls))
	}
	if res.Calls[0].EndReason != "peer-leave" {
		t.Errorf("first call ended with %q, want peer-leave", res.Calls[0].EndReason)
	}
	requireChromiumMediaAtRtcctl(t, res, 0, "caller")
	requireChromiumMediaAtRtcctl(t, res, 1, "caller")
}
