package peer

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func testLogf(t *testing.T) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

// TestRunCallEmbedded runs alone (not parallel) so that its frame-rate threshold is not
// judged on a CPU shared with the other calls of the package.
func TestRunCallEmbedded(t *testing.T) {
	rep, err := RunCall(context.Background(), CallConfig{
		Embedded: true, Duration: 2 * time.Second,
		Thresholds: Thresholds{MinFPS: 20, MaxLossPct: 5},
		Logf:       testLogf(t),
	})
	if err != nil {
		t.Fatal(err)
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
		if v.Black || v.Frozen || v.LatencyP50Ms <= 0 || v.Width != 640 || v.Height != 480 {
			t.Errorf("%s: video %+v: want 640x480, not black, not frozen, latency measured", d.Name, v)
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
