package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// runProbeCmd runs one probe command with a recording run function: no network.
func runProbeCmd(t *testing.T, cmd *cli.Command, args ...string) int {
	t.Helper()
	s := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{Name: "rtcctl", Commands: []*cli.Command{cmd}, Writer: s.Out, ErrWriter: s.Err,
		Flags:          []cli.Flag{&cli.BoolFlag{Name: "verbose"}, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}},
		ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"rtcctl", cmd.Name}, args...))
	return exitCode(err)
}

func parseProbeTURN(t *testing.T, args ...string) (*probeTURNOptions, int) {
	t.Helper()
	var got *probeTURNOptions
	s := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	code := runProbeCmd(t, newProbeTURNCommand(s, func(_ context.Context, _ *report.Streams, o *probeTURNOptions) error {
		got = o
		return nil
	}), args...)
	return got, code
}

func TestProbeTURNFlags(t *testing.T) {
	t.Setenv("RTCCTL_TURN_PASS", "")
	t.Setenv("RTCCTL_TURN_SECRET", "")
	o, code := parseProbeTURN(t, "--user", "u", "--pass", "p", "--packets", "10", "--no-call", "--json",
		"turn:h:3478?transport=udp", "turns:h")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	p := o.Probe
	if len(p.URLs) != 2 || p.Username != "u" || p.Password != "p" || p.Packets != 10 || !p.NoCall || !o.JSON || p.Timeout != probe.TURNReportTimeout {
		t.Errorf("options %+v", o)
	}

	// Flags after the URLs work too (urfave/cli stops at the first argument by itself).
	o, code = parseProbeTURN(t, "turn:h", "turn:h?transport=tcp", "-u", "alice", "-p", "pw", "--no-gather", "--timeout=3s", "--packets", "0")
	if code != ExitOK || o.Probe.Username != "alice" || o.Probe.Password != "pw" || !o.Probe.NoGather ||
		o.Probe.Timeout != 3*time.Second || o.Probe.Packets >= 0 || len(o.Probe.URLs) != 2 {
		t.Fatalf("flags after args: exit %d %+v", code, o)
	}

	o, code = parseProbeTURN(t, "--secret", "s3", "turn:h")
	if code != ExitOK || o.Probe.Secret != "s3" || o.Probe.RESTUser != "rtcctl" || o.Probe.Username != "" {
		t.Fatalf("secret: exit %d %+v", code, o)
	}

	bad := map[string][]string{
		"no url":             {"--user", "u", "--pass", "p"},
		"stun url":           {"--user", "u", "--pass", "p", "stun:h"},
		"bad transport":      {"--user", "u", "--pass", "p", "turn:h?transport=sctp"},
		"turns over udp":     {"--user", "u", "--pass", "p", "turns:h?transport=udp"},
		"creds in url":       {"--user", "u", "--pass", "p", "turn:u:p@h"},
		"no credentials":     {"turn:h"},
		"user without pass":  {"--user", "u", "turn:h"},
		"user and secret":    {"--user", "u", "--pass", "p", "--secret", "s", "turn:h"},
		"negative packets":   {"--user", "u", "--pass", "p", "--packets", "-1", "turn:h"},
		"unknown flag":       {"--user", "u", "--pass", "p", "--frob", "turn:h"},
		"bad port":           {"--user", "u", "--pass", "p", "turn:h:99999"},
		"unknown flag after": {"turn:h", "--user", "u", "--pass", "p", "--frob"},
	}
	for name, args := range bad {
		if _, code := parseProbeTURN(t, args...); code != ExitUsage {
			t.Errorf("%s: exit %d, want %d", name, code, ExitUsage)
		}
	}
	if _, code := parseProbeTURN(t, "--user", "u", "--pass", "p", "--ca-file", filepath.Join(t.TempDir(), "missing.pem"), "turns:h"); code != ExitCouldntRun {
		t.Errorf("missing --ca-file: exit %d, want %d", code, ExitCouldntRun)
	}
}

