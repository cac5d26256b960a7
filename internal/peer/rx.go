package peer

import (
	"context"
	"image"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// rxStats is the receive-side view the peer needs from a media analyzer.
type rxStats struct {
	Packets, Bytes                              uint64
	BitrateKbps, LossPct, JitterMs              float64
	PacketsLost                                 int64
	Frames, FramesDecoded, KeyFrames            uint64
	DecodeErrors                                uint64
	Width, Height                               int
	FPS                                         float64
	FirstRTPAt, FirstKeyFrameAt, FirstDecodedAt time.Time
	Black, Frozen                               bool
	Freezes                                     int
	LatencyP50Ms, LatencyP95Ms                  float64
	LevelDBFS                                   float64
	Silent                                      bool
	NotDecoded, ProfileLevelID                  string
	Recording                                   string
	SoundMs, SilenceMs                          float64
}

// analyzer consumes one remote track (see media_rx.go for the media package adapter).
type analyzer interface {
	consume(ctx context.Context, t *webrtc.TrackRemote, requestKeyframe func()) error
	stats() rxStats
	lastFrame() image.Image
}

// rxTrack is one received track and its analysis. rec is guarded by the session's mu.
type rxTrack struct {
	kind  string
	codec string
	ssrc  uint32
	an    analyzer
	rec   *TrackRx

	plis int // guarded by the session's mu
	mu   sync.Mutex
	err  error
}

func (t *rxTrack) stats() rxStats { return t.an.stats() }

// fill copies the analyzer's numbers into rec (caller holds the session's mu).
func (t *rxTrack) fill() {
	v := t.an.stats()
	r := t.rec
	r.Packets, r.Bytes, r.BitrateKbps = v.Packets, v.Bytes, v.BitrateKbps
	r.PacketsLost, r.LossPct, r.JitterMs = v.PacketsLost, v.LossPct, v.JitterMs
	r.Frames, r.FramesDecoded, r.KeyFrames, r.DecodeErrors = v.Frames, v.FramesDecoded, v.KeyFrames, v.DecodeErrors
	r.Width, r.Height, r.FPS = v.Width, v.Height, v.FPS
	r.Black, r.Frozen, r.Freezes = v.Black, v.Frozen, v.Freezes
	r.LatencyP50Ms, r.LatencyP95Ms = v.LatencyP50Ms, v.LatencyP95Ms
	r.LevelDBFS, r.SoundMs, r.SilenceMs = v.LevelDBFS, v.SoundMs, v.SilenceMs
	// The analyzer's Silent is about the last 500 ms; a starved receiver can miss
	// packets for that long. Silent here means the call was mostly silent.
	r.Silent = v.Silent && v.SoundMs < v.SilenceMs
	r.PLISent = t.plis
	r.Recording = v.Recording
	r.NotDecoded, r.ProfileLevelID = v.NotDecoded, v.ProfileLevelID
	t.mu.Lock()
	if t.err != nil {
		r.Error = t.err.Error()
	}
	t.mu.Unlock()
}

// onTrack starts the analysis of a remote track; for video it asks for a keyframe at
// once (the first one may have been lost before DTLS was up).
func (c *call) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	kind := track.Kind().String()
	codec := codecName(track.Codec().MimeType)
	t := &rxTrack{kind: kind, codec: codec, ssrc: uint32(track.SSRC()),
		rec: &TrackRx{Kind: kind, Codec: codec, PayloadType: int(track.PayloadType())}}
	t.an = newAnalyzer(kind, c.s.cfg)
	c.s.mu.Lock()
	if c.ended || c.closing || c.finalized {
		c.s.mu.Unlock()
		return
	}
	if _, dup := c.rx[kind]; dup {
		kind += "-2"
	}
	c.rx[kind] = t
	c.res.Rx = append(c.res.Rx, t.rec)
	c.wg.Add(1)
	c.s.mu.Unlock()
	c.s.cfg.Logf("remote %s track (%s, PT %d)", kind, codec, track.PayloadType())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stopRx:
		case <-ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer c.wg.Done()
		defer cancel()
		err := t.an.consume(ctx, track, func() { c.sendPLI(t) })
		if err != nil && ctx.Err() == nil {
			t.mu.Lock()
			t.err = err
			t.mu.Unlock()
			c.s.cfg.Logf("%s analysis: %v", t.kind, err)
		}
		c.s.wake()
	}()
}

// sendPLI asks the sender for a keyframe.
func (c *call) sendPLI(t *rxTrack) {
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: t.ssrc}}); err != nil {
		return
	}
	c.s.mu.Lock()
	t.plis++
	c.s.mu.Unlock()
}
