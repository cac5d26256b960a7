package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// parsePeerCmd runs `rtcctl NAME ARGS` with a command whose run func only records options.
func parsePeerCmd(t *testing.T, cmd *cli.Command, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name: "rtcctl", Writer: &out, ErrWriter: &errb,
		Commands:       []*cli.Command{cmd},
		Flags:          []cli.Flag{&cli.BoolFlag{Name: "verbose"}},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.RunContext(context.Background(), append([]string{"rtcctl", cmd.Name}, args...))
	if err != nil {
		errb.WriteString(err.Error())
	}
	return exitCode(err), errb.String()
}

func parseJoin(t *testing.T, args ...string) (int, *joinOptions, string) {
	var got *joinOptions
	st := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	code, errOut := parsePeerCmd(t, newJoinCommand(st, func(_ context.Context, _ *report.Streams, o *joinOptions) error {
		got = o
		return nil
	}), args...)
	return code, got, errOut
}

func parseCall(t *testing.T, args ...string) (int, *callOptions, string) {
	var got *callOptions
	st := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	code, errOut := parsePeerCmd(t, newCallCommand(st, func(_ context.Context, _ *report.Streams, o *callOptions) error {
		got = o
		return nil
	}), args...)
	return code, got, errOut
}

func TestJoinFlags(t *testing.T) {
	t.Setenv("RTCCTL_ICE_PASS", "s3cret")
	code, o, errOut := parseJoin(t, "--room", "100", "--room-number", "--uid", "me",
		"--ice-server", "stun:127.0.0.1:3478", "--ice-server", "turn:127.0.0.1:3478?transport=tcp",
		"--ice-user", "demo", "--relay-only", "--candidate-format", "web", "--send", "video",
		"--resolution", "320x240", "--fps", "15", "--bitrate", "2M", "--once", "--keepalive", "0")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c := o.Config
	if c.Server != defaultServer || c.Room.Key() != "100" || !c.Room.IsNumber() || c.UID.String() != "me" {
		t.Errorf("server/room/uid: %q %q %q", c.Server, c.Room.Key(), c.UID)
	}
	if len(c.ICEServers) != 2 || c.ICEServers[1].Username != "demo" || c.ICEServers[1].Credential != "s3cret" {
		t.Errorf("ICE servers %+v", c.ICEServers)
	}
	if !c.RelayOnly || c.CandidateFormat != signal.FormatWeb || c.Send.Audio || !c.Send.Video || !c.Once {
		t.Errorf("flags: %+v", c)
	}
	if v := c.VideoProfile; v.Width != 320 || v.Height != 240 || v.FPS != 15 || v.BitrateKbps != 2000 {
		t.Errorf("video profile %+v", v)
	}
	if c.Keepalive >= 0 {
		t.Errorf("--keepalive 0 should turn it off, got %v", c.Keepalive)
	}
}

func TestJoinStringRoomByDefault(t *testing.T) {
	t.Setenv("RTCCTL_SERVER", "wss://example.test:8098/ws")
	code, o, errOut := parseJoin(t, "--room", "100")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if o.Config.Room.Key() != `"100"` {
		t.Errorf("room %s, want the string \"100\"", o.Config.Room.Key())
	}
	if o.Config.Server != "wss://example.test:8098/ws" {
		t.Errorf("server %q: RTCCTL_SERVER not used", o.Config.Server)
	}
}

func TestICEConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ice.json")
	doc := `{"iceServers":[{"urls":"stun:127.0.0.1:3478"},{"urls":["turn:127.0.0.1:3478?transport=udp"],"username":"u","credential":"p"}],"iceTransportPolicy":"relay"}`
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, o, errOut := parseJoin(t, "--room", "1", "--ice-config", f)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(o.Config.ICEServers) != 2 || !o.Config.RelayOnly || o.Config.ICEServers[1].Credential != "p" {
		t.Fatalf("ice config: %+v relay %v", o.Config.ICEServers, o.Config.RelayOnly)
	}
}

func TestPeerUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		call bool
		args []string
		want string
	}{
		{"join without room", false, nil, "--room is required"},
		{"room-number not a number", false, []string{"--room", "abc", "--room-number"}, "integer"},
		{"bad server scheme", false, []string{"--room", "1", "--server", "http://x"}, "--server"},
		{"bad send", false, []string{"--room", "1", "--send", "smell"}, "--send"},
		{"bad resolution", false, []string{"--room", "1", "--resolution", "big"}, "--resolution"},
		{"bad bitrate", false, []string{"--room", "1", "--bitrate", "fast"}, "--bitrate"},
		{"bad candidate format", false, []string{"--room", "1", "--candidate-format", "ios"}, "--candidate-format"},
		{"turn without credentials", false, []string{"--room", "1", "--ice-server", "turn:127.0.0.1:3478"}, "--ice-user"},
		{"bad ice url", false, []string{"--room", "1", "--ice-server", "http://x"}, "scheme"},
		{"user without server", false, []string{"--room", "1", "--ice-user", "u"}, "--ice-server"},
		{"missing ice config", false, []string{"--room", "1", "--ice-config", "/nonexistent.json"}, "--ice-config"},
		{"extra argument", false, []string{"--room", "1", "extra"}, "no arguments"},
		{"call without server", true, nil, "--embedded"},
		{"call server and embedded", true, []string{"--server", "ws://127.0.0.1:1", "--embedded"}, "exclude"},
		{"call duration over timeout", true, []string{"--embedded", "--duration", "40s", "--timeout", "30s"}, "shorter"},
		{"call negative fps", true, []string{"--embedded", "--min-fps", "-1"}, "negative"},
		{"unknown flag", true, []string{"--embedded", "--frobnicate"}, "frobnicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RTCCTL_SERVER", "")
			var code int
			var errOut string
			if tc.call {
				code, _, errOut = parseCall(t, tc.args...)
			} else {
				code, _, errOut = parseJoin(t, tc.args...)
			}
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, ExitUsage, tc.want)
			}
		})
	}
}

func TestCallFlagDefaults(t *testing.T) {
	code, o, errOut := parseCall(t, "--embedded")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	th := o.Config.Thresholds
	if th.MinFPS != 15 || th.MaxLossPct != 5 || th.MaxLatency != 500*time.Millisecond || th.RequireRelay {
		t.Errorf("thresholds %+v", th)
	}
	if !o.Config.Send.Audio || !o.Config.Send.Video || o.Config.Duration != 5*time.Second {
		t.Errorf("send %+v duration %v", o.Config.Send, o.Config.Duration)
	}
}

// TestCallMinFPSFollowsFPS: unset, --min-fps is half a lower --fps (`--fps 15` failed its own
// 15 fps default, measuring 14.9); set, it is kept; a higher --fps keeps 15.
func TestCallMinFPSFollowsFPS(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want float64
	}{
		{[]string{"--fps", "15"}, 7.5},
		{[]string{"--fps", "60"}, 15},
		{[]string{"--fps", "15", "--min-fps", "14"}, 14},
		{[]string{"--fps", "15", "--min-fps", "0"}, 0},
	} {
		code, o, errOut := parseCall(t, append([]string{"--embedded"}, tc.args...)...)
		if code != ExitOK {
			t.Fatalf("%q: exit %d: %s", tc.args, code, errOut)
		}
		if got := o.Config.Thresholds.MinFPS; got != tc.want {
			t.Errorf("%q: min fps %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestCallHelpDocumentsExitCodes(t *testing.T) {
	code, out, _ := execMainForTest(t, "help", "call")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"0  every check passed", "1  the call ran and a check failed", "3  could not run", "--embedded --relay-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("help call lacks %q", want)
		}
	}
}

