package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

func TestDoctorFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no server", []string{"doctor"}, ExitUsage},
		{"not a websocket URL", []string{"doctor", "--server", "http://x/ws"}, ExitUsage},
		{"bad ice url", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--ice-server", "turn://x"}, ExitUsage},
		{"turn without credentials", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--ice-server", "turn:127.0.0.1:3478"}, ExitUsage},
		{"pass and secret", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--ice-server", "turn:127.0.0.1:3478", "--ice-user", "u", "--ice-pass", "p", "--ice-secret", "s"}, ExitUsage},
		{"relay-only without turn", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--relay-only"}, ExitUsage},
		{"negative idle", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--idle", "-1s"}, ExitUsage},
		{"zero keepalive interval", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--idle", "5s", "--keepalive-interval", "0s"}, ExitUsage},
		{"page not http", []string{"doctor", "--server", "ws://127.0.0.1:1/ws", "--page", "ftp://x/"}, ExitUsage},
		{"credentials in the url", []string{"doctor", "--server", "ws://u:p@127.0.0.1:1/ws"}, ExitUsage},
		{"missing ca file", []string{"doctor", "--server", "wss://127.0.0.1:1/ws", "--ca-file", "/nonexistent/ca.pem"}, ExitCouldntRun},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := execMainForTest(t, tc.args...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.want, errOut)
			}
		})
	}
}

// doctorItems decodes doctor's JSON into id -> status, and the first failure.
func doctorItems(t *testing.T, out string) (map[string]string, string) {
	t.Helper()
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	if rep.Version != 1 {
		t.Errorf("version %d", rep.Version)
	}
	m := map[string]string{}
	for _, it := range rep.Items {
		m[it.ID] = it.Status
	}
	return m, rep.FirstFailure
}

// TestDoctorAgainstServe: rtcctl serve with embedded TURN (static user) in process; doctor
// is all green, names a wrong TURN password (pion answers 400, coturn 401: both are
// turn-auth), and a closed signaling port comes first, with the call skipped.
func TestDoctorAgainstServe(t *testing.T) {
	srv, err := serve.Start(context.Background(), serve.Config{Addr: "127.0.0.1:0", TURN: true,
		TURNConfig: turnserver.Config{Users: map[string]string{"u": "p"}}})
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	turnURL := srv.TURNURLs()[0]

	code, out, errOut := execMainForTest(t, "doctor", "--server", srv.SignalURL(), "--ice-server", turnURL,
		"--ice-user", "u", "--ice-pass", "p", "--duration", "1s", "--json")
	items, first := doctorItems(t, out)
	if code != ExitOK || first != "" {
		t.Fatalf("healthy: exit %d, first failure %q\n%s\n%s", code, first, out, errOut)
	}
	for _, id := range []string{"signal-connect", "signal-upgrade", "signal-join", "turn:" + turnURL, "stun", "call"} {
		if items[id] != "pass" {
			t.Errorf("healthy: item %s is %q, want pass", id, items[id])
		}
	}
	// The relay-only loopback call of probe-turn ran (no signaling needed), beside the
	// full call through the server.
	var full doctorReport
	if err := json.Unmarshal([]byte(out), &full); err != nil || full.TURN == nil || len(full.TURN.Servers) != 1 ||
		full.TURN.Servers[0].Call == nil || !full.TURN.Servers[0].Call.Connected || full.TURN.Servers[0].Call.RTPReceived == 0 {
		t.Errorf("healthy: no relay-only loopback call in the TURN report (%v):\n%s", err, out)
	}

	code, out, _ = execMainForTest(t, "doctor", "--server", srv.SignalURL(), "--ice-server", turnURL,
		"--ice-user", "u", "--ice-pass", "Xq7-not-the-pass", "--json")
	items, first = doctorItems(t, out)
	if code != ExitCheckFail || first != "turn-auth" || items["call"] != "skip" {
		t.Errorf("wrong password: exit %d, first %q, call %q; want 1, turn-auth, skip\n%s", code, first, items["call"], out)
	}
	if strings.Contains(out, "Xq7-not-the-pass") {
		t.Errorf("the password appears in the report:\n%s", out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ws://" + l.Addr().String() + "/ws"
	_ = l.Close()
	code, out, _ = execMainForTest(t, "doctor", "--server", closed, "--ice-server", turnURL,
		"--ice-user", "u", "--ice-pass", "p", "--json")
	items, first = doctorItems(t, out)
	if code != ExitCheckFail || first != "signal-unreachable" || items["call"] != "skip" || items["turn:"+turnURL] != "pass" {
		t.Errorf("closed port: exit %d, first %q, items %v; want 1, signal-unreachable, TURN still checked, call skipped\n%s", code, first, items, out)
	}

	// Text output: the checklist and the fix order.
	_, text, _ := execMainForTest(t, "doctor", "--server", closed, "--no-call")
	for _, want := range []string{"FAIL  signaling: TCP connect", "cause:", "fix:", "Fix in this order:", "[signal-unreachable]"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}
