package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/load"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// parseLoad runs only the flag parsing of `rtcctl load` and returns the options or the
// exit code of the error.
func parseLoad(t *testing.T, args ...string) (*loadOptions, int) {
	t.Helper()
	var got *loadOptions
	s := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	cmd := newLoadCommand(s, func(_ context.Context, _ *report.Streams, o *loadOptions) error {
		got = o
		return nil
	})
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{Name: "rtcctl", Commands: []*cli.Command{cmd}, Writer: s.Out, ErrWriter: s.Err,
		ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"rtcctl", "load"}, args...))
	return got, exitCode(err)
}

func TestLoadFlags(t *testing.T) {
	o, code := parseLoad(t, "--server", "wss://h:8098/ws", "--rooms", "100", "--ramp", "5", "--shard", "1/4",
		"--ice-server", "turn:h:3478", "--ice-user", "u", "--ice-pass", "p", "--relay-only",
		"--resolution", "320x240", "--fps", "15", "--bitrate", "1.5M",
		"--min-success", "95", "--max-p95-connect", "2s", "--max-loss", "2", "--min-fps", "20", "--junit", "x.xml")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	c := o.Config
	if c.Mode != load.ModeMedia || c.Rooms != 100 || c.Ramp != 5 || c.Shard != (load.Shard{Index: 1, Count: 4}) || c.Duration != 10*time.Second {
		t.Errorf("config %+v", c)
	}
	if c.Thresholds.MinSuccessPct != 95 || c.Thresholds.MaxP95ConnectMs != 2000 || *c.Thresholds.MaxLossPct != 2 || c.Thresholds.MinFPS != 20 {
		t.Errorf("thresholds %+v", c.Thresholds)
	}
	v := o.Call.VideoProfile
	if v.Width != 320 || v.Height != 240 || v.FPS != 15 || v.BitrateKbps != 1500 || !o.Call.RelayOnly {
		t.Errorf("call %+v", o.Call)
	}
	if len(o.Call.ICEServers) != 1 || o.Call.ICEServers[0].Username != "u" || o.JUnit != "x.xml" {
		t.Errorf("ice %+v junit %q", o.Call.ICEServers, o.JUnit)
	}

	if o.Call.Analysis.NoDecode {
		t.Errorf("decoding is off by default")
	}
	o, code = parseLoad(t, "--embedded", "--decode", "none")
	if code != ExitOK || !o.Call.Analysis.NoDecode {
		t.Fatalf("--decode none: exit %d, analysis %+v", code, o.Call.Analysis)
	}
	o, code = parseLoad(t, "--embedded", "--send", "audio", "--candidate-format", "web", "--max-p95-latency", "250ms")
	if code != ExitOK || o.Call.Send == nil || o.Call.Send.Video || !o.Call.Send.Audio ||
		o.Call.CandidateFormat != signal.FormatWeb || o.Config.Thresholds.MaxP95LatencyMs != 250 {
		t.Fatalf("--send audio --candidate-format web --max-p95-latency 250ms: exit %d, send %+v, format %v, thresholds %+v",
			code, o.Call.Send, o.Call.CandidateFormat, o.Config.Thresholds)
	}
	// Per-call checks default to rtcctl call's: half the sent rate (at most 15), 5%, 500ms.
	if th := o.Call.Thresholds; th.MinFPS != 15 || th.MaxLossPct != 5 || th.MaxLatency != 500*time.Millisecond {
		t.Errorf("per-call thresholds %+v, want min fps 15, max loss 5%%, max latency 500ms", th)
	}
	o, code = parseLoad(t, "--embedded", "--fps", "10", "--call-max-loss", "1", "--call-max-latency", "0")
	if th := o.Call.Thresholds; code != ExitOK || th.MinFPS != 5 || th.MaxLossPct != 1 || th.MaxLatency != 0 {
		t.Errorf("--fps 10 --call-max-loss 1 --call-max-latency 0: exit %d, thresholds %+v", code, th)
	}
	o, code = parseLoad(t, "--embedded", "--decode", "sample:10")
	if code != ExitOK || o.Call.Analysis.NoDecode || o.DecodeSample != 10 {
		t.Fatalf("--decode sample:10: exit %d, analysis %+v, sample %d", code, o.Call.Analysis, o.DecodeSample)
	}

	o, code = parseLoad(t, "--embedded", "--signal-only", "--ramp", "0")
	if code != ExitOK || o.Config.Mode != load.ModeSignal || o.Config.Duration != 0 || o.Config.Ramp >= 0 || !o.Embedded {
		t.Fatalf("signal-only: exit %d %+v", code, o)
	}

	bad := map[string][]string{
		"no server":                {"--rooms", "3"},
		"server and embedded":      {"--server", "ws://h/ws", "--embedded"},
		"http url":                 {"--server", "http://h/ws"},
		"bad shard":                {"--embedded", "--shard", "4/4"},
		"more shards than rooms":   {"--embedded", "--rooms", "2", "--shard", "0/3"},
		"zero rooms":               {"--embedded", "--rooms", "0"},
		"turn without creds":       {"--server", "ws://h/ws", "--ice-server", "turn:h:3478"},
		"relay-only without turn":  {"--server", "ws://h/ws", "--relay-only"},
		"ice with signal-only":     {"--embedded", "--signal-only", "--relay-only"},
		"ice-from-server, signal":  {"--server", "ws://h/ws", "--signal-only", "--ice-from-server"},
		"ice-from-server embedded": {"--embedded", "--ice-from-server"},
		"ice-config missing":       {"--server", "ws://h/ws", "--ice-config", "/nonexistent/ice.json"},
		"bad resolution":           {"--embedded", "--resolution", "big"},
		"bad bitrate":              {"--embedded", "--bitrate", "fast"},
		"bad decode":               {"--embedded", "--decode", "some"},
		"decode sample of 1":       {"--embedded", "--decode", "sample:1"},
		"latency without decoding": {"--embedded", "--decode", "none", "--max-p95-latency", "100ms"},
		"send nothing":             {"--embedded", "--send", "none"},
		"bad codec":                {"--embedded", "--codec", "av1"},
		"h264 latency":             {"--embedded", "--codec", "h264", "--max-p95-latency", "100ms"},
		"send bad":                 {"--embedded", "--send", "smell"},
		"bad candidate format":     {"--embedded", "--candidate-format", "ios"},
		"negative call fps":        {"--embedded", "--call-min-fps", "-1"},
		"call loss over 100":       {"--embedded", "--call-max-loss", "101"},
		"decode sample not number": {"--embedded", "--decode", "sample:x"},
		"bad loss":                 {"--embedded", "--max-loss", "lots"},
		"success over 100":         {"--embedded", "--min-success", "101"},
		"stray argument":           {"--embedded", "extra"},
		"unknown flag":             {"--embedded", "--no-such"},
	}
	for name, args := range bad {
		if _, code := parseLoad(t, args...); code != ExitUsage {
			t.Errorf("%s: exit %d, want %d", name, code, ExitUsage)
		}
	}
}

