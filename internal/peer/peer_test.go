package peer

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

// callSlots bounds the calls this package's tests run at once: each call encodes and
// decodes video both ways, and the CI machine has 2 cores (shared with other packages).
var callSlots = make(chan struct{}, 2)

// quickCall is a short call both ways with the given per-side fault.
func quickCall(t *testing.T, cc CallConfig) *CallReport {
	t.Helper()
	callSlots <- struct{}{}
	defer func() { <-callSlots }()
	if cc.Duration == 0 {
		cc.Duration = 1500 * time.Millisecond
	}
	if cc.Logf == nil {
		cc.Logf = testLogf(t)
	}
	if cc.MediaTimeout == 0 {
		cc.MediaTimeout = 4 * time.Second
	}
	rep, err := RunCall(context.Background(), cc)
	if err != nil {
		t.Fatalf("RunCall could not run: %v", err)
	}
	return rep
}

func dir(t *testing.T, rep *CallReport, name string) *Direction {
	t.Helper()
	for _, d := range rep.Directions {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no direction %s", name)
	return nil
}

func TestRunCallRelayOnlyEmbedded(t *testing.T) {
	t.Parallel()
	rep := quickCall(t, CallConfig{Embedded: true, RelayOnly: true,
		Thresholds: Thresholds{MinFPS: 10, MaxLossPct: 5, RequireRelay: true}})
	for _, d := range rep.Directions {
		if !d.Selected.IsRelay() {
			t.Errorf("%s: selected pair %v, want relay/relay", d.Name, d.Selected)
		}
		if d.Selected != nil && d.Selected.RelayServer == "" {
			t.Errorf("%s: relay server URL not inferred", d.Name)
		}
		for _, c := range d.Checks {
			if !c.Passed {
				t.Errorf("check %s failed: %s (threshold %s) %s", c.Name, c.Measured, c.Threshold, c.Detail)
			}
		}
	}
}

func TestRunCallRelayOnlyCoturn(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{})
	var user, pass string
	for u, p := range ct.Users {
		user, pass = u, p
	}
	srv := signaltest.StartLegacy(t)
	for _, tc := range []struct{ name, url, proto string }{
		{"udp", ct.UDPURL(), "udp"},
		{"tcp", ct.TCPURL(), "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := quickCall(t, CallConfig{Server: srv.URL(), RelayOnly: true, VideoProfile: smallProfile,
				ICEServers: []webrtc.ICEServer{{URLs: []string{tc.url}, Username: user, Credential: pass}},
				Thresholds: Thresholds{MinFPS: 8, RequireRelay: true}})
			for _, d := range rep.Directions {
				if !d.Passed || !d.Selected.IsRelay() {
					t.Errorf("%s: passed %v, pair %v, verdict %s: %s", d.Name, d.Passed, d.Selected, d.Verdict.Code, d.Verdict.Finding)
				}
				if d.Selected != nil && (d.Selected.RelayServer != tc.url || d.Selected.RelayProtocol != tc.proto) {
					t.Errorf("%s: relay %s via %q, want %s via %q", d.Name, d.Selected.RelayProtocol, d.Selected.RelayServer, tc.proto, tc.url)
				}
			}
		})
	}
}

func TestRunCallLegacyServer(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	rep := quickCall(t, CallConfig{Server: srv.URL(), CandidateFormat: signal.FormatWeb,
		Thresholds: Thresholds{MinFPS: 10}})
	if !rep.Passed {
		for _, d := range rep.Directions {
			t.Errorf("%s: %s: %s", d.Name, d.Verdict.Code, d.Verdict.Finding)
		}
	}
	roles := rep.Peers[0].Calls[0].Role + "/" + rep.Peers[1].Calls[0].Role
	if roles != "caller/callee" {
		t.Errorf("roles %s, want caller/callee (first joiner gets new-peer)", roles)
	}
	if rep.Peers[0].Signaling.JoinReply != "" {
		t.Errorf("first joiner got %q from the original server, want silence", rep.Peers[0].Signaling.JoinReply)
	}
}

