package load

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
)

// smallCall is a light call profile so several calls fit the test machine: 320x240@15
// VP8 at 300 kbit/s + Opus, relay only, 2 s of media.
func smallCall(server string, ice []webrtc.ICEServer) peer.CallConfig {
	return peer.CallConfig{
		Server: server, ICEServers: ice, RelayOnly: true,
		VideoProfile: media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300},
		Duration:     2 * time.Second,
	}
}

func TestMediaRelayOnlyThroughServe(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	const rooms = 5
	var progress []Progress // Progress is called from Run's goroutine; read after Run
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeMedia, Rooms: rooms, Ramp: 5, Duration: 2 * time.Second,
		Runner:     PeerRunner(PeerConfig{Call: smallCall(s.SignalURL(), s.ICEServers())}),
		Thresholds: Thresholds{MinSuccessPct: 100, MaxP95ConnectMs: 10000, MinFPS: 5},
		Logf:       t.Logf,
		Progress:   func(p Progress) { progress = append(progress, p) }, ProgressInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Calls.Succeeded != rooms {
		b, _ := json.MarshalIndent(struct {
			C  Counts
			F  []FailureGroup
			Ch []Check
		}{rep.Calls, rep.Failures, rep.Checks}, "", " ")
		t.Fatalf("media run failed:\n%s", b)
	}
	if c := rep.Calls; c.Planned != rooms || c.Started != rooms || c.Failed != 0 || c.SuccessPct != 100 || len(rep.Failures) != 0 {
		t.Errorf("counts %+v, failures %+v: want %d planned, started and succeeded", c, rep.Failures, rooms)
	}
	m := rep.Media
	if m.Relay+m.Direct != rep.Calls.Succeeded {
		t.Errorf("relay %d + direct %d pairs != %d succeeded calls", m.Relay, m.Direct, rep.Calls.Succeeded)
	}
	if m.Relay != rooms || m.Direct != 0 || m.RelaySharePct != 100 {
		t.Errorf("relay %d direct %d share %v%%, want every call relayed", m.Relay, m.Direct, m.RelaySharePct)
	}
	for _, stage := range stageOrder {
		if m.ConnectMs[stage].Count() != rooms {
			t.Errorf("stage %s has %d samples, want %d", stage, m.ConnectMs[stage].Count(), rooms)
		}
	}
	if m.FPS.Count() != 2*rooms || m.BitrateKbps.Count() != 2*rooms || m.LossPct.Count() != 2*rooms {
		t.Errorf("direction samples fps %d bitrate %d loss %d, want %d each", m.FPS.Count(), m.BitrateKbps.Count(), m.LossPct.Count(), 2*rooms)
	}
	if p := m.BitrateKbps.Quantile(0.5); p < 50 {
		t.Errorf("median received bitrate %.0f kbit/s: media did not flow", p)
	}
	ice, first := m.ConnectMs[StageICE].Quantile(0.5), m.ConnectMs[StageMedia].Quantile(0.5)
	if !(ice > 0 && first >= ice) {
		t.Errorf("stage order: ice %v ms, first frame %v ms", ice, first)
	}
	if m.PeakConnected < 1 || rep.Calls.PeakRunning < 1 || m.PeakConnected > rooms {
		t.Errorf("peak connected %d, peak running %d", m.PeakConnected, rep.Calls.PeakRunning)
	}
	if rep.Tester.CPUSeconds <= 0 || rep.Tester.MaxRSSMB <= 0 {
		t.Errorf("tester stats empty: %+v", rep.Tester)
	}
	// Live progress: while calls ran, some were connected with media flowing; the last
	// update has every room finished.
	live := false
	for _, p := range progress {
		if p.Connected > 0 && p.RxKbps > 50 {
			live = true
		}
	}
	if !live || len(progress) == 0 {
		t.Errorf("no progress update showed connected calls receiving media: %+v", progress)
	} else if last := progress[len(progress)-1]; last.Started != rooms || last.Succeeded != rooms || last.Active != 0 {
		t.Errorf("last progress %+v, want %d started and succeeded, none active", last, rooms)
	}
}

