package media

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
)

// sampleSink collects what an Encoder writes.
type sampleSink struct {
	mu      sync.Mutex
	samples []media.Sample
	at      []time.Time
	max     int
	full    chan struct{}
}

func newSink(max int) *sampleSink {
	return &sampleSink{max: max, full: make(chan struct{})}
}

func (s *sampleSink) WriteSample(m media.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) >= s.max {
		return nil
	}
	m.Data = append([]byte(nil), m.Data...)
	s.samples = append(s.samples, m)
	s.at = append(s.at, time.Now())
	if len(s.samples) == s.max {
		close(s.full)
	}
	return nil
}

func (s *sampleSink) wait(t *testing.T, d time.Duration) []media.Sample {
	t.Helper()
	select {
	case <-s.full:
	case <-time.After(d):
		s.mu.Lock()
		n := len(s.samples)
		s.mu.Unlock()
		t.Fatalf("sink got %d of %d samples in %v", n, s.max, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]media.Sample(nil), s.samples...)
}

func TestStampSurvivesVP8(t *testing.T) {
	t.Parallel()
	for _, p := range []VideoProfile{
		{Width: 640, Height: 480, FPS: 30, BitrateKbps: 300},
		{Width: 320, Height: 240, FPS: 30, BitrateKbps: 300},
		{Width: 640, Height: 480, FPS: 30, BitrateKbps: 100},
	} {
		t.Run(p.Key(), func(t *testing.T) {
			t.Parallel()
			enc, err := AcquireVideo(p, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Release()
			sink := newSink(60)
			detach := enc.AttachWriter(sink)
			defer detach()
			samples := sink.wait(t, 20*time.Second)
			if !isVP8KeyFrame(samples[0].Data) {
				t.Fatal("first sample after attach is not a keyframe")
			}
			dec, err := newVP8Decoder()
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			read, consecutive := 0, 0
			var prev uint32
			for i, s := range samples {
				img, err := dec.Decode(s.Data)
				if err != nil || img == nil {
					t.Fatalf("frame %d: decode: img=%v err=%v", i, img != nil, err)
				}
				if img.Rect.Dx() != p.Width || img.Rect.Dy() != p.Height {
					t.Fatalf("decoded %v, want %dx%d", img.Rect, p.Width, p.Height)
				}
				st, ok := ReadStamp(img)
				if !ok {
					continue
				}
				read++
				if read > 1 && st.Frame == prev+1 {
					consecutive++
				}
				prev = st.Frame
				if age := sink.at[i].Sub(st.SentAt); age < -time.Millisecond || age > 2*time.Second {
					t.Fatalf("frame %d: stamp time %v is %v before its write", i, st.SentAt, age)
				}
			}
			if read < len(samples)*95/100 {
				t.Fatalf("stamps read on %d of %d frames (want >= 95%%)", read, len(samples))
			}
			if consecutive < read*9/10 {
				t.Fatalf("only %d of %d stamps follow their predecessor", consecutive, read)
			}
			st := enc.Stats()
			kbps := float64(st.Bytes*8) / 1000 / (float64(st.Frames) / float64(p.FPS))
			t.Logf("%s: %d/%d stamps read, %d frames encoded, %.0f kbit/s, encode avg %.2f ms",
				p.Key(), read, len(samples), st.Frames, kbps, st.EncodeAvgMs)
		})
	}
}

func TestEncoderSharedFanOut(t *testing.T) {
	t.Parallel()
	p := VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 250}
	var encs []*Encoder
	for i := 0; i < 3; i++ {
		e, err := AcquireVideo(p, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		encs = append(encs, e)
	}
	defer func() {
		for _, e := range encs {
			e.Release()
		}
	}()
	if encs[0].s != encs[1].s || encs[1].s != encs[2].s {
		t.Fatal("same profile did not share one encoder")
	}
	var sinks []*sampleSink
	for _, e := range encs {
		s := newSink(30)
		sinks = append(sinks, s)
		defer e.AttachWriter(s)()
	}
	var got [][]media.Sample
	for _, s := range sinks {
		got = append(got, s.wait(t, 10*time.Second))
	}
	for i, g := range got {
		if !isVP8KeyFrame(g[0].Data) {
			t.Fatalf("sink %d did not start at a keyframe", i)
		}
		if g[1].Duration < 10*time.Millisecond || g[1].Duration > 200*time.Millisecond {
			t.Fatalf("sink %d: sample duration %v for 30 fps", i, g[1].Duration)
		}
	}
	st := encs[0].Stats()
	if st.Subscribers != 3 || st.References != 3 || st.FPS < 5 || st.FPS > 40 {
		t.Fatalf("stats: %+v", st)
	}
	// All three attached within one frame of each other, so they share frames:
	// the encoder must not have produced 3x the frames.
	if st.Frames > 30+30 {
		t.Fatalf("encoder produced %d frames for 3 sinks of 30", st.Frames)
	}
	// Stats of a separate profile stay separate.
	other, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 250}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if other.s == encs[0].s || other.Key() == encs[0].Key() {
		t.Fatal("different profiles share an encoder")
	}
}

