package media

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// frameRates measures, over the same window d, the frame rate enc actually
// produced (lower than its profile when the machine is too busy) and the
// decode rate of each analyzer. Receive rates are judged against the sender.
func frameRates(enc *Encoder, d time.Duration, rx ...*VideoAnalyzer) (sent float64, got []float64) {
	sent, _, got = sendRates(enc, d, rx...)
	return sent, got
}

// sendRates is frameRates plus the encoder's payload bit rate in kbit/s.
func sendRates(enc *Encoder, d time.Duration, rx ...*VideoAnalyzer) (fps, kbps float64, got []float64) {
	s0, t0 := enc.Stats(), time.Now()
	var r0 []int
	for _, a := range rx {
		r0 = append(r0, a.Stats().FramesDecoded)
	}
	time.Sleep(d)
	el := time.Since(t0).Seconds()
	s1 := enc.Stats()
	fps = float64(s1.Frames-s0.Frames) / el
	kbps = float64(s1.Bytes-s0.Bytes) * 8 / 1000 / el
	for i, a := range rx {
		got = append(got, float64(a.Stats().FramesDecoded-r0[i])/el)
	}
	return fps, kbps, got
}

// fpsClose reports whether a received rate matches the sent one (the window
// edges shift by the pipeline latency, hence the slack).
func fpsClose(got, sent float64) bool { return got >= sent*0.75-1 && got <= sent*1.25+1 }