func TestLoadSignalOnlyEmbeddedCLI(t *testing.T) {
	code, out, errOut := execMainForTest(t, "load", "--embedded", "--signal-only", "--rooms", "40", "--ramp", "0", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var r load.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if r.Version != report.SchemaVersion || r.Mode != load.ModeSignal || r.Calls.Succeeded != 40 ||
		r.Signal.MessagesRelayed != r.Signal.MessagesSent || r.Signal.MessagesSent != 40*22 {
		t.Fatalf("report: version %d mode %s calls %+v messages %d/%d", r.Version, r.Mode, r.Calls, r.Signal.MessagesRelayed, r.Signal.MessagesSent)
	}
}

func TestLoadThresholdFailsExit1(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "load.xml")
	code, out, errOut := execMainForTest(t, "load", "--embedded", "--signal-only", "--rooms", "10", "--ramp", "0",
		"--max-p99-message", "1ns", "--junit", junit)
	if code != ExitCheckFail {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitCheckFail, out, errOut)
	}
	if !strings.Contains(out, "FAIL  p99_message") || !strings.Contains(errOut, "p99_message failed") {
		t.Fatalf("report does not name the failed check:\n%s\n%s", out, errOut)
	}
	// stderr (not a terminal) carries a progress line with the final counts.
	if !strings.Contains(errOut, "rooms 10/10 started") || !strings.Contains(errOut, "10 ok, 0 failed") {
		t.Errorf("no progress line on stderr:\n%s", errOut)
	}
	// The JUnit file has one case per check; the failed threshold is the one failure.
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("junit %v:\n%s", err, b)
	}
	su := doc.Suites[0]
	failed := map[string]bool{}
	for _, c := range su.Cases {
		failed[c.Name] = c.Failure != nil
	}
	if su.Tests != 2 || su.Failures != 1 || !failed["p99_message"] || failed["success"] {
		t.Errorf("junit: tests %d failures %d cases %v; want success passing and p99_message failing:\n%s", su.Tests, su.Failures, failed, b)
	}
}

