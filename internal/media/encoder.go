package media

import (
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// KeyFrameMinInterval rate-limits forced keyframes: requests (PLI/FIR from
// any receiver) arriving within this interval of the last forced keyframe
// are merged into one keyframe at the end of the interval. Keyframes for new
// subscribers are limited the same way but separately, so a receiver's first
// PLI is never held back by the keyframe its own Attach caused (which often
// leaves before its transport is up).
const KeyFrameMinInterval = 300 * time.Millisecond

// Capabilities announced for the encoded streams. The Opus line matches the
// codec pion registers by default so tracks bind to it.
var (
	VP8Capability = webrtc.RTPCodecCapability{
		MimeType:  webrtc.MimeTypeVP8,
		ClockRate: 90000,
	}
	// H264Capability is constrained baseline (what the x264 encoder produces) at level
	// 3.1, packetization-mode 1 (FU-A, STAP-A): the line every browser offers.
	H264Capability = webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeH264,
		ClockRate:   90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}
	OpusCapability = webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   48000,
		Channels:    2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
)

// EncoderStats is a snapshot of a shared encoder's counters.
type EncoderStats struct {
	Key              string  `json:"key"`               // profile key
	Kind             string  `json:"kind"`              // "video" or "audio"
	Running          bool    `json:"running"`           // encoder goroutine alive
	Frames           uint64  `json:"frames"`            // encoded frames
	FPS              float64 `json:"fps"`               // encoded frames per second over the last ~2 s
	KeyFrames        uint64  `json:"keyframes"`         // of which keyframes
	Bytes            uint64  `json:"bytes"`             // encoded payload bytes
	Subscribers      int     `json:"subscribers"`       // attached tracks
	References       int     `json:"references"`        // Acquire calls not yet released
	KeyFrameRequests uint64  `json:"keyframe_requests"` // ForceKeyFrame calls + attaches
	ForcedKeyFrames  uint64  `json:"forced_keyframes"`  // keyframes actually forced (after rate limit)
	WriteErrors      uint64  `json:"write_errors"`      // WriteSample failures, all tracks
	EncodeAvgMs      float64 `json:"encode_avg_ms"`     // mean time per encode call
	EncodeMaxMs      float64 `json:"encode_max_ms"`
	EncodeTotalMs    float64 `json:"encode_total_ms"`
	LateTicks        uint64  `json:"late_ticks"` // frames produced more than one interval late
	Err              string  `json:"error,omitempty"`
}

// Encoder is one reference to a shared, running encoder. Get one from
// AcquireVideo or AcquireAudio and give it back with Release.
type Encoder struct {
	s        *sharedEncoder
	logf     func(string, ...any)
	released atomic.Bool
}

// SampleWriter receives encoded frames; *webrtc.TrackLocalStaticSample is one.
type SampleWriter interface {
	WriteSample(media.Sample) error
}

type subscriber struct {
	track   SampleWriter
	waitKey bool // video: hold frames back until the next keyframe
}

type sharedEncoder struct {
	key      string
	kind     string
	codecCap webrtc.RTPCodecCapability
	isKey    func(frame []byte) bool // video: the encoded frame is a keyframe
	refs     int                     // guarded by registry.mu

	rc       codec.ReadCloser
	interval time.Duration
	done     chan struct{}
	stopped  chan struct{}

	// video input: the frame the next rc.Read will consume
	nextImage image.Image
	video     *videoSource
	// audio input
	nextAudio wave.Audio
	audio     *audioSource

	// Keyframe requests: kfPending from receivers (PLI/FIR) is rate-limited;
	// kfAttach from new subscribers is served at the next frame and does not
	// count toward the limit, because that keyframe is often sent before the
	// new peer's transport is up and the peer's PLI must not wait for it.
	kfPending atomic.Bool
	kfAttach  atomic.Bool

	mu    sync.Mutex
	subs  []*subscriber
	stats EncoderStats
	// loggers of the references not yet released: a shared encoder
	// outlives the caller that started it, so it must not keep logging to
	// that caller's logf (a finished test's t.Logf panics).
	loggers []*Encoder
	scratch []*subscriber // encoder goroutine only: this frame's receivers
	rate    rateMeter     // encoded frames
}