// TestRunCallMixedCandidateFormats: a sends candidates in the Android format, b in the web
// format (JSON.stringify(RTCIceCandidate)); each accepts the other's, and the call passes.
// Both sides' timelines have every stage, in order, and the video sender answered the
// receiver's track-start PLI with a forced keyframe.
func TestRunCallMixedCandidateFormats(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	rep := quickCall(t, CallConfig{Server: srv.URL(), VideoProfile: smallProfile, Thresholds: Thresholds{MinFPS: 7},
		Side: func(side string, c *Config) {
			c.CandidateFormat = signal.FormatAndroid
			if side == "b" {
				c.CandidateFormat = signal.FormatWeb
			}
		}})
	for _, d := range rep.Directions {
		if !d.Passed {
			t.Errorf("%s: %s: %s", d.Name, d.Verdict.Code, d.Verdict.Finding)
		}
	}
	for i, p := range rep.Peers {
		if len(p.Calls) != 1 {
			t.Fatalf("peer %d: %d calls", i, len(p.Calls))
		}
		c := p.Calls[0]
		if c.RemoteCandidates.Counts["host"] == 0 {
			t.Errorf("peer %d took no remote candidate from the other format: %v", i, c.RemoteCandidates.Counts)
		}
		tl := c.Timeline
		offer, answer := tl.OfferSent, tl.AnswerReceived
		if c.Role == "callee" {
			offer, answer = tl.OfferReceived, tl.AnswerSent
		}
		stages := []struct {
			name string
			ms   *float64
		}{
			{"ws open", tl.WSOpen}, {"joined", tl.Joined}, {"peer known", tl.PeerKnown}, {"offer", offer},
			{"answer", answer}, {"ICE connected", tl.ICEConnected}, {"DTLS connected", tl.DTLSConnected},
			{"first RTP video", tl.FirstRTPVideo}, {"first keyframe", tl.FirstKeyFrame},
			{"first decoded frame", tl.FirstDecodedFrame}, {"ended", tl.Ended},
		}
		prev := 0.0
		for _, st := range stages {
			if st.ms == nil {
				t.Errorf("peer %d (%s): timeline lacks %s: %+v", i, c.Role, st.name, tl)
				continue
			}
			if *st.ms < prev {
				t.Errorf("peer %d (%s): %s at %.1f ms, before the previous stage at %.1f ms", i, c.Role, st.name, *st.ms, prev)
			}
			prev = *st.ms
		}
		for _, other := range []*float64{tl.FirstLocalCandidate, tl.FirstRemoteCandidate, tl.ICEChecking, tl.FirstRTPAudio} {
			if other == nil {
				t.Errorf("peer %d: timeline lacks a candidate/ICE checking/audio stage: %+v", i, tl)
			}
		}
		for _, tx := range c.Tx {
			if tx.Kind == "video" && (tx.PLIReceived == 0 || tx.KeyFramesForced == 0) {
				t.Errorf("peer %d: video sender got %d PLI and forced %d keyframes; the receiver PLIs at track start", i, tx.PLIReceived, tx.KeyFramesForced)
			}
		}
	}
}

// TestRunDurationBeforeAnyPeer: a --duration shorter than the peer timeout ends the wait;
// the verdict blames the duration, not a peer timeout that never passed (QA: it said
// "within 30s" after a 1 s run).
func TestRunDurationBeforeAnyPeer(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	start := time.Now()
	res, err := Run(context.Background(), Config{Server: srv.URL(), Room: signal.StringID("short-" + RandomUID()), Network: NetworkLoopback,
		Duration: time.Second, PeerTimeout: 30 * time.Second, Logf: testLogf(t)})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v with a 1 s duration", el)
	}
	v := res.Verdict
	if v.Code != "no-peer" || !strings.Contains(v.Finding, "within the --duration of 1s") {
		t.Fatalf("verdict %s: %q, want no-peer within the --duration of 1s", v.Code, v.Finding)
	}
	ev := strings.Join(v.Evidence, "; ")
	if strings.Contains(ev, "within 30s") || !strings.Contains(ev, "--duration of 1s") {
		t.Fatalf("evidence %q: want the duration named, not the 30 s peer timeout", ev)
	}
}

