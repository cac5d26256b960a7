package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// TestCallSnapshotAndRecord runs `rtcctl call --embedded --snapshot F.png --record DIR`: each
// side's snapshot is a PNG of the frame it decoded (its stamp still reads), and the recording
// holds the received video as IVF (VP8, starting with a keyframe) and the audio as Ogg Opus.
func TestCallSnapshotAndRecord(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "shot.png")
	rec := filepath.Join(dir, "rec")
	code, out, errOut := execMainForTest(t, "call", "--embedded", "--duration", "1500ms", "--resolution", "320x240",
		"--fps", "15", "--snapshot", snap, "--record", rec)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, side := range []string{"a", "b"} {
		p := filepath.Join(dir, "shot-"+side+".png")
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("snapshot of side %s: %v (stderr %s)", side, err, errOut)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%s is %v, want 320x240", p, b)
		}
		if _, ok := media.ReadStamp(toYCbCr(img)); !ok {
			t.Errorf("%s: the frame stamp does not read: not a decoded frame of the synthetic source", p)
		}
		if !strings.Contains(errOut, p) {
			t.Errorf("stderr does not name the snapshot %s:\n%s", p, errOut)
		}
	}
	ivfs, _ := filepath.Glob(filepath.Join(rec, "*.ivf"))
	oggs, _ := filepath.Glob(filepath.Join(rec, "*.ogg"))
	if len(ivfs) != 2 || len(oggs) != 2 {
		t.Fatalf("recordings: ivf %q ogg %q, want one of each per side", ivfs, oggs)
	}
	for _, p := range ivfs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r, h, err := ivfreader.NewWith(f)
		if err != nil || string(h.FourCC[:]) != "VP80" || h.Width != 320 || h.Height != 240 {
			f.Close()
			t.Fatalf("%s: header %+v err %v, want VP80 320x240", p, h, err)
		}
		frames := 0
		for {
			fr, _, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: frame %d: %v", p, frames, err)
			}
			if frames == 0 && (len(fr) == 0 || fr[0]&1 != 0) {
				t.Errorf("%s: the first frame is not a keyframe", p)
			}
			frames++
		}
		f.Close()
		lastPTS := lastIVFPTS(t, p)
		if frames < 10 {
			t.Fatalf("%s: %d frames in a 1.5 s call at 15 fps", p, frames)
		}
		// The PTS span on the header's timebase matches the frame count at 15 fps.
		span := float64(lastPTS) * float64(h.TimebaseNumerator) / float64(h.TimebaseDenominator)
		if want := float64(frames-1) / 15; span < want*0.8 || span > want*1.2 {
			t.Errorf("%s: %d frames span %.2f s of PTS (timebase %d/%d), want about %.2f s", p, frames, span,
				h.TimebaseNumerator, h.TimebaseDenominator, want)
		}
	}
	for _, p := range oggs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("OggS")) || !bytes.Contains(b, []byte("OpusHead")) || bytes.Count(b, []byte("OggS")) < 20 {
			t.Errorf("%s: %d bytes, %d Ogg pages: want Ogg Opus with audio pages", p, len(b), bytes.Count(b, []byte("OggS")))
		}
	}
}