func TestLoadUnreachableExit3(t *testing.T) {
	code, _, errOut := execMainForTest(t, "load", "--server", "ws://127.0.0.1:1/ws", "--signal-only", "--rooms", "2", "--ramp", "0")
	if code != ExitCouldntRun || !strings.Contains(errOut, "no websocket could be opened") {
		t.Fatalf("exit %d, want %d; stderr %s", code, ExitCouldntRun, errOut)
	}
}

// TestLoadMediaUnreachableExit3: in media mode too, a server that cannot be reached (port
// closed, or an HTTP server that does not upgrade to WebSocket) is exit 3 with the reason,
// not a failed success check (exit 1) over an empty table.
func TestLoadMediaUnreachableExit3(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	for name, url := range map[string]string{
		"closed port":     "ws://127.0.0.1:1/ws",
		"not a websocket": "ws" + strings.TrimPrefix(web.URL, "http") + "/ws",
	} {
		code, _, errOut := execMainForTest(t, "load", "--server", url, "--rooms", "2", "--ramp", "0", "--duration", "1s")
		if code != ExitCouldntRun || !strings.Contains(errOut, "no websocket could be opened") {
			t.Errorf("%s: exit %d, want %d; stderr %s", name, code, ExitCouldntRun, errOut)
		}
	}
}

