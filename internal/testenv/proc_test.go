package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets TestServerDiesWithTheTestBinary run this binary as an orphaning parent:
// with TESTENV_ORPHAN_PARENT=1 it starts a server-like process and exits at once without
// any cleanup, like a test binary killed by -timeout.
func TestMain(m *testing.M) {
	if p := os.Getenv("TESTENV_CLAIM_PORT"); p != "" {
		port, _ := strconv.Atoi(p)
		fmt.Println("CLAIMED", claimPorts(port, 1))
		os.Exit(0)
	}
	if os.Getenv("TESTENV_ORPHAN_PARENT") == "1" {
		p, err := startProcess("sleep", "sleep", "60")
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", p.cmd.Process.Pid)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestServerDiesWithTheTestBinary: a coturn/nginx started by a test binary that dies
// without cleanup must not survive it (it would hold its ports for later runs).
func TestServerDiesWithTheTestBinary(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTENV_ORPHAN_PARENT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	_ = cmd.Wait()
	if pid == 0 {
		t.Fatal("the helper printed no PID")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Signal 0 probes for the process; a zombie reaped by init disappears too.
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d outlived the test binary that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNginxReadyNeedsItsOwnSocket: another process listening on nginx's port must not be
// taken for nginx (it happens when the port is grabbed between the free-port check and
// nginx's bind; nginx then keeps retrying its bind and exits).
func TestNginxReadyNeedsItsOwnSocket(t *testing.T) {
	t.Parallel()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	// Stands in for an nginx that failed to bind and exits after a while.
	p, err := startProcess("fake-nginx", "sleep", "1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	n := &Nginx{Port: other.Addr().(*net.TCPAddr).Port, dir: t.TempDir(), proc: p}
	if err := n.waitReady(); err == nil {
		t.Fatal("another process's listener was taken for nginx")
	}
}

// TestPortsClaimedOnce: a port handed to one server is not handed out again, in this test
// binary or in another one running at the same time (coturn's SO_REUSEPORT listeners would
// otherwise share it silently).
func TestPortsClaimedOnce(t *testing.T) {
	t.Parallel()
	port, err := freePortRun(2, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if claimPorts(port+1, 1) || claimPorts(port, 1) {
		t.Fatalf("port %d handed out twice in one binary", port)
	}
	if _, err := os.Stat(filepath.Join(portLockDir, strconv.Itoa(port))); err != nil {
		t.Skipf("no lock directory (%v): cross-binary claims fall back to this binary", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTENV_CLAIM_PORT="+strconv.Itoa(port))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "CLAIMED false" {
		t.Fatalf("another test binary could claim port %d: %q", port, got)
	}
}
