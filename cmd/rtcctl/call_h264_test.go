package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/media"
)

// TestCodecFlag: --codec reaches the video profile of join and call (default vp8); with
// h264 the call's latency check is off unless asked for, and asking for it, or for a
// snapshot, is a usage error (nothing is decoded); an unknown codec is a usage error.
func TestCodecFlag(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Setenv("RTCCTL_SERVER", "")
	code, o, errOut := parseCall(t, "--embedded")
	if code != ExitOK || o.Config.VideoProfile.Codec != media.CodecVP8 || o.Config.Thresholds.MaxLatency != 500*time.Millisecond {
		t.Fatalf("default: exit %d (%s) %+v", code, errOut, o)
	}
	code, o, errOut = parseCall(t, "--embedded", "--codec", "H264")
	if code != ExitOK || o.Config.VideoProfile.Codec != media.CodecH264 || o.Config.Thresholds.MaxLatency != 0 {
		t.Fatalf("--codec H264: exit %d (%s) %+v", code, errOut, o)
	}
	code, jo, errOut := parseJoin(t, "--room", "1", "--server", "ws://127.0.0.1:1/ws", "--codec", "h264")
	if code != ExitOK || jo.Config.VideoProfile.Codec != media.CodecH264 {
		t.Fatalf("join --codec h264: exit %d (%s) %+v", code, errOut, jo)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--embedded", "--codec", "vp9"}, "--codec"},
		{[]string{"--embedded", "--codec", "h264", "--max-latency", "300ms"}, "--max-latency needs decoded video"},
		{[]string{"--embedded", "--codec", "h264", "--snapshot", "x.png"}, "--snapshot needs decoded video"},
	} {
		if code, _, errOut := parseCall(t, tc.args...); code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, ExitUsage, tc.want)
		}
	}
}

// TestCallEmbeddedH264: `rtcctl call --embedded --codec h264` passes both ways with H264
// negotiated, frames and keyframes counted, and the report saying that nothing was
// decoded (text and JSON).
func TestCallEmbeddedH264(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	args := []string{"call", "--embedded", "--codec", "h264", "--duration", "1500ms", "--resolution", "320x240", "--fps", "15"}
	code, out, errOut := execMainForTest(t, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, want := range []string{"video: h264 320x240", "\n      not decoded: no H264 decoder in this build; black/frozen/latency not checked\n",
		"note: video not decoded: no H264 decoder in this build; black/frozen/latency not checked",
		"verdict: ok: video and audio received (video frames and keyframes arriving, not decoded)"} {
		if strings.Count(out, want) != 2 {
			t.Errorf("text report has %q %d times, want once per direction:\n%s", want, strings.Count(out, want), out)
		}
	}
	if strings.Contains(out, "latency p50") || strings.Contains(out, "video latency") {
		t.Errorf("text report mentions a latency for undecoded video:\n%s", out)
	}

	code, out, errOut = execMainForTest(t, append(args, "--json")...)
	if code != ExitOK {
		t.Fatalf("--json: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var rep struct {
		Passed     bool `json:"passed"`
		Directions []struct {
			Video struct {
				Codec          string `json:"codec"`
				Frames         int    `json:"frames"`
				KeyFrames      int    `json:"keyframes"`
				FramesDecoded  int    `json:"frames_decoded"`
				NotDecoded     string `json:"not_decoded"`
				ProfileLevelID string `json:"profile_level_id"`
			} `json:"video"`
		} `json:"directions"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if !rep.Passed || len(rep.Directions) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, d := range rep.Directions {
		v := d.Video
		if v.Codec != "h264" || v.Frames < 10 || v.KeyFrames < 1 || v.FramesDecoded != 0 || v.NotDecoded != media.H264NotDecoded ||
			!strings.HasPrefix(v.ProfileLevelID, "42") {
			t.Errorf("direction video %+v", v)
		}
	}
}