// TestReportMergeCLI: two shards run through the CLI to JSON files, merged by `rtcctl
// report merge`: counts add up to one run's and the merged file is a load report again.
func TestReportMergeCLI(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 2 {
		f := filepath.Join(dir, []string{"a.json", "b.json"}[i])
		args := []string{"load", "--embedded", "--signal-only", "--rooms", "30", "--ramp", "0",
			"--shard", []string{"0/2", "1/2"}[i], "--room-prefix", "merge-"}
		if i == 0 {
			args = append(args, "--json") // JSON on stdout
		} else {
			args = append(args, "-o", f) // text on stdout, JSON to the file
		}
		code, out, errOut := execMainForTest(t, args...)
		if code != ExitOK {
			t.Fatalf("shard %d: exit %d\n%s", i, code, errOut)
		}
		if i == 0 {
			if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
		} else if !strings.Contains(out, "15 of 15 rooms succeeded") {
			t.Fatalf("shard 1 text report:\n%s", out)
		}
		files = append(files, f)
	}
	merged := filepath.Join(dir, "merged.json")
	code, out, errOut := execMainForTest(t, append([]string{"report", "merge", "-o", merged}, files...)...)
	if code != ExitOK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "30 of 30 rooms succeeded") || !strings.Contains(out, "30 of 30 rooms (shards 0/2,1/2)") {
		t.Fatalf("merged text report:\n%s", out)
	}
	// One shard's report alone is not the run: the missing shard fails the merge (exit 1).
	code, out, _ = execMainForTest(t, "report", "merge", files[1])
	if code != ExitCheckFail || !strings.Contains(out, "15 of 30 rooms (shards 1/2)") ||
		!strings.Contains(out, "FAIL  shards") || !strings.Contains(out, "no report for shard 0/2") {
		t.Errorf("merge of shard 1/2 alone: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	var r load.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Calls.Planned != 30 || r.Signal.RelayMs.Count() != 30*22 || len(r.Shards) != 2 {
		t.Fatalf("merged file: calls %+v relay samples %d shards %v", r.Calls, r.Signal.RelayMs.Count(), r.Shards)
	}

	// Thresholds given to merge replace the shards' own: an impossible p99 fails (exit 1).
	code, out, _ = execMainForTest(t, "report", "merge", "--max-p99-message", "1ns", files[0], files[1])
	if code != ExitCheckFail || !strings.Contains(out, "FAIL  p99_message") {
		t.Errorf("merge with --max-p99-message 1ns: exit %d\n%s", code, out)
	}

	// The same shard twice is refused (exit 2), as is a file that is not a report.
	if code, _, _ := execMainForTest(t, "report", "merge", files[0], files[0]); code != ExitUsage {
		t.Errorf("same shard twice: exit %d, want %d", code, ExitUsage)
	}
	junk := filepath.Join(dir, "junk.json")
	_ = os.WriteFile(junk, []byte("not json"), 0o600)
	if code, _, _ := execMainForTest(t, "report", "merge", junk); code != ExitUsage {
		t.Errorf("junk: exit %d, want %d", code, ExitUsage)
	}
	if code, _, _ := execMainForTest(t, "report", "merge", filepath.Join(dir, "missing.json")); code != ExitCouldntRun {
		t.Errorf("missing file: exit %d, want %d", code, ExitCouldntRun)
	}
	if code, _, _ := execMainForTest(t, "report", "merge"); code != ExitUsage {
		t.Errorf("no files: exit %d, want %d", code, ExitUsage)
	}
}

// TestLoadICEFromServerAndConfig: relay-only calls against an rtcctl serve whose TURN
// secret is generated in memory (the only credentials are the time-limited ones /config
// hands out): --ice-from-server fetches them, and --ice-config takes a saved /config
// document; both runs pass with every call on relay.
func TestLoadICEFromServerAndConfig(t *testing.T) {
	srv, err := serve.Start(context.Background(), serve.Config{Addr: "127.0.0.1:0", TURN: true,
		TURNConfig: turnserver.Config{ListenIP: "127.0.0.1"}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	if !srv.Info().TURNSecretGenerated {
		t.Fatalf("serve info %+v: want a generated REST secret", srv.Info())
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(srv.HTTPURL() + "config")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /config: %d %v", resp.StatusCode, err)
	}
	iceFile := filepath.Join(t.TempDir(), "ice.json")
	if err := os.WriteFile(iceFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"load", "--server", srv.SignalURL(), "--relay-only", "--rooms", "2", "--ramp", "0",
		"--duration", "1s", "--resolution", "320x240", "--fps", "15", "--decode", "none", "--json"}
	for name, extra := range map[string][]string{
		"ice-from-server": {"--ice-from-server"},
		"ice-config":      {"--ice-config", iceFile},
	} {
		code, out, errOut := execMainForTest(t, append(append([]string{}, common...), extra...)...)
		if code != ExitOK {
			t.Errorf("%s: exit %d\n%s\n%s", name, code, out, errOut)
			continue
		}
		var r load.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: stdout is not the JSON report: %v\n%s", name, err, out)
		}
		if r.Calls.Succeeded != 2 || r.Media == nil || r.Media.Relay != 2 || r.Media.Direct != 0 {
			t.Errorf("%s: calls %+v media %+v, want 2 calls on relay", name, r.Calls, r.Media)
		}
	}
	// Without TURN credentials the relay-only run is refused before it starts.
	if _, code := parseLoad(t, "--server", srv.SignalURL(), "--relay-only"); code != ExitUsage {
		t.Errorf("relay-only without ICE servers: exit %d, want %d", code, ExitUsage)
	}
	// A server without /config: exit 3 naming the flag.
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	code, _, errOut := execMainForTest(t, "load", "--server", "ws"+strings.TrimPrefix(web.URL, "http")+"/ws", "--ice-from-server", "--rooms", "1")
	if code != ExitCouldntRun || !strings.Contains(errOut, "--ice-from-server") {
		t.Errorf("no /config: exit %d, stderr %s; want exit 3 naming --ice-from-server", code, errOut)
	}
}

// TestReportHelpHasExamples: `rtcctl help report` names merge with an example, and merge's
// help lists every exit code it can give.
func TestReportHelpHasExamples(t *testing.T) {
	code, out, _ := execMainForTest(t, "help", "report")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "rtcctl report merge shard-0.json shard-1.json") {
		t.Fatalf("help report: exit %d\n%s", code, out)
	}
	code, out, _ = execMainForTest(t, "report", "merge", "--help")
	for _, want := range []string{"Examples:", "0 pass", "1 a check", "2 bad input", "3 a file cannot be read"} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("report merge --help: exit %d, lacks %q\n%s", code, want, out)
		}
	}
}

