package peer

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/media"
)

func testLogf(t *testing.T) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

// TestRunCallEmbedded runs alone (not parallel) so that its frame-rate threshold is not
// judged on a CPU shared with the other calls of the package.
func TestRunCallEmbedded(t *testing.T) {
	before := runtime.NumGoroutine()
	rep, err := RunCall(context.Background(), CallConfig{
		Embedded: true, Duration: 2 * time.Second,
		// 320x240 at the full 30 fps: a quarter of the default's encode/decode cost, so the
		// frame-rate check measures the call path rather than the CPU left over by other
		// packages' tests running at the same time.
		VideoProfile: media.VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 500},
		Thresholds:   Thresholds{MinFPS: 20, MaxLossPct: 5},
		Logf:         testLogf(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every goroutine of both sessions, the embedded server and the encoders has ended.
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left behind (before %d):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Directions {
		for _, c := range d.Checks {
			if !c.Passed {
				t.Errorf("check %s failed: %s (threshold %s) %s", c.Name, c.Measured, c.Threshold, c.Detail)
			}
		}
		v := d.Video
		if v == nil {
			t.Fatalf("%s: no video", d.Name)
		}
		if v.Black || v.Frozen || v.LatencyP50Ms <= 0 || v.Width != 320 || v.Height != 240 {
			t.Errorf("%s: video %+v: want 320x240, not black, not frozen, latency measured", d.Name, v)
		}
		if d.Audio == nil || d.Audio.Silent {
			t.Errorf("%s: audio missing or silent: %+v", d.Name, d.Audio)
		}
		if d.JoinToFirstFrameMs == nil {
			t.Errorf("%s: no join-to-first-frame time", d.Name)
		} else {
			t.Logf("%s: both joined -> first decoded frame %.1f ms, %.1f fps, latency p50 %.1f ms p95 %.1f ms",
				d.Name, *d.JoinToFirstFrameMs, v.FPS, v.LatencyP50Ms, v.LatencyP95Ms)
		}
	}
}

// TestRunCallNoDecode: a load-test style call (no video decoding) is judged on assembled
// frames and keyframes.
func TestRunCallNoDecode(t *testing.T) {
	t.Parallel()
	rep := quickCall(t, CallConfig{Embedded: true, Send: &Media{Video: true}, Analysis: media.AnalyzerConfig{NoDecode: true},
		VideoProfile: smallProfile})
	for _, d := range rep.Directions {
		if !d.Passed || d.Video == nil || d.Video.Frames == 0 || d.Video.FramesDecoded != 0 {
			t.Errorf("%s: passed %v video %+v verdict %s", d.Name, d.Passed, d.Video, d.Verdict.Finding)
		}
	}
}
