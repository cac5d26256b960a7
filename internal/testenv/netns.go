package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireRoot skips the test unless it runs as root: network namespaces, veth pairs and
// iptables need CAP_NET_ADMIN. CI runs as root, so there the test runs.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (network namespaces, veth pairs, iptables); CI runs as root")
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := lookRootBin(bin); err != nil {
			tb.Skipf("%s not installed (Debian packages iproute2, iptables): run scripts/deps.sh", bin)
		}
	}
}

func lookRootBin(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		if p, err := exec.LookPath(dir + "/" + bin); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("testenv: %s not found", bin)
}

var (
	netnsSeq       atomic.Int64
	sweepNetnsOnce sync.Once
)

// netnsPrefix starts the name of every namespace this package creates; the owning
// process id follows, so leftovers of a killed test run can be recognised and removed.
const netnsPrefix = "rtcctl-t"

// sweepStaleNetns deletes namespaces this package made in earlier test processes that no
// longer exist (a test binary killed by a timeout cannot run its cleanups).
func sweepStaleNetns() {
	out, err := netnsRun("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], netnsPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], netnsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // malformed, ours, or its owner still runs
		}
		(&Netns{Name: f[0]}).destroy()
	}
}

// Netns is a network namespace created by one test, deleted (with its veths, routes,
// iptables rules and every process still running in it) in t.Cleanup.
type Netns struct {
	Name string
	mu   sync.Mutex
	proc []*process
}

// NewNetns creates a namespace named "rtcctl-t<pid>-<seq>-<role>" with lo up. The first
// call also removes namespaces left behind by earlier test processes that were killed.
func NewNetns(tb testing.TB, role string) *Netns {
	tb.Helper()
	sweepNetnsOnce.Do(sweepStaleNetns)
	name := fmt.Sprintf("%s%d-%d-%s", netnsPrefix, os.Getpid(), netnsSeq.Add(1), role)
	if out, err := netnsRun("ip", "netns", "add", name); err != nil {
		tb.Fatalf("testenv: ip netns add %s: %v: %s", name, err, out)
	}
	n := &Netns{Name: name}
	tb.Cleanup(n.destroy)
	n.MustRun(tb, "ip", "link", "set", "lo", "up")
	return n
}

// destroy kills what runs in the namespace, then deletes it; deleting a namespace
// removes its interfaces (and so the peers of its veths) and its netfilter tables.
func (n *Netns) destroy() {
	n.mu.Lock()
	procs := n.proc
	n.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	// Anything else still inside (children that left their process group).
	if out, err := netnsRun("ip", "netns", "pids", n.Name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_, _ = netnsRun("ip", "netns", "delete", n.Name)
}

// Run runs a command inside the namespace and returns its combined output.
func (n *Netns) Run(args ...string) (string, error) {
	return netnsRun(append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// MustRun is Run that fails the test on error.
func (n *Netns) MustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := n.Run(args...)
	if err != nil {
		tb.Fatalf("testenv: in netns %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// Command returns an unstarted command that runs inside the namespace.
func (n *Netns) Command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, bin}, args...)...)
}

// Process is a long-running child started in a namespace by Start.
type Process struct{ p *process }

// Logs returns the process output so far.
func (p *Process) Logs() string { return p.p.logs.String() }

// Stop ends the process (SIGTERM, then SIGKILL) and waits for it.
func (p *Process) Stop() { p.p.stop() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.p.exited() }

// Start runs a long-lived process inside the namespace; it is stopped in cleanup (and
// when the namespace is destroyed).
func (n *Netns) Start(tb testing.TB, name, bin string, args ...string) *Process {
	tb.Helper()
	p, err := startProcess(name, "ip", append([]string{"netns", "exec", n.Name, bin}, args...)...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	n.mu.Lock()
	n.proc = append(n.proc, p)
	n.mu.Unlock()
	tb.Cleanup(func() {
		p.stop()
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, p.logs.String())
		}
	})
	return &Process{p: p}
}

// Veth connects namespaces a and b with a veth pair: interface ifA with addrA (CIDR) in a
// and ifB with addrB in b; both are brought up.
func Veth(tb testing.TB, a *Netns, ifA, addrA string, b *Netns, ifB, addrB string) {
	tb.Helper()
	if out, err := netnsRun("ip", "-n", a.Name, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b.Name); err != nil {
		tb.Fatalf("testenv: veth %s/%s <-> %s/%s: %v: %s", a.Name, ifA, b.Name, ifB, err, out)
	}
	a.MustRun(tb, "ip", "addr", "add", addrA, "dev", ifA)
	a.MustRun(tb, "ip", "link", "set", ifA, "up")
	b.MustRun(tb, "ip", "addr", "add", addrB, "dev", ifB)
	b.MustRun(tb, "ip", "link", "set", ifB, "up")
}

// NATMode is how a lab router maps LAN sources to its WAN address.
type NATMode string

const (
	// NATEndpointIndependent is plain MASQUERADE: conntrack keeps the source port when it
	// is free, so one LAN socket gets the same public port towards every destination
	// (endpoint-independent mapping; filtering stays address-and-port dependent).
	NATEndpointIndependent NATMode = "endpoint-independent"
	// NATSymmetric is MASQUERADE --random-fully: every new destination gets a fresh random
	// public port (address-and-port-dependent mapping, a "symmetric" NAT).
	NATSymmetric NATMode = "symmetric"
)

