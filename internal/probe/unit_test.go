package probe

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

func TestParseServerURL(t *testing.T) {
	good := []struct {
		in   string
		want ServerURL
	}{
		{"turn:example.com", ServerURL{"turn", "example.com", 3478, "udp"}},
		{"turn:example.com:80?transport=tcp", ServerURL{"turn", "example.com", 80, "tcp"}},
		{"turns:example.com", ServerURL{"turns", "example.com", 5349, "tcp"}},
		{"turns:example.com:443?transport=tcp", ServerURL{"turns", "example.com", 443, "tcp"}},
		{"TURN:1.2.3.4:3479?transport=UDP", ServerURL{"turn", "1.2.3.4", 3479, "udp"}},
		{"turn:[::1]:3478?transport=tcp", ServerURL{"turn", "::1", 3478, "tcp"}},
		{"turn:[2001:db8::1]", ServerURL{"turn", "2001:db8::1", 3478, "udp"}},
		{"stun:stun.l.google.com:19302", ServerURL{"stun", "stun.l.google.com", 19302, "udp"}},
		{"stuns:h", ServerURL{"stuns", "h", 5349, "tcp"}},
	}
	for _, tc := range good {
		got, err := ParseServerURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if got, _ := ParseServerURL("turn:h:3478?transport=tcp"); got.String() != "turn:h:3478?transport=tcp" || got.Proto() != "tcp" {
		t.Errorf("String/Proto: %q %q", got.String(), got.Proto())
	}
	bad := map[string]string{
		"http://h":              "scheme",
		"turn://h:3478":         "//",
		"turn:":                 "no host",
		"turn:h:0":              "port",
		"turn:h:x":              "port",
		"turn:h?transport=sctp": "transport",
		"turns:h?transport=udp": "DTLS",
		"turn:h?foo=bar":        "only ?transport",
		"stun:h?transport=udp":  "no query",
		"turn:user:pass@h":      "credentials",
		"turn:2001:db8::1":      "brackets",
		"turn:[::1":             "unclosed",
		"h:3478":                "scheme",
	}
	for in, want := range bad {
		_, err := ParseServerURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want mention of %q", in, err, want)
		}
	}
}

func TestCodeMeaningsCoverTheTURNErrors(t *testing.T) {
	for _, code := range []int{400, 401, 403, 437, 438, 441, 442, 486, 508} {
		meaning, fix := codeMeaning("Allocate", code, false)
		if strings.HasPrefix(meaning, "error ") || fix == "" || fix == "look at the server's log" {
			t.Errorf("%d: generic text %q / %q", code, meaning, fix)
		}
	}
	if _, fix := codeMeaning("CreatePermission", 403, false); !strings.Contains(fix, "allow-loopback-peers") {
		t.Errorf("403 on CreatePermission: %q", fix)
	}
	if _, fix := codeMeaning("Allocate", 401, true); !strings.Contains(fix, "clocks") {
		t.Errorf("401 with a REST credential: %q", fix)
	}
}

func TestIsPublicIP(t *testing.T) {
	for ip, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860::8888": true, "127.0.0.1": false, "10.1.2.3": false, "192.168.1.1": false,
		"172.16.0.1": false, "100.64.1.1": false, "169.254.1.1": false, "::1": false, "fd00::1": false,
	} {
		if got := isPublicIP(net.ParseIP(ip)); got != want {
			t.Errorf("%s: %v", ip, got)
		}
	}
}

// TestRelayedAddressWarning: a public server handing out a private or loopback relayed
// address (coturn behind NAT without external-ip) is warned about; a public relayed
// address, or a server on a private network, is not.
func TestRelayedAddressWarning(t *testing.T) {
	for _, tc := range []struct {
		server, relayed string
		warn            bool
	}{
		{"203.0.113.7", "10.0.0.5", true},
		{"203.0.113.7", "127.0.0.1", true},
		{"2001:db8:1::7", "fd00::5", true},
		{"203.0.113.7", "203.0.113.7", false},
		{"10.0.0.5", "10.0.0.5", false},
		{"127.0.0.1", "127.0.0.1", false},
	} {
		w := relayedAddressWarning(net.ParseIP(tc.server), net.ParseIP(tc.relayed))
		if tc.warn != (w != "") || (tc.warn && !strings.Contains(w, "external-ip="+tc.server)) {
			t.Errorf("server %s relayed %s: warning %q, want warning %v naming external-ip", tc.server, tc.relayed, w, tc.warn)
		}
	}
}

func TestRTTStatsPercentiles(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	st := rttStats(s)
	if st.Count != 100 || st.Min.D() != time.Millisecond || st.P50.D() != 50*time.Millisecond ||
		st.P95.D() != 95*time.Millisecond || st.P99.D() != 99*time.Millisecond || st.Max.D() != 100*time.Millisecond {
		t.Errorf("%+v", st)
	}
	if (rttStats(nil) != RTTStats{}) {
		t.Error("empty input")
	}
}

func TestTURNWarnsUDPWorksButTCPDoesNot(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{NoTCP: true})
	rep := TURN(context.Background(), TURNOptions{URLs: []string{ct.UDPURL(), ct.TCPURL()},
		Username: "user", Password: "pass", NoCall: true, NoGather: true})
	if !rep.Servers[0].OK || rep.Servers[1].OK {
		t.Fatalf("want udp ok, tcp failing: %s", dump(rep))
	}
	if w := strings.Join(rep.Warnings, "\n"); !strings.Contains(w, "UDP works but TCP does not") {
		t.Errorf("warnings %q", w)
	}
}

// TestProbesLeaveNoGoroutines runs each probe once against real servers and checks that
// every goroutine they started (readers, pion agents, websocket readers) has ended.
func TestProbesLeaveNoGoroutines(t *testing.T) {
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{})
	s := startServe(t, false)
	time.Sleep(50 * time.Millisecond) // let the servers' own goroutines settle
	before := runtime.NumGoroutine()
	rep := TURN(context.Background(), TURNOptions{URLs: ct.URLs(), Username: "user", Password: "pass"})
	if !rep.OK {
		t.Fatalf("%s", dump(rep))
	}
	_ = STUN(context.Background(), STUNOptions{URLs: []string{ct.STUNURL()}, Count: 2})
	if sr := Signal(context.Background(), SignalOptions{URL: s.SignalURL()}); !sr.OK {
		t.Fatalf("%s", dump(sr))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		// The signaling server may still be closing the probe's sockets; allow its few.
		if n <= before+2 {
			t.Logf("goroutines: %d before, %d after", before, n)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
