package interop

import (
	"strings"
	"testing"
	"time"

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