// TestCallEmbeddedJSON runs the real command path: an embedded server, two peers, JSON.
func TestCallEmbeddedJSON(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "call.xml")
	code, out, errOut := execMainForTest(t, "call", "--embedded", "--relay-only", "--require-relay",
		"--duration", "1s", "--json", "--junit", junit, "--resolution", "320x240")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var rep struct {
		Version    int  `json:"version"`
		Passed     bool `json:"passed"`
		Directions []struct {
			Selected struct {
				LocalType string `json:"local_type"`
			} `json:"selected"`
		} `json:"directions"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if rep.Version != report.SchemaVersion || !rep.Passed || len(rep.Directions) != 2 || rep.Directions[0].Selected.LocalType != "relay" {
		t.Fatalf("report: %+v", rep)
	}
	if strings.Contains(out, "credential") || strings.Contains(errOut, "credential") {
		t.Fatalf("output mentions credentials")
	}
	suites := readJUnit(t, junit)
	if suites.Suites[0].Failures != 0 || suites.Suites[0].Tests < 10 {
		t.Fatalf("junit: %+v", suites.Suites[0])
	}
}

// TestCallFailingCheckExits1 makes the fps threshold impossible: the call runs, the check
// fails, the exit code is 1 and JUnit records the failure.
func TestCallFailingCheckExits1(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "call.xml")
	code, out, errOut := execMainForTest(t, "call", "--embedded", "--duration", "1s", "--min-fps", "500",
		"--junit", junit, "--resolution", "320x240", "--send", "video")
	if code != ExitCheckFail {
		t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(out, "FAIL") || !strings.Contains(errOut, "video fps") {
		t.Fatalf("report does not show the failed check:\n%s\n%s", out, errOut)
	}
	s := readJUnit(t, junit).Suites[0]
	if s.Failures != 2 {
		t.Fatalf("junit failures %d, want 2 (fps both ways)", s.Failures)
	}
}

func TestCallUnreachableServerExits3(t *testing.T) {
	code, _, errOut := execMainForTest(t, "call", "--server", "ws://127.0.0.1:1/ws", "--timeout", "5s", "--duration", "1s")
	if code != ExitCouldntRun || !strings.Contains(errOut, "probe-signal") {
		t.Fatalf("exit %d stderr %q, want 3 with a hint", code, errOut)
	}
}

type junitDoc struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d junitDoc
	if err := xml.Unmarshal(b, &d); err != nil || len(d.Suites) != 1 {
		t.Fatalf("junit %s: %v\n%s", path, err, b)
	}
	return d
}

// TestJoinMeetsPeer runs `rtcctl join` (real command path) against the legacy stand-in
// while a library peer joins the same room; the JSON report says the call worked.
func TestJoinMeetsPeer(t *testing.T) {
	srv := signaltest.StartLegacy(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = peer.Run(context.Background(), peer.Config{Server: srv.URL(), Room: signal.StringID("cli-100"),
			Network: peer.NetworkLoopback, Send: peer.Media{Video: true}, Duration: 3 * time.Second,
			VideoProfile: media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}})
	}()
	code, out, errOut := execMainForTest(t, "join", "--server", srv.URL(), "--room", "cli-100", "--once",
		"--send", "video", "--expect", "video", "--resolution", "320x240", "--duration", "6s", "--json",
		"--min-fps", "5", "--max-loss", "10")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var res struct {
		Version int `json:"version"`
		Calls   []struct {
			Role string `json:"role"`
		} `json:"calls"`
		Verdict struct {
			Code string `json:"code"`
		} `json:"verdict"`
		Checks []struct {
			Passed bool `json:"passed"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res.Checks) != 4 { // connected, media, fps, video loss
		t.Errorf("checks %+v, want 4", res.Checks)
	}
	if res.Version != report.SchemaVersion || len(res.Calls) != 1 || res.Calls[0].Role != "caller" || res.Verdict.Code != "ok" {
		t.Fatalf("report %+v", res)
	}
}