var registry = struct {
	mu sync.Mutex
	m  map[string]*sharedEncoder
}{m: map[string]*sharedEncoder{}}

func nopLogf(string, ...any) {}

// AcquireVideo returns a reference to the running encoder for p, starting
// it if no other reference exists. logf receives the encoder's diagnostics
// (nil: none).
func AcquireVideo(p VideoProfile, logf func(string, ...any)) (*Encoder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.Normalized()
	return acquire(p.Key(), func() (*sharedEncoder, error) { return newVideoEncoder(p) }, logf)
}

// AcquireAudio returns a reference to the running encoder for p, starting
// it if no other reference exists.
func AcquireAudio(p AudioProfile, logf func(string, ...any)) (*Encoder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.Normalized()
	return acquire(p.Key(), func() (*sharedEncoder, error) { return newAudioEncoder(p) }, logf)
}

func acquire(key string, build func() (*sharedEncoder, error), logf func(string, ...any)) (*Encoder, error) {
	if logf == nil {
		logf = nopLogf
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if s, ok := registry.m[key]; ok {
		select {
		case <-s.stopped:
			// died on an encode error: replace it
		default:
			s.refs++
			return s.handle(logf), nil
		}
	}
	s, err := build()
	if err != nil {
		return nil, fmt.Errorf("media: start encoder %s: %w", key, err)
	}
	s.key = key
	s.refs = 1
	s.stats.Key = key
	s.stats.Kind = s.kind
	s.stats.Running = true
	registry.m[key] = s
	e := s.handle(logf)
	go s.run()
	return e, nil
}

// handle makes a new reference that logs to logf.
func (s *sharedEncoder) handle(logf func(string, ...any)) *Encoder {
	e := &Encoder{s: s, logf: logf}
	s.mu.Lock()
	s.loggers = append(s.loggers, e)
	s.mu.Unlock()
	return e
}

// logf sends a diagnostic to the logger of the oldest reference not yet
// released (one line per event, however many peers share the encoder).
func (s *sharedEncoder) logf(format string, args ...any) {
	s.mu.Lock()
	var fn func(string, ...any)
	if len(s.loggers) > 0 {
		fn = s.loggers[0].logf
	}
	s.mu.Unlock()
	if fn != nil {
		fn(format, args...)
	}
}

func newVideoEncoder(p VideoProfile) (*sharedEncoder, error) {
	s := &sharedEncoder{
		kind:     "video",
		codecCap: VP8Capability,
		isKey:    isVP8KeyFrame,
		interval: time.Second / time.Duration(p.FPS),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		video:    newVideoSource(p),
	}
	in := video.ReaderFunc(func() (image.Image, func(), error) {
		if s.nextImage == nil {
			return nil, func() {}, io.EOF
		}
		img := s.nextImage
		s.nextImage = nil
		return img, func() {}, nil
	})
	if p.Codec == CodecH264 {
		rc, err := newH264Encoder(p, in)
		if err != nil {
			return nil, err
		}
		s.rc, s.codecCap, s.isKey = rc, H264Capability, h264IsKeyFrame
		return s, nil
	}
	params, err := vpx.NewVP8Params()
	if err != nil {
		return nil, fmt.Errorf("vp8 params: %w", err)
	}
	params.BitRate = p.BitrateKbps * 1000
	params.KeyFrameInterval = 2 * p.FPS
	params.RateControlEndUsage = vpx.RateControlCBR
	rc, err := params.BuildVideoEncoder(in, prop.Media{Video: prop.Video{
		Width: p.Width, Height: p.Height, FrameRate: float32(p.FPS),
	}})
	if err != nil {
		return nil, fmt.Errorf("vp8 encoder: %w", err)
	}
	s.rc = rc
	return s, nil
}

func newAudioEncoder(p AudioProfile) (*sharedEncoder, error) {
	params, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("opus params: %w", err)
	}
	params.BitRate = p.BitrateKbps * 1000
	s := &sharedEncoder{
		kind:     "audio",
		codecCap: OpusCapability,
		interval: 20 * time.Millisecond,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		audio:    newAudioSource(p),
	}
	in := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		if s.nextAudio == nil {
			return nil, func() {}, io.EOF
		}
		a := s.nextAudio
		s.nextAudio = nil
		return a, func() {}, nil
	})
	rc, err := params.BuildAudioEncoder(in, prop.Media{Audio: prop.Audio{
		SampleRate: audioRate, ChannelCount: 1,
	}})
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	s.rc = rc
	return s, nil
}