// TestMediaBrokenTURNCredential: rooms handed a wrong TURN password cannot connect
// relay-only; they are reported under the peer's ICE verdict and the run fails its
// success threshold.
func TestMediaBrokenTURNCredential(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	good := s.ICEServers()
	bad := make([]webrtc.ICEServer, len(good))
	for i, is := range good {
		is.Credential = "wrong-password"
		bad[i] = is
	}
	const rooms = 4
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeMedia, Rooms: rooms, Ramp: 4, RoomPrefix: "broken-",
		Runner: PeerRunner(PeerConfig{
			Call: smallCall(s.SignalURL(), good),
			ICEServersFor: func(r Room) []webrtc.ICEServer {
				if r.Index%2 == 1 {
					return bad
				}
				return good
			},
		}),
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.Calls.Succeeded != rooms/2 || rep.Calls.Failed != rooms/2 {
		t.Fatalf("pass=%v calls %+v failures %+v, want 2 ok and 2 failed", rep.Pass, rep.Calls, rep.Failures)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Count != rooms/2 {
		t.Fatalf("failures %+v, want one verdict group of %d", rep.Failures, rooms/2)
	}
	g := rep.Failures[0]
	t.Logf("broken credential verdict: %s (%s)", g.Verdict, g.Example)
	if g.Verdict != "ice-failed" || !strings.Contains(g.Example, "credentials") {
		t.Errorf("verdict %q (%s), want ice-failed naming the refused credentials", g.Verdict, g.Example)
	}
	if c := rep.Calls; c.Planned != rooms || c.Started != rooms || c.Succeeded+c.Failed != c.Started || c.SuccessPct != 50 {
		t.Errorf("counts %+v do not add up: want %d planned and started, 50%% success", c, rooms)
	}
	for _, id := range g.Rooms {
		if id != "broken-1" && id != "broken-3" {
			t.Errorf("room %s listed as failed; only the odd rooms had the bad credential", id)
		}
	}
	if rep.Checks[0].Name != "success" || rep.Checks[0].Pass {
		t.Errorf("success check %+v should fail", rep.Checks[0])
	}
}

// TestMediaNoDecode: the scale mode (no video decoding) still connects, counts frames and
// measures every stage.
func TestMediaNoDecode(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	cc := smallCall(s.SignalURL(), s.ICEServers())
	cc.Analysis = media.AnalyzerConfig{NoDecode: true}
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeMedia, Rooms: 2, Ramp: -1,
		Runner: PeerRunner(PeerConfig{Call: cc}), Thresholds: Thresholds{MinFPS: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Media.ConnectMs[StageMedia].Count() != 2 || rep.Media.FPS.Count() != 4 {
		t.Fatalf("pass %v calls %+v failures %+v first-frame samples %d fps samples %d",
			rep.Pass, rep.Calls, rep.Failures, rep.Media.ConnectMs[StageMedia].Count(), rep.Media.FPS.Count())
	}
}

// TestMediaDecodeSample: with DecodeSample 2, half the calls decode their video (picture
// checks, stamp latency) and the rest are checked at the RTP and frame level; every call
// still passes and the report says how many were decoded.
func TestMediaDecodeSample(t *testing.T) {
	t.Parallel()
	s := startServe(t, true)
	const rooms = 4
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeMedia, Rooms: rooms, Ramp: 5, Duration: 2 * time.Second,
		Runner:     PeerRunner(PeerConfig{Call: smallCall(s.SignalURL(), s.ICEServers()), DecodeSample: 2}),
		Thresholds: Thresholds{MinSuccessPct: 100, MaxP95ConnectMs: 10000, MinFPS: 5, MaxP95LatencyMs: 2000},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Calls.Succeeded != rooms {
		t.Fatalf("run failed: calls %+v, failures %+v, checks %+v", rep.Calls, rep.Failures, rep.Checks)
	}
	m := rep.Media
	if m.Decoded != rooms/2 {
		t.Errorf("decoded calls %d, want %d (every 2nd of %d)", m.Decoded, rooms/2, rooms)
	}
	// Stamp latency needs decoded pictures: one sample per direction of a decoded call.
	if got := m.LatencyMs.Count(); got != 2*rooms/2 {
		t.Errorf("latency samples %d, want %d (both directions of the decoded calls only)", got, 2*rooms/2)
	}
	if got := m.FPS.Count(); got != 2*rooms {
		t.Errorf("fps samples %d, want %d (every direction, decoded or not)", got, 2*rooms)
	}
	var latencyChecked bool
	for _, ch := range rep.Checks {
		if ch.Name == "p95_latency" {
			latencyChecked = ch.Pass && ch.Value > 0 && ch.Value <= 2000
		}
	}
	if !latencyChecked {
		t.Errorf("no passing p95_latency check with a measured value: %+v", rep.Checks)
	}
	// The same threshold with no decoded call has no samples and fails, saying why.
	none := &Report{Media: newMediaStats(), Thresholds: Thresholds{MinSuccessPct: 1, MaxP95LatencyMs: 2000},
		Calls: Counts{Planned: 1, Started: 1, Succeeded: 1, SuccessPct: 100}}
	none.Evaluate()
	if none.Pass || !strings.Contains(strings.Join(none.FailedChecks(), ","), "p95_latency") {
		t.Errorf("latency threshold without samples: pass %v, checks %+v", none.Pass, none.Checks)
	}
	var whole Report
	b, _ := json.Marshal(rep)
	if err := json.Unmarshal(b, &whole); err != nil || whole.Media.Decoded != rooms/2 {
		t.Errorf("JSON round trip: decoded %v, err %v", whole.Media, err)
	}
}

// TestMediaH264Calls: calls sending H264 (x264) pass on RTP and frame checks, and the report
// says no call's picture was checked (this build has no H264 decoder).
func TestMediaH264Calls(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no H264 encoder (Debian package libx264-dev, installed by scripts/deps.sh)")
	}
	t.Parallel()
	s := startServe(t, true)
	const rooms = 2
	cc := smallCall(s.SignalURL(), s.ICEServers())
	cc.VideoProfile.Codec = media.CodecH264
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeMedia, Rooms: rooms, Ramp: 5, Duration: 2 * time.Second,
		Runner:     PeerRunner(PeerConfig{Call: cc}),
		Thresholds: Thresholds{MinSuccessPct: 100, MinFPS: 5},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Calls.Succeeded != rooms {
		t.Fatalf("H264 run failed: calls %+v, failures %+v, checks %+v", rep.Calls, rep.Failures, rep.Checks)
	}
	if m := rep.Media; m.Decoded != 0 || m.LatencyMs.Count() != 0 || m.FPS.Count() != 2*rooms {
		t.Errorf("decoded %d, latency samples %d, fps samples %d: want 0, 0, %d", m.Decoded, m.LatencyMs.Count(), m.FPS.Count(), 2*rooms)
	}
}