// TestCallICEFromServer: `--ice-from-server` takes the TURN server and its time-limited
// credentials from a real `serve --turn`'s /config; a relay-only call through it passes.
func TestCallICEFromServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0", TURN: true,
		TURNConfig: turnserver.Config{ListenIP: "127.0.0.1"}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	code, out, errOut := execMainForTest(t, "call", "--server", srv.SignalURL(), "--ice-from-server", "--relay-only",
		"--require-relay", "--duration", "1s", "--resolution", "320x240", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var rep struct {
		ICEServers []string `json:"ice_servers"`
		Directions []struct {
			Selected struct {
				LocalType   string `json:"local_type"`
				RelayServer string `json:"relay_server"`
			} `json:"selected"`
		} `json:"directions"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	turnURL := ""
	for _, s := range srv.ICEServers() {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") && turnURL == "" {
				turnURL = u
			}
		}
	}
	if turnURL == "" || !strings.Contains(strings.Join(rep.ICEServers, " "), turnURL) {
		t.Fatalf("ice servers %q do not include serve's TURN %q", rep.ICEServers, turnURL)
	}
	for i, d := range rep.Directions {
		if d.Selected.LocalType != "relay" || d.Selected.RelayServer == "" {
			t.Errorf("direction %d: selected %+v, want a relay through serve's TURN", i, d.Selected)
		}
	}
}

// TestHelperRtcctlProcess is not a test: TestCallLiveStatusOnTTY runs the test binary
// through it as rtcctl, with System() streams, on a terminal.
func TestHelperRtcctlProcess(t *testing.T) {
	if os.Getenv("RTCCTL_HELPER_PROCESS") != "1" {
		t.Skip("helper process for TestCallLiveStatusOnTTY (runs only when it sets RTCCTL_HELPER_PROCESS=1)")
	}
	args := []string{"rtcctl"}
	for i, a := range os.Args {
		if a == "--" {
			args = append(args, os.Args[i+1:]...)
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	code := run(ctx, report.System(), args)
	cancel()
	os.Exit(code)
}

// sgr matches an ANSI colour (Select Graphic Rendition) sequence.
var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// TestCallLiveStatusOnTTY runs `rtcctl call` on a real pseudo-terminal (util-linux script):
// the live status line (\r, erase line, fps) is drawn and the summary is coloured; with
// NO_COLOR set the status line is still drawn but no colour sequence is written.
func TestCallLiveStatusOnTTY(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script (for a pseudo-terminal) is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmdline := shellQuote(self) + " -test.run=^TestHelperRtcctlProcess$ -- call --embedded --duration 1500ms --resolution 320x240 --fps 15"
	for _, tc := range []struct {
		name    string
		noColor bool
	}{{"colour", false}, {"NO_COLOR", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, scriptBin, "-q", "-e", "-c", cmdline, "/dev/null")
			env := []string{"RTCCTL_HELPER_PROCESS=1", "TERM=xterm"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "TERM=") {
					env = append(env, kv)
				}
			}
			if tc.noColor {
				env = append(env, "NO_COLOR=1")
			}
			cmd.Env = env
			cmd.Stdin = strings.NewReader("")
			outb, err := cmd.CombinedOutput()
			out := string(outb)
			if err != nil {
				t.Fatalf("rtcctl call on a terminal: %v\n%q", err, out)
			}
			if !strings.Contains(out, "\r\x1b[K") || !regexp.MustCompile(`up\s+[0-9.]+ fps`).MatchString(out) {
				t.Errorf("no live status line (\\r, erase, 'up ... fps') on the terminal:\n%q", out)
			}
			if !strings.Contains(out, "PASS") && !strings.Contains(out, "passed") {
				t.Errorf("no summary:\n%q", out)
			}
			colours := len(sgr.FindAllString(out, -1))
			if tc.noColor && colours != 0 {
				t.Errorf("NO_COLOR set, but %d colour sequences written:\n%q", colours, out)
			}
			if !tc.noColor && colours == 0 {
				t.Errorf("a terminal without NO_COLOR got no colour:\n%q", out)
			}
		})
	}
}

// lastIVFPTS reads the raw PTS of an IVF file's last frame (pion's ivfreader rescales it).
func lastIVFPTS(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pts uint64
	for off := 32; off+12 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		pts = binary.LittleEndian.Uint64(b[off+4:])
		off += 12 + size
	}
	return pts
}

// toYCbCr converts a decoded PNG back to the 4:2:0 layout the stamp reader expects.
func toYCbCr(img image.Image) *image.YCbCr {
	b := img.Bounds()
	y := image.NewYCbCr(image.Rect(0, 0, b.Dx(), b.Dy()), image.YCbCrSubsampleRatio420)
	for yy := 0; yy < b.Dy(); yy++ {
		for xx := 0; xx < b.Dx(); xx++ {
			r, g, bl, _ := img.At(b.Min.X+xx, b.Min.Y+yy).RGBA()
			lum, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			y.Y[y.YOffset(xx, yy)] = lum
			y.Cb[y.COffset(xx, yy)] = cb
			y.Cr[y.COffset(xx, yy)] = cr
		}
	}
	return y
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
