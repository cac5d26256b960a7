package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

// labCoturn starts Debian coturn in the lab's public namespace, listening on both public
// service addresses (so STUN answers from two IPs, and RFC 5780 CHANGE-REQUEST works)
// with a static long-term user.
func labCoturn(t *testing.T, lab *testenv.NATLab) *testenv.Process {
	t.Helper()
	bin, err := lookPath("turnserver")
	if err != nil {
		t.Skipf("coturn not installed (Debian package coturn): run scripts/deps.sh: %v", err)
	}
	dir := t.TempDir()
	p := lab.Public.Start(t, "coturn", bin,
		"-n", "--log-file=stdout", "--simple-log", "--no-cli", "--no-tls", "--no-dtls",
		"-a", "-u", labTURNUser+":"+labTURNPass, "-r", "natlab",
		"--listening-ip="+lab.PublicIPs[0], "--listening-ip="+lab.PublicIPs[1],
		"--relay-ip="+lab.PublicIPs[0], "--listening-port=3478", "--alt-listening-port=3479",
		"--min-port=49160", "--max-port=49300",
		"--pidfile="+dir+"/turnserver.pid", "--db="+dir+"/turndb")
	// Wait until it answers STUN from inside the public namespace.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := lab.Public.Run("timeout", "2", "turnutils_stunclient", lab.PublicIPs[1])
		if err == nil && strings.Contains(out, "UDP reflexive addr") {
			return p
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("coturn in the public namespace did not answer STUN: %v: %s\ncoturn:\n%s", err, out, p.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const (
	labTURNUser = "lab"
	labTURNPass = "lab-pass-1"
)

// TestNATLabTopology checks the lab itself with coturn's own tools (a second opinion,
// independent of rtcctl): each LAN reaches the public STUN server only through its
// router's NAT, and the mapping behaviour is the one configured.
func TestNATLabTopology(t *testing.T) {
	testenv.RequireRoot(t)
	lab := testenv.StartNATLab(t, [2]testenv.NATMode{testenv.NATEndpointIndependent, testenv.NATSymmetric})
	labCoturn(t, lab)
	for i, want := range []string{"NAT with Endpoint Independent Mapping", "NAT with Address and Port Dependent Mapping"} {
		out, err := lab.LANs[i].Run("turnutils_natdiscovery", "-m", lab.PublicIPs[0])
		t.Logf("LAN %d natdiscovery -m:\n%s", i+1, out)
		if err != nil {
			t.Fatalf("natdiscovery: %v", err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("LAN %d: coturn's natdiscovery does not report %q", i+1, want)
		}
	}
}

// labServe starts `rtcctl serve` (signaling only; TURN is coturn) on the first public
// address and waits until it accepts connections from LAN 1 (through its NAT).
func labServe(t *testing.T, lab *testenv.NATLab) string {
	t.Helper()
	bin := rtcctlBinary(t)
	p := lab.Public.Start(t, "rtcctl serve", bin, "serve", "--listen", lab.PublicIPs[0]+":8099")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := lab.LANs[0].Run("timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/"+lab.PublicIPs[0]+"/8099")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("rtcctl serve in the public namespace not reachable from LAN 1: %v %s\nserve:\n%s", err, out, p.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "ws://" + lab.PublicIPs[0] + ":8099/ws"
}

// labJoin runs `rtcctl join --once --json` in LAN i and returns a func that waits for its
// report.
func labJoin(t *testing.T, lab *testenv.NATLab, i int, server, room string, d time.Duration, ice ...string) func() *peer.Result {
	t.Helper()
	args := []string{"join", "--server", server, "--room", room, "--once", "--json",
		"--duration", d.String(), "--peer-timeout", "15s",
		"--resolution", "320x240", "--fps", "15", "--bitrate", "300k"}
	args = append(args, ice...)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	cmd := lab.LANs[i].Command(ctx, rtcctlBinary(t), args...)
	// Own process group, killed as a whole on timeout; WaitDelay bounds the wait for the
	// output pipes even if something in the group survives.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 3 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start rtcctl join in LAN %d: %v", i+1, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var res *peer.Result
	var waited bool
	return func() *peer.Result {
		t.Helper()
		if waited {
			return res
		}
		waited = true
		<-done
		res = &peer.Result{}
		if jerr := json.Unmarshal(out.Bytes(), res); jerr != nil {
			t.Fatalf("LAN %d: rtcctl join (%v) printed no JSON report: %v\nstdout:\n%s\nstderr:\n%s", i+1, waitErr, jerr, out.String(), errb.String())
		}
		return res
	}
}

// labCall runs one rtcctl join in each LAN, in the same fresh room, and returns both
// reports.
func labCall(t *testing.T, lab *testenv.NATLab, server string, d time.Duration, ice ...string) [2]*peer.Result {
	t.Helper()
	room := randomRoom()
	w1 := labJoin(t, lab, 0, server, room, d, ice...)
	time.Sleep(300 * time.Millisecond) // LAN 1 joins first: it becomes the caller
	w2 := labJoin(t, lab, 1, server, room, d, ice...)
	return [2]*peer.Result{w1(), w2()}
}

func dumpResult(r *peer.Result) string {
	js, _ := json.MarshalIndent(r, "", "  ")
	return string(js)
}

// TestNATLabSymmetric: both LANs behind address-and-port-dependent (symmetric) NATs. With
// STUN only, ICE fails and the verdict says a TURN relay is needed; with coturn as TURN,
// the call connects over a relay pair, with the default ICE policy and relay-only alike;
// rtcctl probe-stun inside a LAN classifies the NAT.
func TestNATLabSymmetric(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	lab := testenv.StartNATLab(t, [2]testenv.NATMode{testenv.NATSymmetric, testenv.NATSymmetric})
	labCoturn(t, lab)
	server := labServe(t, lab)
	stun := "stun:" + lab.PublicIPs[0] + ":3478"
	turn := "turn:" + lab.PublicIPs[0] + ":3478?transport=udp"

	t.Run("stun-only-fails-needs-relay", func(t *testing.T) {
		res := labCall(t, lab, server, 16*time.Second, "--ice-server", stun)
		for i, r := range res {
			if len(r.Calls) == 0 {
				t.Fatalf("LAN %d: no call happened:\n%s", i+1, dumpResult(r))
			}
			v := r.Calls[0].Verdict
			if v.OK || v.Code != "ice-failed" {
				t.Errorf("LAN %d: verdict %s (%s), want ice-failed\n%s", i+1, v.Code, v.Finding, dumpResult(r))
				continue
			}
			if !strings.Contains(strings.ToLower(v.Finding+strings.Join(v.Causes, " ")+v.Fix), "turn") {
				t.Errorf("LAN %d: ICE failure verdict does not say a TURN relay is needed: %+v", i+1, v)
			}
			if n := r.Calls[0].LocalCandidates.Counts["srflx"]; n == 0 {
				t.Errorf("LAN %d: no srflx candidate gathered through the NAT (STUN broken in the lab?)", i+1)
			}
		}
	})

	// Default ICE policy (all): what a user behind a symmetric NAT gets without forcing
	// the relay. Host and srflx pairs cannot work across two symmetric NATs, so the call
	// must connect over a pair with the TURN relay on at least one end.
	t.Run("turn-policy-all-relays", func(t *testing.T) {
		res := labCall(t, lab, server, 8*time.Second, "--ice-server", stun, "--ice-server", turn,
			"--ice-user", labTURNUser, "--ice-pass", labTURNPass)
		labExpectRelayed(t, res, false)
	})

	// Relay-only, as the course's browser config can be (iceTransportPolicy relay).
	t.Run("turn-relay-only", func(t *testing.T) {
		res := labCall(t, lab, server, 8*time.Second, "--ice-server", stun, "--ice-server", turn,
			"--ice-user", labTURNUser, "--ice-pass", labTURNPass, "--relay-only")
		labExpectRelayed(t, res, true)
	})

	t.Run("probe-stun-classifies", func(t *testing.T) {
		labProbeSTUN(t, lab, "address-and-port-dependent", "endpoint-dependent")
	})
}

// labExpectRelayed checks that both ends of a lab call carried media over a selected pair
// through the TURN relay: the local candidate is a relay one when localRelay is set,
// otherwise at least one end of the pair is.
func labExpectRelayed(t *testing.T, res [2]*peer.Result, localRelay bool) {
	t.Helper()
	for i, r := range res {
		if len(r.Calls) == 0 || !r.Calls[0].Verdict.OK {
			t.Errorf("LAN %d: call through TURN did not carry media:\n%s", i+1, dumpResult(r))
			continue
		}
		sel := r.Calls[0].Selected
		switch {
		case sel == nil:
			t.Errorf("LAN %d: no selected candidate pair in the report", i+1)
		case localRelay && sel.LocalType != "relay":
			t.Errorf("LAN %d: relay-only call selected pair %+v, want a local relay candidate", i+1, sel)
		case sel.LocalType != "relay" && sel.RemoteType != "relay":
			t.Errorf("LAN %d: selected pair %+v is not through the relay", i+1, sel)
		default:
			t.Logf("LAN %d: selected %s/%s %s -> %s", i+1, sel.LocalType, sel.RemoteType, sel.Local, sel.Remote)
		}
	}
}

// labProbeSTUN runs `rtcctl probe-stun` against both public STUN addresses from each LAN
// and checks the mapping behaviour it reports.
func labProbeSTUN(t *testing.T, lab *testenv.NATLab, want ...string) {
	t.Helper()
	for i := 0; i < 2; i++ {
		out, err := lab.LANs[i].Run(rtcctlBinary(t), "probe-stun", "stun:"+lab.PublicIPs[0]+":3478", "stun:"+lab.PublicIPs[1]+":3478", "--json")
		var rep struct {
			Mapping string `json:"mapping"`
			Verdict string `json:"verdict"`
		}
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
			t.Fatalf("LAN %d: probe-stun (%v) printed no JSON: %v\n%s", i+1, err, jerr, out)
		}
		ok := false
		for _, w := range want {
			ok = ok || rep.Mapping == w
		}
		if !ok {
			t.Errorf("LAN %d: probe-stun says mapping %q, want one of %q\n%s", i+1, rep.Mapping, want, out)
		}
		t.Logf("LAN %d: probe-stun mapping %s, verdict %s", i+1, rep.Mapping, rep.Verdict)
	}
}

// TestNATLabEndpointIndependent: both LANs behind endpoint-independent NATs; with STUN only
// the call connects peer to peer over server-reflexive candidates.
func TestNATLabEndpointIndependent(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	lab := testenv.StartNATLab(t, [2]testenv.NATMode{testenv.NATEndpointIndependent, testenv.NATEndpointIndependent})
	labCoturn(t, lab)
	server := labServe(t, lab)
	res := labCall(t, lab, server, 8*time.Second, "--ice-server", "stun:"+lab.PublicIPs[0]+":3478")
	for i, r := range res {
		if len(r.Calls) == 0 || !r.Calls[0].Verdict.OK {
			t.Errorf("LAN %d: P2P call through EIM NATs did not carry media:\n%s", i+1, dumpResult(r))
			continue
		}
		sel := r.Calls[0].Selected
		if sel == nil || sel.LocalType == "relay" || sel.RemoteType == "relay" {
			t.Errorf("LAN %d: selected pair %+v, want peer to peer (no relay)", i+1, sel)
			continue
		}
		// Behind a NAT the working pair uses the public mapping: srflx (or the prflx the
		// peer learned from our checks) on at least one end, never the private host pair.
		if sel.LocalType == "host" && sel.RemoteType == "host" {
			t.Errorf("LAN %d: selected host/host pair %+v across two NATs", i+1, sel)
		}
		t.Logf("LAN %d: selected %s/%s %s -> %s", i+1, sel.LocalType, sel.RemoteType, sel.Local, sel.Remote)
	}
	labProbeSTUN(t, lab, "endpoint-independent")
}