// waitStats polls until cond holds or d passes, returning the last stats.
func waitVideo(t *testing.T, a *VideoAnalyzer, d time.Duration, cond func(VideoStats) bool) VideoStats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := a.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The call tests are not parallel: they check frame rates, which need the
// CPU to themselves on a 2-core machine under -race.
func TestCallMovingVideoAndTone(t *testing.T) {
	vp := VideoProfile{Width: 640, Height: 480, FPS: 30, BitrateKbps: 800}
	venc, err := AcquireVideo(vp, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer venc.Release()
	aenc, err := AcquireAudio(AudioProfile{}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer aenc.Release()
	dir := t.TempDir()
	cp := newCallPair(t, AnalyzerConfig{RecordPath: filepath.Join(dir, "rec"), Logf: t.Logf}, venc, aenc)
	vs, as := cp.analyzers(t, 1, 1, 10*time.Second)
	// Let the call run 3 s after the first decoded frame.
	st := waitVideo(t, vs[0], 10*time.Second, func(s VideoStats) bool { return s.FramesDecoded > 0 })
	if st.FramesDecoded == 0 {
		t.Fatalf("no frame decoded: %+v", st)
	}
	time.Sleep(time.Second)
	sent, sentKbps, got := sendRates(venc, 2*time.Second, vs[0])
	st = vs[0].Stats()
	t.Logf("video: %+v", st)
	if st.Codec != "video/VP8" || st.Width != 640 || st.Height != 480 {
		t.Errorf("codec/size: %s %dx%d", st.Codec, st.Width, st.Height)
	}
	if !fpsClose(got[0], sent) || !fpsClose(st.FPS, got[0]) {
		t.Errorf("decoded %.1f fps (analyzer says %.1f), sender produced %.1f (profile 30)", got[0], st.FPS, sent)
	}
	if sent < 25 {
		t.Logf("machine busy: the encoder made %.1f of 30 fps", sent)
	}
	if st.Black || st.BlackFrames > 0 || st.MeanLuma < 60 || st.LumaVariance < 300 {
		t.Errorf("moving pattern judged black: black=%v frames=%d mean=%.1f var=%.1f", st.Black, st.BlackFrames, st.MeanLuma, st.LumaVariance)
	}
	if st.Frozen || st.Freezes > 0 {
		t.Errorf("moving pattern judged frozen (%d freezes)", st.Freezes)
	}
	if st.StampedFrames < st.FramesDecoded*95/100 {
		t.Errorf("stamps read on %d of %d decoded frames", st.StampedFrames, st.FramesDecoded)
	}
	if st.LatencyP50Ms <= 0 || st.LatencyP95Ms > 1000 {
		t.Errorf("latency p50 %.1f p95 %.1f ms on loopback", st.LatencyP50Ms, st.LatencyP95Ms)
	}
	// RTP payload carries the VP8 frames plus a few bytes of descriptor.
	if st.BitrateKbps < sentKbps*0.7 || st.BitrateKbps > sentKbps*1.3+20 || st.PacketsLost > 5 || st.KeyFrames < 1 {
		t.Errorf("rtp: %.0f kbit/s (encoder sent %.0f), lost %d, keyframes %d", st.BitrateKbps, sentKbps, st.PacketsLost, st.KeyFrames)
	}
	// 800 kbit/s at 30 fps is ~27 kbit per frame; the rate control must use
	// a fair share of it (per frame, since a starved machine makes fewer).
	if sent > 0 && sentKbps/sent < 8 {
		t.Errorf("encoder sent %.0f kbit/s at %.1f fps for an 800 kbit/s profile", sentKbps, sent)
	}
	if f := vs[0].LastFrame(); f == nil || f.Bounds().Dx() != 640 {
		t.Errorf("LastFrame: %v", f)
	}

	ast := as[0].Stats()
	t.Logf("audio: %+v", ast)
	if ast.DecodedFrames < 100 || ast.DecodeErrors > 0 {
		t.Errorf("audio decoded %d frames, %d errors", ast.DecodedFrames, ast.DecodeErrors)
	}
	if ast.Silent || ast.PeakLevelDBFS < ToneLevelDBFS-3 || ast.PeakLevelDBFS > ToneLevelDBFS+3 {
		t.Errorf("tone level: silent=%v peak %.1f dBFS, want about %.1f", ast.Silent, ast.PeakLevelDBFS, ToneLevelDBFS)
	}
	// The tone is off 20% of each second.
	if on := ast.SoundMs / (ast.SoundMs + ast.SilenceMs); on < 0.7 || on > 0.9 {
		t.Errorf("tone on %.0f%% of the time, want ~80%%", 100*on)
	}
	cp.close()
	// Recordings: an IVF file with a frame per received frame, an Ogg file.
	ivf, err := os.ReadFile(st.Recording)
	if err != nil || len(ivf) < 32 || string(ivf[:4]) != "DKIF" || string(ivf[8:12]) != "VP80" {
		t.Errorf("IVF recording %s: %v (%d bytes)", st.Recording, err, len(ivf))
	}
	ogg, err := os.ReadFile(ast.Recording)
	if err != nil || len(ogg) < 100 || string(ogg[:4]) != "OggS" {
		t.Errorf("Ogg recording %s: %v (%d bytes)", ast.Recording, err, len(ogg))
	}
	if st.RecordError != "" || ast.RecordError != "" {
		t.Errorf("record errors: %q %q", st.RecordError, ast.RecordError)
	}
	// The IVF recording plays back: libvpx decodes it and the stamps read.
	frames, decoded, stamped := decodeIVF(t, ivf)
	t.Logf("IVF playback: %d frames, %d decoded, %d stamped", frames, decoded, stamped)
	if frames < st.FramesDecoded*9/10 || decoded < frames*9/10 || stamped < decoded*95/100 {
		t.Errorf("IVF playback: %d frames, %d decoded, %d stamped (analyzer decoded %d)", frames, decoded, stamped, st.FramesDecoded)
	}
	// The Ogg recording parses as Opus with about as many pages as packets.
	or, hdr, err := oggreader.NewWith(bytes.NewReader(ogg))
	if err != nil || hdr.SampleRate != 48000 {
		t.Fatalf("Ogg header: %v %+v", err, hdr)
	}
	pages := 0
	for {
		if _, _, err := or.ParseNextPage(); err != nil {
			break
		}
		pages++
	}
	if pages < int(ast.Packets)/2 {
		t.Errorf("Ogg recording has %d pages for %d packets", pages, ast.Packets)
	}
}

// decodeIVF plays an IVF file through the VP8 decoder.
func decodeIVF(t *testing.T, ivf []byte) (frames, decoded, stamped int) {
	t.Helper()
	r, _, err := ivfreader.NewWith(bytes.NewReader(ivf))
	if err != nil {
		t.Fatalf("IVF header: %v", err)
	}
	dec, err := newVP8Decoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for {
		f, _, err := r.ParseNextFrame()
		if err != nil {
			return frames, decoded, stamped
		}
		frames++
		img, err := dec.Decode(f)
		if err != nil || img == nil {
			continue
		}
		decoded++
		if _, ok := ReadStamp(img); ok {
			stamped++
		}
	}
}

func TestCallBlackFrozenSilence(t *testing.T) {
	black, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 300, Pattern: PatternBlack}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer black.Release()
	frozen, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 300, Pattern: PatternFrozen}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Release()
	moving, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer moving.Release()
	silence, err := AcquireAudio(AudioProfile{Pattern: PatternSilence}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer silence.Release()
	cp := newCallPair(t, AnalyzerConfig{Logf: t.Logf, DecodeEvery: 3}, black, frozen, moving, silence)
	cp.analyzers(t, 3, 1, 10*time.Second)
	bl, fr, mv := cp.videoByID(t, trackID("video", 0)), cp.videoByID(t, trackID("video", 1)), cp.videoByID(t, trackID("video", 2))
	for _, a := range []*VideoAnalyzer{bl, fr, mv} {
		waitVideo(t, a, 10*time.Second, func(s VideoStats) bool { return s.FramesDecoded > 0 })
	}
	time.Sleep(500 * time.Millisecond)
	sent, got := frameRates(moving, 2*time.Second, mv)

	bs := bl.Stats()
	t.Logf("black: %+v", bs)
	if !bs.Black || bs.BlackFrames < bs.AnalysedFrames*9/10 || bs.AnalysedFrames == 0 {
		t.Errorf("black pattern: black=%v %d of %d analysed frames black", bs.Black, bs.BlackFrames, bs.AnalysedFrames)
	}
	if bs.Frozen || bs.StampedFrames > 0 {
		t.Errorf("black pattern: frozen=%v stamped=%d", bs.Frozen, bs.StampedFrames)
	}

	fs := fr.Stats()
	t.Logf("frozen: %+v", fs)
	if !fs.Frozen || fs.Freezes != 1 || fs.LongestFreezeMs < 1000 {
		t.Errorf("frozen pattern: frozen=%v freezes=%d longest=%.0f ms", fs.Frozen, fs.Freezes, fs.LongestFreezeMs)
	}
	if fs.Black || fs.FramesDecoded < 30 || fs.StampedFrames < fs.FramesDecoded*9/10 {
		t.Errorf("frozen pattern: black=%v decoded=%d stamped=%d", fs.Black, fs.FramesDecoded, fs.StampedFrames)
	}

	ms := mv.Stats()
	t.Logf("moving: %+v", ms)
	if ms.Frozen || ms.Black || ms.Freezes > 0 || !fpsClose(got[0], sent) {
		t.Errorf("moving 15 fps: frozen=%v black=%v freezes=%d decoded %.1f fps (sender %.1f)", ms.Frozen, ms.Black, ms.Freezes, got[0], sent)
	}
	// DecodeEvery 3: all frames decoded, about a third analysed.
	if ms.AnalysedFrames > ms.FramesDecoded/3+2 || ms.AnalysedFrames < ms.FramesDecoded/3-2 {
		t.Errorf("DecodeEvery 3: %d analysed of %d decoded", ms.AnalysedFrames, ms.FramesDecoded)
	}

	as := cp.audioByID(t, trackID("audio", 3)).Stats()
	t.Logf("silence: %+v", as)
	if !as.Silent || as.PeakLevelDBFS > SilenceDBFS || as.DecodedFrames < 50 {
		t.Errorf("silence: silent=%v peak %.1f dBFS, %d frames", as.Silent, as.PeakLevelDBFS, as.DecodedFrames)
	}

	// After the call: the final stats describe the streams as they ended,
	// and no freeze is invented by the stream stopping.
	cp.close()
	time.Sleep(1200 * time.Millisecond)
	if fs := fr.Stats(); !fs.Frozen || fs.Freezes != 1 {
		t.Errorf("frozen pattern after the call: frozen=%v freezes=%d", fs.Frozen, fs.Freezes)
	}
	if ms := mv.Stats(); ms.Frozen || ms.Freezes != 0 || ms.FPS < 1 || ms.BitrateKbps <= 0 {
		t.Errorf("moving after the call: frozen=%v freezes=%d fps=%.1f kbps=%.0f", ms.Frozen, ms.Freezes, ms.FPS, ms.BitrateKbps)
	}
}

// One shared encoder feeds three real PeerConnections; each receiver decodes
// the same stamped sequence while the encoder runs once.
func TestCallSharedEncoderThreePeers(t *testing.T) {
	p := VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 400}
	enc, err := AcquireVideo(p, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Release()
	var rx []*VideoAnalyzer
	for i := 0; i < 3; i++ {
		cp := newCallPair(t, AnalyzerConfig{Logf: t.Logf}, enc)
		vs, _ := cp.analyzers(t, 1, 0, 10*time.Second)
		rx = append(rx, vs[0])
	}
	for _, a := range rx {
		waitVideo(t, a, 10*time.Second, func(s VideoStats) bool { return s.FramesDecoded > 0 })
	}
	if st := enc.Stats(); st.Subscribers != 3 {
		t.Fatalf("encoder has %d subscribers, want 3", st.Subscribers)
	}
	sent, got := frameRates(enc, 2*time.Second, rx...)
	if sent > 36 {
		t.Fatalf("encoder made %.1f fps for 3 peers of a 30 fps profile: not shared", sent)
	}
	var stamps []uint32
	for i, a := range rx {
		st := a.Stats()
		if st.FramesDecoded < 10 || !fpsClose(got[i], sent) || st.Black || st.Frozen {
			t.Errorf("peer %d: decoded %d, %.1f fps (sender %.1f), black=%v frozen=%v", i, st.FramesDecoded, got[i], sent, st.Black, st.Frozen)
		}
		s, ok := ReadStamp(a.LastFrame())
		if !ok {
			t.Fatalf("peer %d: last frame has no stamp", i)
		}
		stamps = append(stamps, s.Frame)
	}
	// All three show the same frame sequence, within a few frames of each other.
	for i := 1; i < len(stamps); i++ {
		if d := int64(stamps[i]) - int64(stamps[0]); d < -10 || d > 10 {
			t.Errorf("peers show frames %v: not one shared sequence", stamps)
		}
	}
}