// TestRunDurationEndsCallNormally: a call cut by --duration ends with reason "duration"
// (a normal end), not "canceled" as an interruption.
func TestRunDurationEndsCallNormally(t *testing.T) {
	t.Parallel()
	callSlots <- struct{}{}
	defer func() { <-callSlots }()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("dur-" + RandomUID())
	base := Config{Server: srv.URL(), Room: room, Network: NetworkLoopback, Send: Media{Video: true}, VideoProfile: smallProfile,
		MediaTimeout: 4 * time.Second, Logf: testLogf(t)}
	host := base
	host.Duration = 5 * time.Second
	var hostRes *Result
	var hostErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		hostRes, hostErr = Run(context.Background(), host)
	}()
	time.Sleep(200 * time.Millisecond) // host joins first
	guest := base
	guest.Duration = 2 * time.Second
	res, err := Run(context.Background(), guest)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	if len(res.Calls) != 1 || res.Calls[0].EndReason != EndDuration || !res.Calls[0].Verdict.OK {
		t.Fatalf("guest: %d calls, verdict %+v, end %q, want one ok call ended by duration", len(res.Calls), res.Verdict, endOf(res))
	}
	if len(hostRes.Calls) != 1 || hostRes.Calls[0].EndReason != "peer-leave" {
		t.Fatalf("host: %d calls, end %q, want peer-leave", len(hostRes.Calls), endOf(hostRes))
	}
}

func endOf(r *Result) string {
	if len(r.Calls) == 0 {
		return ""
	}
	return r.Calls[len(r.Calls)-1].EndReason
}

func TestRunAloneNoPeer(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	start := time.Now()
	res, err := Run(context.Background(), Config{Server: srv.URL(), Room: signal.StringID("lonely"), Network: NetworkLoopback,
		PeerTimeout: time.Second, Logf: testLogf(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict.Code != "no-peer" {
		t.Fatalf("verdict %s: %s, want no-peer", res.Verdict.Code, res.Verdict.Finding)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v with a 1 s peer timeout", el)
	}
	if !strings.Contains(strings.Join(res.Verdict.Causes, " "), "room id type") {
		t.Fatalf("causes do not name the room id type: %q", res.Verdict.Causes)
	}
}

// startMuteServer is a websocket server that accepts, reads and never writes.
func startMuteServer(t *testing.T) string {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String() + "/ws"
}

func TestRunCallMuteServer(t *testing.T) {
	t.Parallel()
	url := startMuteServer(t)
	rep := quickCall(t, CallConfig{Server: url, PeerTimeout: time.Second, Send: &Media{}})
	if rep.Passed {
		t.Fatal("a call through a server that never answers passed")
	}
	for _, d := range rep.Directions {
		if d.Verdict.Code != "no-peer" {
			t.Errorf("%s: verdict %s (%s), want no-peer", d.Name, d.Verdict.Code, d.Verdict.Finding)
		}
	}
}

// smallProfile keeps fault tests cheap; the fault is what they test, not the throughput.
var smallProfile = media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}

func TestRunCallFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		side    func(side string, c *Config)
		relay   bool
		dir     string // the direction whose verdict is checked
		code    string
		finding string // substring of the finding
	}{
		{"no video track sent", func(side string, c *Config) {
			if side == "b" {
				c.Send = Media{Audio: true}
				c.Receive = &Media{Audio: true, Video: true}
			}
		}, false, "b->a", "no-rtp", "does not send video"},
		{"black frames", func(side string, c *Config) {
			if side == "b" {
				c.VideoProfile.Pattern = "black"
			}
		}, false, "b->a", "black", "black"},
		{"frozen frames", func(side string, c *Config) {
			if side == "b" {
				c.VideoProfile.Pattern = "frozen"
			}
		}, false, "b->a", "frozen", "frozen"},
		{"codec mismatch", func(side string, c *Config) {
			if side == "b" {
				c.Send = Media{Audio: true}
				c.VideoCodecs = []string{"h264"}
				c.Receive = &Media{Audio: true, Video: true}
			} else {
				c.Receive = &Media{Audio: true}
			}
		}, false, "a->b", "no-common-codec", "vp8"},
		{"TURN wrong password", func(side string, c *Config) {
			if side == "a" {
				var servers []webrtc.ICEServer
				for _, s := range c.ICEServers {
					if s.Username != "" {
						s.Credential = "wrong-password"
					}
					servers = append(servers, s)
				}
				c.ICEServers = servers
				c.ICETimeout = 3 * time.Second
			}
		}, true, "b->a", "ice-failed", "TURN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := quickCall(t, CallConfig{Embedded: true, RelayOnly: tc.relay, Side: tc.side,
				Send: &Media{Audio: true, Video: true}, VideoProfile: smallProfile})
			if rep.Passed {
				t.Fatalf("call passed despite the fault")
			}
			d := dir(t, rep, tc.dir)
			if tc.code == "no-common-codec" {
				// Who fails first depends on who offers; either way one side must name it.
				for _, o := range rep.Directions {
					if o.Verdict.Code == tc.code {
						d = o
					}
				}
			}
			if d.Verdict.Code != tc.code || !strings.Contains(d.Verdict.Finding, tc.finding) {
				t.Fatalf("%s verdict %s: %q; want %s containing %q (evidence %q)", tc.dir, d.Verdict.Code,
					d.Verdict.Finding, tc.code, tc.finding, d.Verdict.Evidence)
			}
			t.Logf("%s: %s: %s; fix: %s", tc.dir, d.Verdict.Code, d.Verdict.Finding, d.Verdict.Fix)
		})
	}
}

