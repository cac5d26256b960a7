package media

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// AudioStats is a snapshot of an AudioAnalyzer.
type AudioStats struct {
	Codec       string    `json:"codec"`
	PayloadType uint8     `json:"payload_type"`
	Packets     uint64    `json:"packets"`
	Bytes       uint64    `json:"bytes"`
	BitrateKbps float64   `json:"bitrate_kbps"`
	PacketsLost int64     `json:"packets_lost"`
	LossPct     float64   `json:"loss_pct"`
	JitterMs    float64   `json:"jitter_ms"`
	FirstRTPAt  time.Time `json:"first_rtp_at"`

	// Level is measured on the decoded PCM (libopus decoder, mono mix).
	DecodedFrames int     `json:"decoded_frames"`
	DecodeErrors  int     `json:"decode_errors"`
	LevelDBFS     float64 `json:"level_dbfs"`      // RMS over the last ~500 ms; -120 for digital silence
	PeakLevelDBFS float64 `json:"peak_level_dbfs"` // highest 20 ms RMS seen
	Silent        bool    `json:"silent"`          // LevelDBFS below SilenceDBFS (-60), or no audio for 500 ms
	SoundMs       float64 `json:"sound_ms"`        // decoded audio above SilenceDBFS
	SilenceMs     float64 `json:"silence_ms"`      // decoded audio at or below SilenceDBFS

	Recording   string `json:"recording,omitempty"`
	RecordError string `json:"record_error,omitempty"`
}

// AudioAnalyzer measures one received Opus track.
type AudioAnalyzer struct {
	cfg      AnalyzerConfig
	consumed atomic.Bool

	mu      sync.Mutex
	st      AudioStats
	rtp     *rtpCounter
	recent  []levelMark // 20 ms energies of the last levelWindow
	lastPCM time.Time
	endedAt time.Time // Consume returned: Stats reports the state at this time
}

type levelMark struct {
	at      time.Time
	energy  float64 // sum of squares, normalised to full scale
	samples int
}

const (
	levelWindow = 500 * time.Millisecond
	minDBFS     = -120.0
)

// NewAudioAnalyzer returns an analyzer with cfg (zero fields: defaults).
func NewAudioAnalyzer(cfg AnalyzerConfig) *AudioAnalyzer {
	return &AudioAnalyzer{cfg: cfg.withDefaults(), rtp: newRTPCounter(48000), st: AudioStats{LevelDBFS: minDBFS, PeakLevelDBFS: minDBFS}}
}

// Consume reads RTP from track until it ends or ctx is done (both return
// nil). The third argument exists for symmetry with VideoAnalyzer and is
// not called.
func (a *AudioAnalyzer) Consume(ctx context.Context, track *webrtc.TrackRemote, _ func()) error {
	return a.ConsumeRTP(ctx, track, track.Codec())
}

// ConsumeRTP is Consume for any RTP source.
func (a *AudioAnalyzer) ConsumeRTP(ctx context.Context, src RTPReader, codec webrtc.RTPCodecParameters) error {
	if !a.consumed.CompareAndSwap(false, true) {
		return ErrAlreadyConsumed
	}
	isOpus := codec.MimeType == "" || strings.EqualFold(codec.MimeType, webrtc.MimeTypeOpus)
	a.mu.Lock()
	a.st.Codec = codec.MimeType
	a.st.PayloadType = uint8(codec.PayloadType)
	if codec.ClockRate != 0 {
		a.rtp = newRTPCounter(codec.ClockRate)
	}
	a.mu.Unlock()

	var dec *opusDecoder
	if isOpus {
		d, err := newOpusDecoder()
		if err != nil {
			return err
		}
		dec = d
		defer dec.Close()
	}
	var rec *oggwriter.OggWriter
	if a.cfg.RecordPath != "" && isOpus {
		w, err := oggwriter.New(a.cfg.RecordPath, 48000, 2)
		a.mu.Lock()
		if err != nil {
			a.st.RecordError = err.Error()
		} else {
			rec = w
			a.st.Recording = a.cfg.RecordPath
		}
		a.mu.Unlock()
	}

	err := readLoop(ctx, src, func(p *rtp.Packet) {
		now := a.cfg.Now()
		a.mu.Lock()
		if a.st.FirstRTPAt.IsZero() {
			a.st.FirstRTPAt = now
		}
		a.rtp.add(p, now)
		a.mu.Unlock()
		if rec != nil {
			if err := rec.WriteRTP(p); err != nil {
				a.mu.Lock()
				a.st.RecordError = err.Error()
				a.mu.Unlock()
				_ = rec.Close()
				rec = nil
			}
		}
		if dec == nil || len(p.Payload) == 0 {
			return
		}
		pcm, err := dec.Decode(p.Payload)
		if err != nil {
			a.mu.Lock()
			a.st.DecodeErrors++
			a.mu.Unlock()
			return
		}
		var sq float64
		for _, v := range pcm {
			f := float64(v) / 32768
			sq += f * f
		}
		a.addLevel(now, sq, len(pcm))
	})
	if rec != nil {
		if cerr := rec.Close(); cerr != nil {
			a.mu.Lock()
			a.st.RecordError = cerr.Error()
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	a.endedAt = a.cfg.Now()
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("media: read audio RTP: %w", err)
	}
	return nil
}

func dbfs(energy float64, n int) float64 {
	if n == 0 || energy <= 0 {
		return minDBFS
	}
	return math.Max(minDBFS, 10*math.Log10(energy/float64(n)))
}

func (a *AudioAnalyzer) addLevel(now time.Time, energy float64, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.DecodedFrames++
	a.lastPCM = now
	l := dbfs(energy, n)
	if l > a.st.PeakLevelDBFS {
		a.st.PeakLevelDBFS = l
	}
	dur := ms(time.Duration(n) * time.Second / audioRate)
	if l > SilenceDBFS {
		a.st.SoundMs += dur
	} else {
		a.st.SilenceMs += dur
	}
	a.recent = append(a.recent, levelMark{now, energy, n})
	for len(a.recent) > 1 && now.Sub(a.recent[0].at) > levelWindow {
		a.recent = a.recent[1:]
	}
}

// Stats returns a snapshot; safe to call at any time. After Consume has
// returned it describes the stream as it was when it ended.
func (a *AudioAnalyzer) Stats() AudioStats {
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.endedAt.IsZero() {
		now = a.endedAt
	}
	st := a.st
	st.Packets = a.rtp.packets
	st.Bytes = a.rtp.bytes
	st.BitrateKbps = a.rtp.rate.perSecond(now) * 8 / 1000
	st.PacketsLost = a.rtp.lost()
	st.LossPct = a.rtp.lossPct()
	st.JitterMs = a.rtp.jitterMs()
	var e float64
	var n int
	for _, m := range a.recent {
		if now.Sub(m.at) <= levelWindow {
			e += m.energy
			n += m.samples
		}
	}
	st.LevelDBFS = dbfs(e, n)
	st.Silent = st.LevelDBFS <= SilenceDBFS
	return st
}
