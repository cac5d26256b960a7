package peer

import (
	"strings"
	"testing"

	"github.com/rtcctl/rtcctl/internal/media"
)

// h264Profile is light enough for a shared CI machine and at the full 30 fps, so the
// frame-rate threshold means something.
var h264Profile = media.VideoProfile{Codec: media.CodecH264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 500}

// TestRunCallH264: both sides send H264 (x264) through the embedded server; each side
// negotiates H264, counts frames and keyframes from RTP, reads the size and profile from
// the SPS, answers the other's PLI with a keyframe, and says plainly that nothing was
// decoded (no black/frozen/latency), with an OK verdict resting on frames arriving.
func TestRunCallH264(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Parallel()
	rep := quickCall(t, CallConfig{Embedded: true, VideoProfile: h264Profile,
		Thresholds: Thresholds{MinFPS: 20, MaxLossPct: 5}})
	if !rep.Passed {
		for _, d := range rep.Directions {
			for _, c := range d.Checks {
				if !c.Passed {
					t.Errorf("%s: check %s failed: %s (want %s) %s", d.Name, c.Name, c.Measured, c.Threshold, c.Detail)
				}
			}
		}
		t.FailNow()
	}
	for _, d := range rep.Directions {
		v := d.Video
		if v == nil {
			t.Fatalf("%s: no video", d.Name)
		}
		if v.Codec != "h264" || v.NotDecoded != media.H264NotDecoded {
			t.Errorf("%s: video codec %q, not_decoded %q; want h264 with the not-decoded reason", d.Name, v.Codec, v.NotDecoded)
		}
		if v.Frames < 20 || v.KeyFrames < 1 || v.FramesDecoded != 0 || v.Width != 320 || v.Height != 240 {
			t.Errorf("%s: %d frames, %d keyframes, %d decoded, %dx%d; want >= 20 frames, a keyframe, none decoded, 320x240 from the SPS",
				d.Name, v.Frames, v.KeyFrames, v.FramesDecoded, v.Width, v.Height)
		}
		if !strings.HasPrefix(v.ProfileLevelID, "42") {
			t.Errorf("%s: SPS profile-level-id %q, want baseline (42....)", d.Name, v.ProfileLevelID)
		}
		if v.Black || v.Frozen || v.LatencyP50Ms != 0 {
			t.Errorf("%s: decode-side results for undecoded video: %+v", d.Name, v)
		}
		if !d.Verdict.OK || !strings.Contains(d.Verdict.Finding, "not decoded") {
			t.Errorf("%s: verdict %s %q; want ok, saying not decoded", d.Name, d.Verdict.Code, d.Verdict.Finding)
		}
		noted := false
		for _, n := range d.Verdict.Notes {
			noted = noted || (n.Code == "not-decoded" && strings.Contains(n.Finding, "black/frozen/latency not checked"))
		}
		if !noted {
			t.Errorf("%s: no not-decoded note: %+v", d.Name, d.Verdict.Notes)
		}
		if d.JoinToFirstFrameMs == nil {
			t.Errorf("%s: no join-to-first-keyframe time", d.Name)
		}
		t.Logf("%s: %.1f fps, %d frames, %d keyframes, profile-level-id %s", d.Name, v.FPS, v.Frames, v.KeyFrames, v.ProfileLevelID)
	}
	for _, p := range rep.Peers {
		c := p.Calls[len(p.Calls)-1]
		if !strings.Contains(strings.Join(c.RemoteCodecs["video"], ","), "h264") {
			t.Errorf("%s: remote video codecs %v, want h264 among them", p.UID, c.RemoteCodecs["video"])
		}
		for _, tx := range c.Tx {
			if tx.Kind == "video" && (tx.Codec != "h264" || tx.PLIReceived == 0 || tx.KeyFramesForced == 0) {
				t.Errorf("%s: sent video %+v; want h264 with the track-start PLI answered by a keyframe", p.UID, tx)
			}
		}
	}
}

// TestRunCallH264WithVP8Sender: a --codec h264 peer still receives VP8. The other side
// sends VP8 and accepts H264 too, as a browser does: each side gets the other's codec,
// VP8 decoded at the H264 side, H264 analysed at RTP level at the other.
func TestRunCallH264WithVP8Sender(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Parallel()
	rep := quickCall(t, CallConfig{Embedded: true, VideoProfile: smallProfile, Side: func(side string, c *Config) {
		if side == "a" {
			c.VideoProfile = h264Profile
			c.VideoProfile.FPS = 15
			c.VideoCodecs = nil // the default for h264: h264, vp8
		} else {
			c.VideoCodecs = []string{"vp8", "h264"}
		}
	}})
	ba := dir(t, rep, "b->a")
	if ba.Video == nil || ba.Video.Codec != "vp8" || ba.Video.FramesDecoded == 0 || ba.Video.NotDecoded != "" || !ba.Verdict.OK {
		t.Errorf("b->a (VP8 into the h264 side): video %+v verdict %s %q", ba.Video, ba.Verdict.Code, ba.Verdict.Finding)
	}
	ab := dir(t, rep, "a->b")
	if ab.Video == nil || ab.Video.Codec != "h264" || ab.Video.KeyFrames == 0 || !ab.Verdict.OK {
		t.Errorf("a->b (H264): video %+v verdict %s %q", ab.Video, ab.Verdict.Code, ab.Verdict.Finding)
	}
}

// TestRunCallH264ToVP8OnlyPeer: a VP8-only peer cannot take the H264 track; the H264
// side (the caller) names the missing common codec with both sides' lists.
func TestRunCallH264ToVP8OnlyPeer(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Parallel()
	rep := quickCall(t, CallConfig{Embedded: true, VideoProfile: smallProfile, Side: func(side string, c *Config) {
		if side == "a" {
			c.VideoProfile = h264Profile
			c.VideoProfile.FPS = 15
		}
	}})
	if rep.Passed {
		t.Fatal("an H264 sender and a VP8-only receiver passed")
	}
	ba := dir(t, rep, "b->a") // a's receive verdict: a's negotiation failed
	if ba.Verdict.Code != "no-common-codec" || !strings.Contains(ba.Verdict.Finding, "remote vp8, local h264,vp8") {
		t.Errorf("H264 side's verdict %s %q, want no-common-codec naming remote vp8, local h264,vp8", ba.Verdict.Code, ba.Verdict.Finding)
	}
}