// NATLab is a small internet in namespaces:
//
//	LAN[i] (10.201.i.2/24) -- router[i] (LAN 10.201.i.1, WAN 10.200.i.2/24, NAT) --
//	public (10.200.i.1/24 per router link; services on 10.200.0.1 and 10.200.0.2)
//
// The public namespace forwards between the router links but has no route to the LANs
// (its default route leads into a sink, see publicDefaultRoute), so LAN traffic reaches
// the outside only through the routers' NAT. Only private ranges inside namespaces the
// test created are used.
type NATLab struct {
	Public  *Netns
	Routers [2]*Netns
	LANs    [2]*Netns
	// PublicIPs are the two service addresses on the public side (two STUN listeners
	// for mapping-behaviour tests).
	PublicIPs [2]string
	// RouterWAN are the routers' public addresses (what a peer's srflx shows).
	RouterWAN [2]string
	// LANHost are the hosts' private addresses.
	LANHost [2]string
}

// StartNATLab builds the lab with the given NAT behaviour on each router. RequireRoot
// first.
func StartNATLab(tb testing.TB, modes [2]NATMode) *NATLab {
	tb.Helper()
	lab := &NATLab{
		Public:    NewNetns(tb, "pub"),
		PublicIPs: [2]string{"10.200.0.1", "10.200.0.2"},
	}
	lab.Public.MustRun(tb, "ip", "addr", "add", lab.PublicIPs[0]+"/32", "dev", "lo")
	lab.Public.MustRun(tb, "ip", "addr", "add", lab.PublicIPs[1]+"/32", "dev", "lo")
	lab.Public.MustRun(tb, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	publicDefaultRoute(tb, lab.Public)
	for i := 0; i < 2; i++ {
		k := strconv.Itoa(i + 1)
		r := NewNetns(tb, "r"+k)
		l := NewNetns(tb, "lan"+k)
		lab.Routers[i], lab.LANs[i] = r, l
		lab.RouterWAN[i] = "10.200." + k + ".2"
		lab.LANHost[i] = "10.201." + k + ".2"
		Veth(tb, lab.Public, "r"+k, "10.200."+k+".1/24", r, "wan", lab.RouterWAN[i]+"/24")
		Veth(tb, r, "lan", "10.201."+k+".1/24", l, "eth0", lab.LANHost[i]+"/24")
		r.MustRun(tb, "ip", "route", "add", "default", "via", "10.200."+k+".1")
		l.MustRun(tb, "ip", "route", "add", "default", "via", "10.201."+k+".1")
		r.MustRun(tb, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		rule := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
		switch modes[i] {
		case NATEndpointIndependent:
		case NATSymmetric:
			rule = append(rule, "--random-fully")
		default:
			tb.Fatalf("testenv: unknown NAT mode %q", modes[i])
		}
		r.MustRun(tb, rule...)
		// Like a home router, drop unsolicited packets to the router itself. Without this a
		// peer's early connectivity check creates a conntrack entry on the router that then
		// clashes with the LAN host's own outgoing flow to that peer, and MASQUERADE moves the
		// host to a new port: the "endpoint-independent" NAT would stop being one exactly when
		// hole punching needs it. (A dropped packet's conntrack entry is never confirmed.)
		r.MustRun(tb, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP")
	}
	return lab
}

// publicDefaultRoute gives the public namespace a default route into a sink, as every
// host on the internet has one: a packet to an address nobody routes (a peer's private
// host candidate, 10.201.x) leaves without error and is lost on the way. Without it the
// kernel answers sendto with ENETUNREACH, and coturn closes an allocation whose relay
// socket sees any send error ("udp send: Network is unreachable", then "closed ...
// reason: general"): as soon as a peer with ICE policy "all" asked for a permission to
// the other peer's host address and a check went there, its relayed address died and
// relay pairs could not work. The sink is the far end of a veth pair whose gateway has a
// permanent, made-up MAC address, so the frames are dropped there silently (no ARP, no
// ICMP errors back to the sender).
func publicDefaultRoute(tb testing.TB, pub *Netns) {
	tb.Helper()
	if out, err := netnsRun("ip", "-n", pub.Name, "link", "add", "internet", "type", "veth", "peer", "name", "internet-sink"); err != nil {
		tb.Fatalf("testenv: veth internet in %s: %v: %s", pub.Name, err, out)
	}
	pub.MustRun(tb, "ip", "addr", "add", "10.200.255.1/30", "dev", "internet")
	pub.MustRun(tb, "ip", "link", "set", "internet", "up")
	pub.MustRun(tb, "ip", "link", "set", "internet-sink", "up")
	pub.MustRun(tb, "ip", "neigh", "replace", "10.200.255.2", "lladdr", "02:00:00:00:00:02", "dev", "internet", "nud", "permanent")
	pub.MustRun(tb, "ip", "route", "add", "default", "via", "10.200.255.2", "dev", "internet")
}

// run executes a command with a deadline and returns its combined output.
func netnsRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.String(), err
}