func TestProbeSTUNAndSignalFlags(t *testing.T) {
	var stun *probeSTUNOptions
	s := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	stunCmd := func() *cli.Command {
		return newProbeSTUNCommand(s, func(_ context.Context, _ *report.Streams, o *probeSTUNOptions) error { stun = o; return nil })
	}
	if code := runProbeCmd(t, stunCmd(), "stun:a:3478", "stun:b", "--count", "3", "--json"); code != ExitOK || stun.Probe.Count != 3 || len(stun.Probe.URLs) != 2 || !stun.JSON {
		t.Fatalf("probe-stun: exit %d %+v", code, stun)
	}
	for name, args := range map[string][]string{
		"none": {}, "stuns": {"stuns:a"}, "tcp": {"turn:a?transport=tcp"}, "count 0": {"stun:a", "--count", "0"}, "http": {"http://a"},
	} {
		if code := runProbeCmd(t, stunCmd(), args...); code != ExitUsage {
			t.Errorf("probe-stun %s: exit %d", name, code)
		}
	}

	var sig *probeSignalOptions
	sigCmd := func() *cli.Command {
		return newProbeSignalCommand(s, func(_ context.Context, _ *report.Streams, o *probeSignalOptions) error { sig = o; return nil })
	}
	if code := runProbeCmd(t, sigCmd(), "wss://h:8098/ws", "--idle", "70s", "--keepalive", "--insecure"); code != ExitOK ||
		sig.Probe.Idle != 70*time.Second || !sig.Probe.Keepalive || !sig.Probe.TLS.Insecure || sig.Probe.KeepaliveInterval != 5*time.Second {
		t.Fatalf("probe-signal: exit %d %+v", code, sig)
	}
	if code := runProbeCmd(t, sigCmd(), "--keepalive=false", "--idle=6s", "ws://h/ws"); code != ExitOK || sig.Probe.Keepalive || sig.Probe.Idle != 6*time.Second {
		t.Fatalf("probe-signal keepalive=false: exit %d %+v", code, sig)
	}
	for name, args := range map[string][]string{
		"none": {}, "two urls": {"ws://a/ws", "ws://b/ws"}, "https": {"https://h/ws"}, "keepalive without idle": {"ws://h/ws", "--keepalive"},
		"negative idle": {"ws://h/ws", "--idle", "-1s"}, "no host": {"ws:///ws"},
	} {
		if code := runProbeCmd(t, sigCmd(), args...); code != ExitUsage {
			t.Errorf("probe-signal %s: exit %d", name, code)
		}
	}
}

func TestProbeCommandsDescribeExamples(t *testing.T) {
	s := report.Buffers(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range []*cli.Command{probeTURNCommand(s), probeSTUNCommand(s), probeSignalCommand(s)} {
		if c.Hidden || !strings.Contains(c.Description, "Examples:") || !strings.Contains(c.Description, "rtcctl "+c.Name) {
			t.Errorf("%s: hidden or no examples in its description", c.Name)
		}
	}
}

// TestProbeTURNJSONAgainstDeadPort runs the real command end to end (loopback only): a
// closed port is exit 3 and the JSON has the version field and no password.
func TestProbeTURNJSONAgainstDeadPort(t *testing.T) {
	t.Setenv("RTCCTL_TURN_PASS", "")
	t.Setenv("RTCCTL_TURN_SECRET", "")
	port := deadTCPPort(t)
	code, out, _ := execMainForTest(t, "probe-turn", "turn:127.0.0.1:"+port+"?transport=tcp", "--user", "u", "--pass", "hunter2", "--json")
	if code != ExitCouldntRun {
		t.Fatalf("exit %d, want 3; out %s", code, out)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not only JSON: %v\n%s", err, out)
	}
	if doc["version"] != float64(report.SchemaVersion) || doc["command"] != "probe-turn" {
		t.Errorf("version/command: %v %v", doc["version"], doc["command"])
	}
	if strings.Contains(out, "hunter2") {
		t.Error("password in the JSON")
	}
}

func deadTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	_ = l.Close()
	return port
}

// TestProbeTURNExitCodes: 3 only when no server could be reached at all; a server that
// answers but is not a TURN server (STUN-only, a TCP port that never answers Allocate) is a
// failed check (1), like a wrong password.
func TestProbeTURNExitCodes(t *testing.T) {
	rep := func(outcomes ...string) *probe.TURNReport {
		r := &probe.TURNReport{}
		for _, o := range outcomes {
			r.Servers = append(r.Servers, &probe.TURNServerReport{Outcome: o, OK: o == "ok"})
		}
		return r
	}
	cases := []struct {
		outcomes []string
		want     int
	}{
		{[]string{"refused", "timeout"}, ExitCouldntRun},
		{[]string{"dns-failed"}, ExitCouldntRun},
		{[]string{"not-turn"}, ExitCheckFail},
		{[]string{"timeout", "not-turn"}, ExitCheckFail},
		{[]string{"error-response"}, ExitCheckFail},
		{[]string{"ok", "refused"}, ExitCheckFail},
	}
	for _, tc := range cases {
		if got := exitCode(probeTURNExit(rep(tc.outcomes...))); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.outcomes, got, tc.want)
		}
	}
	// Ctrl-C: the report is incomplete, not a failed check.
	r := rep("ok", "timeout")
	r.Interrupted = true
	if got := exitCode(probeTURNExit(r)); got != ExitCouldntRun {
		t.Errorf("interrupted: exit %d, want %d", got, ExitCouldntRun)
	}
}

