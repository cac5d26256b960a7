package peer

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// CallConfig is a self-contained call: two sessions of this process in one room. Unset
// fields take the defaults named on each field.
type CallConfig struct {
	// Server is the signaling URL. Required unless Embedded.
	Server string
	// Embedded starts `rtcctl serve` in process (signaling + TURN on loopback, ephemeral
	// ports) and uses its ICE servers unless ICEServers is set.
	Embedded bool
	// CAFile, Insecure and Origin are for the signaling websocket.
	CAFile   string
	Insecure bool
	Origin   string
	// Keepalive as in Config.
	Keepalive time.Duration
	// Room is the room both join. Unset: a random string room.
	Room signal.ID
	// ICEServers for both sides. Unset: none, or the embedded server's.
	ICEServers []webrtc.ICEServer
	// RelayOnly forces iceTransportPolicy relay on both sides.
	RelayOnly bool
	// CandidateFormat both sides send. Unset: android.
	CandidateFormat signal.CandidateFormat
	// Send is what each side sends. Unset (zero): audio and video.
	Send *Media
	// VideoProfile and AudioProfile of both senders.
	VideoProfile media.VideoProfile
	AudioProfile media.AudioProfile
	// Thresholds are the pass/fail limits.
	Thresholds Thresholds
	// Duration is how long media is measured after both directions deliver. Unset:
	// DefaultCallDuration.
	Duration time.Duration
	// Timeout bounds the whole call. Unset: DefaultCallTimeout (plus Duration beyond the
	// default).
	Timeout time.Duration
	// Stage deadlines as in Config (unset: defaults; PeerTimeout defaults to JoinTimeout+
	// NegotiateTimeout here, since the second side joins at once).
	PeerTimeout, ICETimeout, MediaTimeout time.Duration
	// Network selects the interfaces ICE may use. Unset: loopback only when the server and
	// every ICE server are on loopback (both peers are in this process, so nothing needs to
	// leave the machine), else NetworkAuto.
	Network NetworkMode
	// Side, when set, adjusts each side's Config before it starts: side is "a" (joins first,
	// so it is the caller) or "b". Tests use it to inject faults on one side.
	Side func(side string, cfg *Config)
	// Analysis tunes both sides' receive analyzers (see Config.Analysis).
	Analysis media.AnalyzerConfig
	// KeepFrame keeps the last decoded frame per direction for snapshots; RecordDir
	// records received media.
	KeepFrame bool
	RecordDir string
	// Logf receives log lines, prefixed with the side; Verbose adds pion's logs.
	Logf    func(format string, args ...any)
	Verbose bool
	// OnStatus is called with each side's live status (see Config.OnStatus).
	OnStatus func(side string, st Status)
}

// CallReport is the outcome of RunCall.
type CallReport struct {
	// Version is the JSON schema version (set by the command layer).
	Version   int    `json:"version"`
	Server    string `json:"server"`
	Embedded  bool   `json:"embedded,omitempty"`
	Room      string `json:"room"`
	RelayOnly bool   `json:"relay_only,omitempty"`
	// ICEServers are the URLs used (no credentials).
	ICEServers []string   `json:"ice_servers,omitempty"`
	Thresholds Thresholds `json:"thresholds"`
	Started    time.Time  `json:"started"`
	DurationMs float64    `json:"duration_ms"`
	// Passed is true when every check passed.
	Passed bool `json:"passed"`
	// Directions are "a->b" and "b->a".
	Directions []*Direction `json:"directions"`
	// Peers are the two sessions' full results (a, b).
	Peers []*Result `json:"peers"`
}