// run is the encoder goroutine: tick, render, encode once, fan out.
func (s *sharedEncoder) run() {
	defer close(s.stopped)
	defer func() {
		if err := s.rc.Close(); err != nil {
			s.logf("media: %s: close encoder: %v", s.key, err)
		}
		s.mu.Lock()
		s.stats.Running = false
		s.mu.Unlock()
	}()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	var (
		frame      uint32
		prev       time.Time
		lastForced time.Time
		lastAttach time.Time
	)
	for {
		var now time.Time
		select {
		case <-s.done:
			return
		case now = <-ticker.C:
		}
		dur := s.interval
		if !prev.IsZero() {
			dur = now.Sub(prev)
		}
		late := !prev.IsZero() && dur > s.interval*3/2
		prev = now
		if late {
			s.mu.Lock()
			s.stats.LateTicks++
			s.mu.Unlock()
		}
		if s.video != nil {
			// A video frame shows the picture at its capture time: one frame
			// per tick, its duration the real time since the previous one
			// (the ticker drops ticks when the CPU cannot keep up).
			s.nextImage = s.video.Render(frame, time.Now())
			frame++
			force := false
			if s.kfAttach.Load() && now.Sub(lastAttach) >= KeyFrameMinInterval {
				s.kfAttach.Store(false)
				lastAttach = now
				force = true
			}
			if s.kfPending.Load() && now.Sub(lastForced) >= KeyFrameMinInterval {
				s.kfPending.Store(false)
				lastForced = now
				force = true
			}
			if force {
				if kc, ok := s.rc.Controller().(codec.KeyFrameController); ok {
					if err := kc.ForceKeyFrame(); err == nil {
						s.mu.Lock()
						s.stats.ForcedKeyFrames++
						s.mu.Unlock()
					}
				}
			}
			if !s.encodeAndSend(dur) {
				return
			}
			continue
		}
		// Audio must stay continuous: after a late tick, encode the missed
		// 20 ms chunks too (up to maxAudioCatchUp); a longer stall becomes a
		// timestamp jump, which receivers treat as a gap.
		n := int((dur + s.interval/2) / s.interval)
		n = max(1, min(n, maxAudioCatchUp))
		for i := 0; i < n; i++ {
			d := s.interval
			if i == n-1 && dur > time.Duration(n)*s.interval {
				d = dur - time.Duration(n-1)*s.interval
			}
			s.nextAudio = s.audio.Render()
			if !s.encodeAndSend(d) {
				return
			}
		}
	}
}

// maxAudioCatchUp bounds the audio chunks encoded on one late tick.
const maxAudioCatchUp = 5

