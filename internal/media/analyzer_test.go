package media

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

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

func TestCallMovingVideoAndTone(t *testing.T) {
	t.Parallel()
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
	time.Sleep(3 * time.Second)
	st = vs[0].Stats()
	t.Logf("video: %+v", st)
	if st.Codec != "video/VP8" || st.Width != 640 || st.Height != 480 {
		t.Errorf("codec/size: %s %dx%d", st.Codec, st.Width, st.Height)
	}
	if st.FPS < 25 || st.FPS > 35 {
		t.Errorf("fps %.1f, want about 30", st.FPS)
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
	if st.LatencyP50Ms <= 0 || st.LatencyP95Ms > 500 {
		t.Errorf("latency p50 %.1f p95 %.1f ms on loopback", st.LatencyP50Ms, st.LatencyP95Ms)
	}
	if st.BitrateKbps < 200 || st.BitrateKbps > 2000 || st.PacketsLost > 5 || st.KeyFrames < 1 {
		t.Errorf("rtp: %.0f kbit/s, lost %d, keyframes %d", st.BitrateKbps, st.PacketsLost, st.KeyFrames)
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
}