// Direction is one media direction of a RunCall.
type Direction struct {
	Name string `json:"name"` // "a->b"
	From string `json:"from"` // sender uid
	To   string `json:"to"`
	// FromRole is the sender's role (caller/callee).
	FromRole string `json:"from_role,omitempty"`
	// JoinToFirstFrameMs is from "both joined" to the first decoded video frame (or the
	// first audio packet without video) at the receiver.
	JoinToFirstFrameMs *float64 `json:"join_to_first_frame_ms,omitempty"`
	// JoinToConnectedMs is from "both joined" to the receiver's PeerConnection connected.
	JoinToConnectedMs *float64 `json:"join_to_connected_ms,omitempty"`
	Selected          *Pair    `json:"selected,omitempty"`
	Video             *TrackRx `json:"video,omitempty"`
	Audio             *TrackRx `json:"audio,omitempty"`
	Verdict           Verdict  `json:"verdict"`
	Checks            []Check  `json:"checks"`
	Passed            bool     `json:"passed"`
}

// Check is one pass/fail check (one JUnit case).
type Check struct {
	Name      string `json:"name"`
	Passed    bool   `json:"passed"`
	Measured  string `json:"measured"`
	Threshold string `json:"threshold,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// joinSettle is the pause between the first and the second join of RunCall.
const joinSettle = 50 * time.Millisecond

// RunCall runs caller and callee in this process through one signaling server and verifies
// media both ways. It returns an error only when the call could not run at all (invalid
// config, embedded server failed to start, signaling server unreachable, no media source);
// failed checks are in the report.
func RunCall(ctx context.Context, cc CallConfig) (*CallReport, error) {
	if cc.Duration <= 0 {
		cc.Duration = DefaultCallDuration
	}
	if cc.Timeout <= 0 {
		cc.Timeout = DefaultCallTimeout + max(0, cc.Duration-DefaultCallDuration)
	}
	if cc.Logf == nil {
		cc.Logf = func(string, ...any) {}
	}
	if cc.Room.IsZero() {
		cc.Room = signal.StringID("rtcctl-call-" + RandomUID()[7:])
	}
	send := DefaultMedia
	if cc.Send != nil {
		send = *cc.Send
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cc.Timeout, errCallTimeout)
	defer cancel()
	started := time.Now()
	rep := &CallReport{Server: cc.Server, Embedded: cc.Embedded, Room: cc.Room.String(),
		RelayOnly: cc.RelayOnly, Thresholds: cc.Thresholds, Started: started}

	if cc.Embedded {
		srv, err := serve.Start(ctx, serve.Config{
			Addr: "127.0.0.1:0", TURN: true,
			TURNConfig: turnserver.Config{ListenIP: "127.0.0.1"},
			Logf:       func(f string, a ...any) { cc.Logf("serve: "+f, a...) },
		})
		if err != nil {
			return rep, fmt.Errorf("%w: %w", ErrEmbedded, err)
		}
		defer func() { _ = srv.Close() }()
		cc.Server = srv.SignalURL()
		rep.Server = cc.Server
		if cc.ICEServers == nil {
			cc.ICEServers = srv.ICEServers()
		}
	}
	for _, s := range cc.ICEServers {
		rep.ICEServers = append(rep.ICEServers, s.URLs...)
	}
	if cc.Network == NetworkAuto && onLoopback(cc.Server, cc.ICEServers) {
		cc.Network = NetworkLoopback
	}
	peerTimeout := cc.PeerTimeout
	if peerTimeout <= 0 {
		peerTimeout = DefaultJoinTimeout + DefaultNegotiateTimeout
	}
	mk := func(side string) Config {
		c := Config{
			Server: cc.Server, CAFile: cc.CAFile, Insecure: cc.Insecure, Origin: cc.Origin,
			Keepalive: cc.Keepalive, Room: cc.Room,
			UID:        signal.StringID("rtcctl-" + side + "-" + RandomUID()[7:]),
			ICEServers: cc.ICEServers, RelayOnly: cc.RelayOnly, CandidateFormat: cc.CandidateFormat,
			Network: cc.Network, Send: send, VideoProfile: cc.VideoProfile, AudioProfile: cc.AudioProfile,
			Once: true, PeerTimeout: peerTimeout, ICETimeout: cc.ICETimeout, MediaTimeout: cc.MediaTimeout,
			KeepFrame: cc.KeepFrame, RecordDir: cc.RecordDir, Verbose: cc.Verbose, Analysis: cc.Analysis,
			Logf: func(f string, a ...any) { cc.Logf(side+": "+f, a...) },
		}
		if cc.OnStatus != nil {
			c.OnStatus = func(st Status) { cc.OnStatus(side, st) }
		}
		if cc.Side != nil {
			cc.Side(side, &c)
		}
		c = c.withDefaults()
		return c
	}
	cfgA, cfgB := mk("a"), mk("b")
	for _, c := range []Config{cfgA, cfgB} {
		if err := c.validate(); err != nil {
			return rep, err
		}
	}
	sa, sb := newSession(cfgA), newSession(cfgB)
	if err := sa.open(ctx); err != nil {
		sa.close()
		return rep, err
	}
	// a must be the first member, so that it gets new-peer and calls. The original server
	// says nothing to a first joiner, so give it a moment to process a's join before b's
	// (its connections are served concurrently).
	select {
	case <-time.After(joinSettle):
	case <-ctx.Done():
	}
	if err := sb.open(ctx); err != nil {
		sa.close()
		sb.close()
		return rep, err
	}
	bothJoined := time.Now()
	runCtx, stop := context.WithCancelCause(ctx)
	go sa.run(runCtx)
	go sb.run(runCtx)

	ready := waitSettled(ctx, sa, sb)
	if ready {
		cc.Logf("media flows both ways; measuring for %v", cc.Duration)
		t := time.NewTimer(cc.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-sa.done:
		case <-sb.done:
		}
		t.Stop()
	}
	sa.finalizeCurrent()
	sb.finalizeCurrent()
	if ready {
		stop(errMeasured) // the measurement window passed (or a side ended): a normal end
	} else {
		stop(nil)
	}
	<-sa.done
	<-sb.done
	sa.close()
	sb.close()
	ra, rb := sa.finish(), sb.finish()
	rep.Peers = []*Result{ra, rb}
	rep.Directions = []*Direction{
		direction("a->b", ra, rb, sb, bothJoined, cc.Thresholds, cfgB),
		direction("b->a", rb, ra, sa, bothJoined, cc.Thresholds, cfgA),
	}
	rep.Passed = true
	for _, d := range rep.Directions {
		rep.Passed = rep.Passed && d.Passed
	}
	rep.DurationMs = msOf(time.Since(started))
	return rep, nil
}

// waitSettled waits until both sessions' calls deliver all expected media (true), or one
// of them ends or gives up, or ctx ends (false).
func waitSettled(ctx context.Context, sa, sb *session) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		ra, oa := sa.settled()
		rb, ob := sb.settled()
		if ra && rb {
			return true
		}
		if (oa && !ra) || (ob && !rb) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-sa.done:
			return false
		case <-sb.done:
			return false
		case <-t.C:
		}
	}
}

// settled reports the current call's (ready, over).
func (s *session) settled() (ready, over bool) {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return false, false
	}
	return c.settled()
}

// finalizeCurrent freezes the current call's statistics now (RunCall's measurement end).
func (s *session) finalizeCurrent() {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c != nil {
		c.finalize()
	}
}

// direction builds the from -> to direction from the receiver's last call.
func direction(name string, from, to *Result, rx *session, bothJoined time.Time, th Thresholds, rxCfg Config) *Direction {
	d := &Direction{Name: name, From: from.UID, To: to.UID}
	var c *CallResult
	if n := len(to.Calls); n > 0 {
		c = to.Calls[n-1]
	}
	if n := len(from.Calls); n > 0 {
		d.FromRole = from.Calls[n-1].Role
	}
	if c == nil {
		d.Verdict = to.Verdict
		d.Checks = []Check{{Name: name + " connected", Measured: to.Verdict.Code, Detail: to.Verdict.Finding}}
		return d
	}
	d.Verdict = c.Verdict
	d.Selected = c.Selected
	for _, t := range c.Rx {
		switch t.Kind {
		case "video":
			d.Video = t
		case "audio":
			d.Audio = t
		}
	}
	first := c.Timeline.FirstDecodedFrame
	if first == nil && d.Video == nil {
		first = c.Timeline.FirstRTPAudio
	}
	if first == nil && d.Video != nil && d.Video.NotDecoded != "" {
		first = c.Timeline.FirstKeyFrame // the first frame a decoder could show
	}
	sinceJoined := func(ms *float64) *float64 {
		if ms == nil {
			return nil
		}
		v := msOf(to.Started.Add(time.Duration(*ms * float64(time.Millisecond))).Sub(bothJoined))
		return &v
	}
	d.JoinToFirstFrameMs = sinceJoined(first)
	d.JoinToConnectedMs = sinceJoined(c.Timeline.DTLSConnected)
	d.Checks = checks(name, c, d, th, rxCfg)
	d.Passed = true
	for _, ck := range d.Checks {
		d.Passed = d.Passed && ck.Passed
	}
	return d
}

// checks evaluates one direction against the thresholds.
func checks(name string, c *CallResult, d *Direction, th Thresholds, rxCfg Config) []Check {
	var out []Check
	connected := c.Timeline.DTLSConnected != nil
	measured := orDash(c.PCState)
	if connected {
		measured = fmt.Sprintf("connected at %.0f ms", *c.Timeline.DTLSConnected)
	}
	out = append(out, Check{Name: name + " connected", Passed: connected, Measured: measured,
		Threshold: "connected", Detail: ifFalse(connected, c.Verdict.Finding)})
	out = append(out, Check{Name: name + " media", Passed: c.Verdict.OK, Measured: c.Verdict.Code,
		Threshold: "ok", Detail: c.Verdict.Finding + fixSuffix(c.Verdict.Fix)})
	if rxCfg.Receive.Video && th.MinFPS > 0 {
		fps := 0.0
		if d.Video != nil {
			fps = d.Video.FPS
		}
		out = append(out, Check{Name: name + " video fps", Passed: fps >= th.MinFPS,
			Measured: fmt.Sprintf("%.1f", fps), Threshold: fmt.Sprintf(">= %g", th.MinFPS)})
	}
	if th.MaxLossPct > 0 {
		for _, t := range []*TrackRx{d.Video, d.Audio} {
			if t == nil {
				continue
			}
			out = append(out, Check{Name: name + " " + t.Kind + " loss", Passed: t.LossPct <= th.MaxLossPct,
				Measured: fmt.Sprintf("%.2f%%", t.LossPct), Threshold: fmt.Sprintf("<= %g%%", th.MaxLossPct)})
		}
	}
	if rxCfg.Receive.Video && th.MaxLatency > 0 {
		lat, ok := 0.0, false
		if d.Video != nil && d.Video.LatencyP95Ms > 0 {
			lat, ok = d.Video.LatencyP95Ms, true
		}
		m := "not measured"
		if d.Video != nil && d.Video.NotDecoded != "" {
			m = "not measured: not decoded (" + d.Video.NotDecoded + ")"
		}
		if ok {
			m = fmt.Sprintf("%.1f ms p95", lat)
		}
		out = append(out, Check{Name: name + " video latency", Passed: ok && lat <= msOf(th.MaxLatency),
			Measured: m, Threshold: "<= " + th.MaxLatency.String()})
	}
	if th.RequireRelay {
		m := "none"
		if c.Selected != nil {
			m = c.Selected.LocalType + "/" + c.Selected.RemoteType
		}
		out = append(out, Check{Name: name + " relay", Passed: c.Selected.IsRelay(), Measured: m, Threshold: "relay/relay"})
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ifFalse(ok bool, s string) string {
	if ok {
		return ""
	}
	return s
}

func fixSuffix(fix string) string {
	if fix == "" {
		return ""
	}
	return "; fix: " + fix
}