// encodeAndSend encodes the prepared input and writes it to the
// subscribers; false means the encoder failed and the goroutine must stop.
func (s *sharedEncoder) encodeAndSend(dur time.Duration) bool {
	t0 := time.Now()
	data, release, err := s.rc.Read()
	took := time.Since(t0)
	if err != nil {
		s.logf("media: %s: encode: %v", s.key, err)
		s.mu.Lock()
		s.stats.Err = err.Error()
		s.mu.Unlock()
		return false
	}
	buf := append([]byte(nil), data...)
	if release != nil {
		release()
	}
	key := s.kind == "audio" || (len(buf) > 0 && s.isKey(buf))

	s.mu.Lock()
	s.stats.EncodeTotalMs += ms(took)
	if m := ms(took); m > s.stats.EncodeMaxMs {
		s.stats.EncodeMaxMs = m
	}
	if len(buf) == 0 {
		s.mu.Unlock()
		return true
	}
	s.stats.Frames++
	s.rate.add(time.Now(), 1)
	if key && s.kind == "video" {
		s.stats.KeyFrames++
	}
	s.stats.Bytes += uint64(len(buf))
	s.scratch = s.scratch[:0]
	for _, sub := range s.subs {
		if sub.waitKey {
			if !key {
				continue
			}
			sub.waitKey = false
		}
		s.scratch = append(s.scratch, sub)
	}
	subs := s.scratch
	s.mu.Unlock()

	sample := media.Sample{Data: buf, Duration: dur}
	var writeErrs uint64
	for _, sub := range subs {
		if err := sub.track.WriteSample(sample); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			writeErrs++
		}
	}
	if writeErrs > 0 {
		s.mu.Lock()
		first := s.stats.WriteErrors == 0
		s.stats.WriteErrors += writeErrs
		s.mu.Unlock()
		if first {
			s.logf("media: %s: WriteSample failed on %d track(s)", s.key, writeErrs)
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Release gives the reference back. The last Release stops the encoder
// goroutine and frees the codec before it returns (waiting at most 5 s for
// a frame in progress). After Release the encoder no longer calls this
// reference's logf. Calling Release twice on one Encoder is a no-op.
func (e *Encoder) Release() {
	if e == nil || !e.released.CompareAndSwap(false, true) {
		return
	}
	s := e.s
	s.mu.Lock()
	for i, x := range s.loggers {
		if x == e {
			s.loggers = append(s.loggers[:i], s.loggers[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	registry.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last && registry.m[s.key] == s {
		delete(registry.m, s.key)
	}
	registry.mu.Unlock()
	if last {
		close(s.done)
		// The goroutine finishes the frame in hand (one encode and one
		// WriteSample per track) and frees the codec on its way out.
		select {
		case <-s.stopped:
		case <-time.After(releaseWait):
			e.logf("media: %s: encoder still busy %v after Release; it stops after the current frame", s.key, releaseWait)
		}
	}
}

// releaseWait bounds how long Release waits for the encoder goroutine.
const releaseWait = 5 * time.Second

// Codec is the RTP codec capability to create tracks with.
func (e *Encoder) Codec() webrtc.RTPCodecCapability { return e.s.codecCap }

// Key is the profile key the encoder was started for.
func (e *Encoder) Key() string { return e.s.key }

// Attach makes every encoded frame go to track until detach is called (or
// the encoder stops). A video track receives frames from the next keyframe
// on, and attaching requests one, so a new receiver can start decoding
// within KeyFrameMinInterval plus one frame.
func (e *Encoder) Attach(track *webrtc.TrackLocalStaticSample) (detach func()) {
	return e.AttachWriter(track)
}

// AttachWriter is Attach for any SampleWriter (recorders, tests, benchmarks).
// WriteSample is called from the encoder goroutine and must not block long:
// it delays every other subscriber.
func (e *Encoder) AttachWriter(track SampleWriter) (detach func()) {
	s := e.s
	sub := &subscriber{track: track, waitKey: s.kind == "video"}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.stats.KeyFrameRequests++
	s.mu.Unlock()
	s.kfAttach.Store(true)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for i, x := range s.subs {
				if x == sub {
					s.subs = append(s.subs[:i], s.subs[i+1:]...)
					break
				}
			}
		})
	}
}

// ForceKeyFrame asks for a keyframe (answering PLI/FIR). Requests are merged
// so that at most one keyframe is forced per KeyFrameMinInterval. No-op for
// audio.
func (e *Encoder) ForceKeyFrame() {
	s := e.s
	if s.kind != "video" {
		return
	}
	s.mu.Lock()
	s.stats.KeyFrameRequests++
	s.mu.Unlock()
	s.kfPending.Store(true)
}

// Stats returns a snapshot of the encoder's counters.
func (e *Encoder) Stats() EncoderStats {
	s := e.s
	registry.mu.Lock()
	refs := s.refs
	registry.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Subscribers = len(s.subs)
	st.References = refs
	st.FPS = s.rate.perSecond(time.Now())
	if st.Frames > 0 {
		st.EncodeAvgMs = st.EncodeTotalMs / float64(st.Frames)
	}
	return st
}