// TestJoinAloneExits1 : no peer within --peer-timeout is a failed verdict (exit 1) with the
// silent-server hints in the text report.
func TestJoinAloneExits1(t *testing.T) {
	srv := signaltest.StartLegacy(t)
	code, out, errOut := execMainForTest(t, "join", "--server", srv.URL(), "--room", "alone", "--peer-timeout", "1s")
	if code != ExitCheckFail {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"no-peer", "room id type", "fix:"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestJoinDurationAloneNamesDuration: `join --duration 1s` with nobody else reports that no
// peer joined within the --duration, not a 30 s peer timeout that never passed.
func TestJoinDurationAloneNamesDuration(t *testing.T) {
	srv := signaltest.StartLegacy(t)
	code, out, errOut := execMainForTest(t, "join", "--server", srv.URL(), "--room", "alone-dur", "--duration", "1s")
	if code != ExitCheckFail {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "no peer joined within the --duration of 1s") || strings.Contains(out, "within 30s") {
		t.Fatalf("report does not name the --duration (or blames the peer timeout):\n%s", out)
	}
}

// TestJoinDurationEndIsNormal: a call cut by --duration reads "ended: duration reached".
func TestJoinDurationEndIsNormal(t *testing.T) {
	srv := signaltest.StartLegacy(t)
	go func() {
		_, _ = peer.Run(context.Background(), peer.Config{Server: srv.URL(), Room: signal.StringID("dur-end"),
			Network: peer.NetworkLoopback, Send: peer.Media{Video: true}, Duration: 5 * time.Second, Once: true,
			VideoProfile: media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}})
	}()
	time.Sleep(200 * time.Millisecond)
	code, out, errOut := execMainForTest(t, "join", "--server", srv.URL(), "--room", "dur-end",
		"--send", "video", "--expect", "video", "--resolution", "320x240", "--duration", "2500ms")
	if code != ExitOK || !strings.Contains(out, "verdict: ok") || !strings.Contains(out, "ended: duration reached") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestJoinCtrlC: cancelling the context (Ctrl-C in main) mid-call leaves cleanly and still
// prints the report.
func TestJoinCtrlC(t *testing.T) {
	srv := signaltest.StartLegacy(t)
	go func() {
		_, _ = peer.Run(context.Background(), peer.Config{Server: srv.URL(), Room: signal.StringID("ctrl-c"),
			Network: peer.NetworkLoopback, Send: peer.Media{Video: true}, Duration: 4 * time.Second, Once: true,
			VideoProfile: media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(ctx, report.Buffers(&out, &errb), []string{"rtcctl", "join", "--server", srv.URL(), "--room", "ctrl-c",
		"--send", "video", "--expect", "video", "--resolution", "320x240"})
	if el := time.Since(start); el > 6*time.Second {
		t.Fatalf("join took %v after the cancel", el)
	}
	if code != ExitOK || !strings.Contains(out.String(), "verdict: ok") || !strings.Contains(out.String(), "ended: interrupted") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}

func TestStatusLine(t *testing.T) {
	var errb bytes.Buffer
	s := &report.Streams{Out: &bytes.Buffer{}, Err: &errb, ErrTTY: true}
	l := newStatusLine(s)
	l.update("a", peer.Status{Stage: "up", FPS: 29.5, BitrateKbps: 900, Frames: 10})
	l.update("a", peer.Status{Stage: "up", FPS: 30, BitrateKbps: 950, Frames: 12}) // within 250 ms: skipped
	l.done()
	out := errb.String()
	if strings.Count(out, "fps") != 1 || !strings.Contains(out, "\r") || !strings.Contains(out, "29.5 fps") {
		t.Fatalf("live line %q: want one redraw with \\r", out)
	}
	// Not a terminal: one progress line per stage change, no \r.
	errb.Reset()
	s.ErrTTY = false
	l = newStatusLine(s)
	for _, st := range []string{"dialing", "dialing", "ice", "up", "up"} {
		l.update("", peer.Status{Stage: st})
	}
	if got := errb.String(); got != "dialing\nice\nup\n" {
		t.Fatalf("progress %q", got)
	}
	// Quiet: nothing.
	errb.Reset()
	s.Quiet, s.ErrTTY = true, true
	l = newStatusLine(s)
	l.update("", peer.Status{Stage: "up"})
	if errb.Len() != 0 {
		t.Fatalf("quiet printed %q", errb.String())
	}
}