// TestLoadUnreachableHints: the hint for a server no websocket could be opened to names
// the likely fix: --ca-file for an unknown certificate, wss:// for a TLS port, ws:// for a
// plain one.
func TestLoadUnreachableHints(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	host := func(u string) string { return u[strings.Index(u, "://")+3:] }
	for name, tc := range map[string]struct{ url, want string }{
		"unknown certificate": {"wss://" + host(tlsSrv.URL) + "/ws", "--ca-file"},
		"ws to a TLS port":    {"ws://" + host(tlsSrv.URL) + "/ws", "use wss://"},
		"wss to a plain port": {"wss://" + host(plain.URL) + "/ws", "use ws://"},
	} {
		code, _, errOut := execMainForTest(t, "load", "--server", tc.url, "--signal-only", "--rooms", "1", "--ramp", "0")
		if code != ExitCouldntRun || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %s; want exit 3 and a hint with %q", name, code, errOut, tc.want)
		}
	}
}

// TestLoadPerCallThresholdFails: a room succeeds only when its call passes call's checks;
// a per-call frame rate above what is sent fails every room as below-threshold, exit 1.
func TestLoadPerCallThresholdFails(t *testing.T) {
	code, out, errOut := execMainForTest(t, "load", "--embedded", "--relay-only", "--rooms", "2", "--ramp", "10",
		"--duration", "1s", "--resolution", "320x240", "--fps", "15", "--decode", "none", "--call-min-fps", "100", "--json")
	if code != ExitCheckFail {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitCheckFail, out, errOut)
	}
	var rep load.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if rep.Calls.Succeeded != 0 || len(rep.Failures) != 1 || rep.Failures[0].Verdict != "below-threshold" ||
		rep.Failures[0].Count != 2 || !strings.Contains(rep.Failures[0].Example, "video fps") {
		t.Fatalf("calls %+v failures %+v: want both rooms below-threshold on video fps", rep.Calls, rep.Failures)
	}
	if rep.Media.Relay != 2 || rep.Media.FPS.Quantile(0.5) < 10 {
		t.Errorf("the calls themselves should have connected over relay with media: relay %d, p50 fps %.1f",
			rep.Media.Relay, rep.Media.FPS.Quantile(0.5))
	}
}

// TestRenderLoadNamesFDExhaustion: a failure group from running out of file descriptors
// gets a line with the fix.
func TestRenderLoadNamesFDExhaustion(t *testing.T) {
	r := &load.Report{Mode: load.ModeSignal, Calls: load.Counts{Planned: 2, Started: 2, Succeeded: 1, Failed: 1},
		Failures: []load.FailureGroup{{Verdict: "dial", Count: 1, Example: "load-x-1-b: dial tcp 127.0.0.1:1: socket: too many open files"}}}
	var b bytes.Buffer
	renderLoad(&b, false, r)
	if !strings.Contains(b.String(), "fix: the tester ran out of file descriptors") || !strings.Contains(b.String(), "ulimit -n") {
		t.Fatalf("no fix for fd exhaustion:\n%s", b.String())
	}
}