// TestRoomIDTypeMismatch: on the original server 100 and "100" are different rooms, so a
// peer sending a number never meets a browser sending a string; both report no-peer, and
// the hint names the id type.
func TestRoomIDTypeMismatch(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	rooms := []signal.ID{signal.NumberID(100), signal.StringID("100")}
	results := make([]*Result, 2)
	errs := make([]error, 2)
	done := make(chan int, 2)
	for i := range rooms {
		go func() {
			results[i], errs[i] = Run(context.Background(), Config{Server: srv.URL(), Room: rooms[i],
				Network: NetworkLoopback, PeerTimeout: 1500 * time.Millisecond})
			done <- i
		}()
	}
	<-done
	<-done
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.Verdict.Code != "no-peer" || len(r.Calls) != 0 {
			t.Errorf("room %s: verdict %s with %d calls, want no-peer", rooms[i].Key(), r.Verdict.Code, len(r.Calls))
		}
	}
	causes := strings.Join(results[0].Verdict.Causes, " ")
	if !strings.Contains(causes, "JSON number") || !strings.Contains(causes, `"100"`) {
		t.Errorf("causes do not explain the id type: %q", causes)
	}
}

// TestRoomFullOnOriginalServer: the original server answers a third joiner with silence;
// the third peer reports no-peer, naming a full room among the causes.
func TestRoomFullOnOriginalServer(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("full-" + RandomUID())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 2)
	for _, uid := range []string{"m1", "m2"} {
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = Run(ctx, Config{Server: srv.URL(), Room: room, UID: signal.StringID(uid), Network: NetworkLoopback})
		}()
		time.Sleep(100 * time.Millisecond)
	}
	res, err := Run(context.Background(), Config{Server: srv.URL(), Room: room, UID: signal.StringID("third"),
		Network: NetworkLoopback, PeerTimeout: time.Second})
	cancel()
	<-done
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict.Code != "no-peer" || !strings.Contains(strings.Join(res.Verdict.Causes, " "), "room full") {
		t.Fatalf("third joiner: %s %q", res.Verdict.Code, res.Verdict.Causes)
	}
}
