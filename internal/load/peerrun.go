package load

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// PeerConfig makes a RoomRunner that runs every room as one peer.RunCall: both peers in
// this process, real PeerConnections, media from encoders shared per profile.
type PeerConfig struct {
	// Call is the template of every call: Server (required), ICE servers, RelayOnly,
	// profiles, Duration, Thresholds (per call; MaxLatency applies to rooms that decode
	// only), stage deadlines. Room, the uids and OnStatus are set
	// per room; Embedded is ignored (start one server for the whole run instead).
	Call peer.CallConfig
	// ICEServersFor, when set, gives a room its own ICE servers instead of Call's (tests
	// hand some rooms a broken TURN credential).
	ICEServersFor func(Room) []webrtc.ICEServer
	// DecodeSample N > 1 samples the picture checks across calls: rooms whose Index is a
	// multiple of N decode their received video as Call.Analysis says (black, frozen,
	// stamp latency and lost frames), the others measure RTP and frame assembly only
	// (media.AnalyzerConfig.NoDecode), so decoding does not dominate the tester's CPU.
	// 0 or 1: every room analyses as Call.Analysis says.
	DecodeSample int
}

// decodes reports whether room decodes its received video under pc.
func (pc PeerConfig) decodes(room Room) bool {
	if pc.Call.Analysis.NoDecode || pc.Call.VideoProfile.Codec == media.CodecH264 {
		return false // received H264 is analysed at the RTP and frame level only
	}
	return pc.DecodeSample <= 1 || room.Index%pc.DecodeSample == 0
}

// connectedStage lists the peer's live stages that come after DTLS is up.
var connectedStage = map[string]bool{"media": true, "up": true, "connected": true}

// PeerRunner returns the RoomRunner of pc.
func PeerRunner(pc PeerConfig) RoomRunner {
	return func(ctx context.Context, room Room, status func(LiveStatus)) CallResult {
		cc := pc.Call
		cc.Embedded = false
		cc.Room = signal.StringID(room.ID)
		if pc.ICEServersFor != nil {
			cc.ICEServers = pc.ICEServersFor(room)
		}
		decoded := pc.decodes(room)
		cc.Analysis.NoDecode = !decoded
		if !decoded {
			cc.Thresholds.MaxLatency = 0 // latency is read from decoded frames only
		}
		baseSide := pc.Call.Side
		cc.Side = func(side string, c *peer.Config) {
			if side == "a" {
				c.UID = signal.StringID(room.CallerUID)
			} else {
				c.UID = signal.StringID(room.CalleeUID)
			}
			if baseSide != nil {
				baseSide(side, c)
			}
		}
		var mu sync.Mutex
		live := map[string]peer.Status{}
		cc.OnStatus = func(side string, st peer.Status) {
			mu.Lock()
			live[side] = st
			ls := LiveStatus{Connected: len(live) == 2}
			n := 0.0
			for _, s := range live {
				if !connectedStage[s.Stage] {
					ls.Connected = false
				}
				ls.RxKbps += s.BitrateKbps
				ls.LossPct += s.LossPct
				n++
			}
			ls.LossPct /= n
			mu.Unlock()
			status(ls)
		}
		start := time.Now()
		rep, err := peer.RunCall(ctx, cc)
		cr := callResultOf(start, rep, err)
		cr.Decoded = decoded
		return cr
	}
}

// callResultOf turns a RunCall outcome into the load test's row.
func callResultOf(start time.Time, rep *peer.CallReport, err error) CallResult {
	var cr CallResult
	if err != nil {
		cr.Error = err.Error()
		switch {
		case errors.Is(err, peer.ErrSignal):
			cr.Verdict = "signal-failed"
			cr.Unreachable = errors.Is(err, signal.ErrDial) || errors.Is(err, signal.ErrTLS) || errors.Is(err, signal.ErrUpgrade)
		case errors.Is(err, peer.ErrMedia):
			cr.Verdict = "media-source-failed"
		case errors.Is(err, peer.ErrConfig):
			cr.Verdict = "config"
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			cr.Verdict = "timeout"
		default:
			cr.Verdict = "error"
		}
		if rep == nil || len(rep.Directions) == 0 {
			return cr
		}
	}
	if rep == nil {
		cr.Verdict, cr.Error = "error", "no report"
		return cr
	}
	// Stages: the later of the two peers, since a call is up when both sides are.
	stage := func(pick func(*peer.Timeline) *float64) *float64 {
		var latest *float64
		for _, p := range rep.Peers {
			if p == nil || len(p.Calls) == 0 {
				return nil
			}
			v := pick(&p.Calls[len(p.Calls)-1].Timeline)
			if v == nil {
				return nil
			}
			abs := ms(p.Started.Sub(start)) + *v
			if latest == nil || abs > *latest {
				latest = &abs
			}
		}
		return latest
	}
	cr.PeerKnownMs = stage(func(t *peer.Timeline) *float64 { return t.PeerKnown })
	cr.ICEConnectedMs = stage(func(t *peer.Timeline) *float64 { return t.ICEConnected })
	// First frame: decoded when the analyzers decode; with NoDecode (or audio only) the
	// first keyframe or packet that arrived.
	cr.FirstFrameMs = stage(func(t *peer.Timeline) *float64 {
		for _, v := range []*float64{t.FirstDecodedFrame, t.FirstKeyFrame, t.FirstRTPVideo, t.FirstRTPAudio} {
			if v != nil {
				return v
			}
		}
		return nil
	})
	cr.Connected = cr.ICEConnectedMs != nil
	cr.OK = err == nil && rep.Passed
	for _, d := range rep.Directions {
		if d == nil {
			continue
		}
		if d.Selected != nil && (d.Selected.LocalType == "relay" || d.Selected.RemoteType == "relay") {
			cr.Relay = true
		}
		if !d.Passed && cr.Verdict == "" {
			cr.Verdict, cr.Error = directionVerdict(d)
		}
		cr.Directions = append(cr.Directions, directionStats(d))
	}
	if !cr.OK && cr.Verdict == "" {
		cr.Verdict = "unknown"
	}
	return cr
}

// directionVerdict names why a direction failed: the peer's diagnosis code, or the first
// failed threshold check when media itself was fine.
func directionVerdict(d *peer.Direction) (string, string) {
	if !d.Verdict.OK && d.Verdict.Code != "" {
		return d.Verdict.Code, d.Name + ": " + d.Verdict.Finding
	}
	for _, c := range d.Checks {
		if !c.Passed {
			return "below-threshold", d.Name + ": " + c.Name + " " + c.Measured + " (need " + c.Threshold + ")"
		}
	}
	return "unknown", d.Name
}

// directionStats is one received direction: video fps and latency, bitrate of video plus
// audio, and packet loss over both tracks.
func directionStats(d *peer.Direction) Direction {
	var out Direction
	f := func(v float64) *float64 { return &v }
	var kbps float64
	var lost, pkts float64
	any := false
	for _, t := range []*peer.TrackRx{d.Video, d.Audio} {
		if t == nil {
			continue
		}
		any = true
		kbps += t.BitrateKbps
		lost += float64(max(t.PacketsLost, 0))
		pkts += float64(t.Packets)
	}
	if !any {
		return out
	}
	out.BitrateKbps = f(kbps)
	if lost+pkts > 0 {
		out.LossPct = f(100 * lost / (lost + pkts))
	}
	if v := d.Video; v != nil {
		out.FPS = f(v.FPS)
		if v.LatencyP50Ms > 0 {
			out.LatencyMs = f(v.LatencyP50Ms)
		}
	}
	return out
}