// TestRenderProbeTURNChallengeWithoutReason: pion's server sends 401 without a reason
// phrase; the row must not read "401 , realm".
func TestRenderProbeTURNChallengeWithoutReason(t *testing.T) {
	var b bytes.Buffer
	renderProbeTURN(&b, false, &probe.TURNReport{Servers: []*probe.TURNServerReport{{
		URL: "turn:h", Challenge: &probe.Challenge{Code: 401, Realm: "r", Nonce: "n"},
	}}})
	if !strings.Contains(b.String(), `-> 401, realm "r"`) {
		t.Errorf("challenge row:\n%s", b.String())
	}
}

// TestRenderProbeSTUNWithoutBasis: when no server answered there is no basis; the rows
// must not end in a dangling "inconclusive: ".
func TestRenderProbeSTUNWithoutBasis(t *testing.T) {
	var b bytes.Buffer
	renderProbeSTUN(&b, false, &probe.STUNReport{LocalAddr: "0.0.0.0:4242", Mapping: probe.BehaviorInconclusive, Filtering: probe.BehaviorInconclusive, Verdict: probe.VerdictInconclusive})
	if strings.Contains(b.String(), "inconclusive: \n") || strings.Contains(b.String(), "0.0.0.0") || !strings.Contains(b.String(), "port 4242") {
		t.Errorf("dangling colon:\n%s", b.String())
	}
}

// TestProbeTURNTextReport runs probe-turn's text output against the embedded pion TURN
// server on loopback: the trickle-ICE table comes first (rows printed as candidates
// arrive, priority as typePref | localPref | 256-component, URL and relay protocol), then
// the TURN exchange (401 challenge with realm and nonce, the allocation, the relay with
// loss and RTT percentiles, the relay-only call) and the PASS rows.
func TestProbeTURNTextReport(t *testing.T) {
	srv, err := turnserver.Start(turnserver.Config{Users: map[string]string{"alice": "s3cret"}})
	if err != nil {
		t.Fatalf("turnserver: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	var out, errb bytes.Buffer
	url := srv.URLs()[0]
	runErr := runProbeTURN(context.Background(), report.Buffers(&out, &errb),
		&probeTURNOptions{Probe: probe.TURNOptions{URLs: []string{url}, Username: "alice", Password: "s3cret"}})
	text := out.String()
	if runErr != nil {
		t.Fatalf("probe-turn: %v\n%s", runErr, text)
	}
	head := strings.Index(text, "Priority")
	challenge := strings.Index(text, "challenge   Allocate (no credentials) -> 401")
	if head < 0 || challenge < 0 || head > challenge {
		t.Fatalf("want the candidate table before the exchange:\n%s", text)
	}
	var relayRow string
	for _, line := range strings.Split(text[:challenge], "\n") {
		if strings.Contains(line, " relay ") {
			relayRow = line
		}
	}
	if !strings.Contains(relayRow, "0 | ") || !strings.Contains(relayRow, "| 255") || !strings.HasSuffix(strings.TrimSpace(relayRow), url+" udp") {
		t.Errorf("relay candidate row %q: want priority '0 | localPref | 255' and the URL with relay protocol udp", relayRow)
	}
	// The table ends with the trickle-ICE page's "Done" row: the elapsed time of the
	// gathering, no earlier than any candidate row.
	var last, doneRow string
	var latest float64
	table, _, _ := strings.Cut(text[head:challenge], "\n\n") // a blank line ends the table
	for _, line := range strings.Split(table, "\n")[1:] {
		last = line
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Errorf("table row %q: want server, time and more", line)
			continue
		}
		at, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Errorf("table row %q: time %q: %v", line, f[1], err)
			continue
		}
		if f[2] == "Done" {
			doneRow = line
			if at <= 0 || at < latest {
				t.Errorf("Done row %q: elapsed %.3f s, want > 0 and no earlier than the last candidate (%.3f s)", line, at, latest)
			}
		} else if at > latest {
			latest = at
		}
	}
	if doneRow == "" || doneRow != last || !regexp.MustCompile(`^1\s+\d+\.\d{3}\s+Done$`).MatchString(doneRow) {
		t.Errorf("want the table to end with a row \"1  <seconds>  Done\", got last row %q (Done row %q):\n%s", last, doneRow, text)
	}
	for _, want := range []string{
		`realm "` + srv.Realm() + `", nonce "`,
		`allocate    as "alice" -> relayed 127.0.0.1:`,
		"relay       50/50 back via", "loss 0.0%", "RTT p50", "p95", "p99",
		"call        connected in", "done after",
		"PASS", "1/1 TURN server(s) passed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	t.Logf("probe-turn text report:\n%s", text)
	if strings.Contains(text, "s3cret") || strings.Contains(errb.String(), "s3cret") {
		t.Error("the password is printed")
	}
}