func TestKeyFrameRateLimit(t *testing.T) {
	t.Parallel()
	enc, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 200}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Release()
	sink := newSink(45) // 1.5 s
	defer enc.AttachWriter(sink)()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // hammer PLIs every 10 ms
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				enc.ForceKeyFrame()
			}
		}
	}()
	samples := sink.wait(t, 10*time.Second)
	close(stop)
	<-done
	keys := 0
	for _, s := range samples {
		if isVP8KeyFrame(s.Data) {
			keys++
		}
	}
	// One forced keyframe per 300 ms at most (plus the periodic one every
	// 2 s), never one per request (150 requests in 1.5 s).
	elapsed := sink.at[len(sink.at)-1].Sub(sink.at[0])
	limit := int(elapsed/KeyFrameMinInterval) + 2
	if keys < 3 || keys > limit {
		t.Fatalf("%d keyframes in %d frames over %v under a PLI storm (limit %d)", keys, len(samples), elapsed, limit)
	}
	if st := enc.Stats(); st.KeyFrameRequests < 50 {
		t.Fatalf("requests not counted: %+v", st)
	}
}

func TestAudioEncoder(t *testing.T) {
	t.Parallel()
	enc, err := AcquireAudio(AudioProfile{}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Release()
	if c := enc.Codec(); c.MimeType != "audio/opus" || c.ClockRate != 48000 || c.Channels != 2 {
		t.Fatalf("codec %+v", c)
	}
	sink := newSink(50)
	defer enc.AttachWriter(sink)()
	samples := sink.wait(t, 10*time.Second)
	// Every chunk is 20 ms of audio; late ticks are caught up, so the
	// stream's duration follows the wall clock (a stall longer than 100 ms
	// shows up as one longer duration, a gap).
	var total time.Duration
	for _, s := range samples {
		if s.Duration < 20*time.Millisecond || len(s.Data) == 0 {
			t.Fatalf("opus sample: %d bytes, %v", len(s.Data), s.Duration)
		}
		total += s.Duration
	}
	wall := sink.at[len(sink.at)-1].Sub(sink.at[0]) + 20*time.Millisecond
	if d := total - wall; d < -wall/4 || d > wall/4 {
		t.Fatalf("audio durations sum to %v over %v of wall time", total, wall)
	}
}

func TestProfileValidation(t *testing.T) {
	t.Parallel()
	var h264Want error // libx264 linked in
	if !H264Available {
		h264Want = ErrUnsupportedCodec
	}
	cases := []struct {
		name string
		p    VideoProfile
		want error
	}{
		{"default", VideoProfile{}, nil},
		{"h264", VideoProfile{Codec: "H264"}, h264Want},
		{"vp9", VideoProfile{Codec: "vp9"}, ErrUnsupportedCodec},
		{"odd", VideoProfile{Width: 641}, ErrBadProfile},
		{"pattern", VideoProfile{Pattern: "plaid"}, ErrUnknownPattern},
		{"fps", VideoProfile{FPS: 500}, ErrBadProfile},
	}
	for _, c := range cases {
		if err := c.p.Validate(); !errors.Is(err, c.want) {
			t.Errorf("%s: Validate() = %v, want %v", c.name, err, c.want)
		}
	}
	if k := (VideoProfile{}).Key(); k != "vp8/640x480@30/1000k/moving" {
		t.Errorf("default key %q", k)
	}
	if k := (AudioProfile{}).Key(); k != "opus/32k/tone" {
		t.Errorf("default audio key %q", k)
	}
	if _, err := AcquireAudio(AudioProfile{Pattern: "noise"}, nil); !errors.Is(err, ErrUnknownPattern) {
		t.Errorf("AcquireAudio(noise) = %v", err)
	}
}

// Not parallel: counts goroutines.
func TestReleaseStopsEncoder(t *testing.T) {
	before := runtime.NumGoroutine()
	p := VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 150, Pattern: PatternFrozen}
	a, err := AcquireVideo(p, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AcquireVideo(p, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink(5)
	detach := a.AttachWriter(sink)
	sink.wait(t, 10*time.Second)
	a.Release()
	a.Release() // second release of the same reference: no-op
	if !b.Stats().Running {
		t.Fatal("encoder stopped while a reference remained")
	}
	b.Release()
	if b.Stats().Running {
		t.Fatal("encoder still running after the last Release")
	}
	detach()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after release", before, runtime.NumGoroutine())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A fresh Acquire starts a new encoder.
	c, err := AcquireVideo(p, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if c.s == b.s || !c.Stats().Running {
		t.Fatal("acquire after release did not start a new encoder")
	}
}

type failingWriter struct{}

func (failingWriter) WriteSample(media.Sample) error { return errors.New("write refused") }

// A shared encoder outlives the caller that started it; after that caller's
// Release its logf must not be called again (a finished test's t.Logf panics).
func TestEncoderLogsOnlyToLiveReferences(t *testing.T) {
	t.Parallel()
	p := VideoProfile{Width: 160, Height: 120, FPS: 30, BitrateKbps: 100}
	var mu sync.Mutex
	var afterRelease, toB int
	released := false
	a, err := AcquireVideo(p, func(string, ...any) {
		mu.Lock()
		defer mu.Unlock()
		if released {
			afterRelease++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := AcquireVideo(p, func(string, ...any) { mu.Lock(); toB++; mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	a.Release()
	mu.Lock()
	released = true
	mu.Unlock()
	defer b.AttachWriter(failingWriter{})()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := toB
		mu.Unlock()
		if n > 0 && b.Stats().WriteErrors > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write failure not reported: %+v", b.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // more frames, more failures
	mu.Lock()
	defer mu.Unlock()
	if toB == 0 || afterRelease != 0 {
		t.Fatalf("write failure logged %d times to the live reference, %d times to the released one", toB, afterRelease)
	}
}
