// Package testenv holds helpers for integration tests: real servers (Debian coturn, nginx)
// started in the foreground on loopback, with ephemeral ports, logs kept for failure
// messages and processes killed in t.Cleanup. Only _test.go files import it.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuffer is a goroutine-safe bounded buffer for a child process's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLogBytes = 1 << 20

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(p) > maxLogBytes {
		// Keep the head (startup lines explain most failures) and drop the rest.
		return len(p), nil
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// process is a foreground child process owned by one test.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error // set before done closes
}

// startProcess starts bin with args, output into a log buffer.
func startProcess(name, bin string, args ...string) (*process, error) {
	p := &process{name: name, logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	// Own process group, so a stop also reaches helpers the server may fork. Pdeathsig:
	// when the test binary dies without running t.Cleanup (go test -timeout panics, a
	// Ctrl-C, a crash), the kernel kills the server too instead of leaving it holding its
	// ports. The kernel sends it when the OS thread that started the child ends; Go keeps
	// its threads unless a goroutine exits while locked to one (runtime.LockOSThread),
	// which nothing that calls these helpers does.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop terminates the process group: SIGTERM, then SIGKILL after a grace period.
func (p *process) stop() {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// errNoPort means no free port run was found.
var errNoPort = errors.New("testenv: no free port found")

// freePortRun finds a port p such that p..p+n-1 are free for TCP and UDP on every ip, and
// claims them (see claimPort). The ports are closed again before returning, so a small race
// with other processes is possible; callers retry a failed start with a new port.
func freePortRun(n int, ips ...string) (int, error) {
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, fmt.Errorf("testenv: listen: %w", err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if base+n > 65535 {
			continue
		}
		if portsFree(base, n, ips) && claimPorts(base, n) {
			return base, nil
		}
	}
	return 0, errNoPort
}

// Claimed ports. coturn binds its listeners with SO_REUSEPORT, so two coturns given the
// same port both start without error and the kernel splits the clients between them (seen
// on this machine with Debian coturn 4.6.1): tests would talk to another test's server
// with other users. A port is therefore handed out once per test binary, and across the
// test binaries of a `go test ./...` run through an flock'd file per port, held until the
// binary exits (the kernel drops the lock then).
var (
	claimMu sync.Mutex
	claimed = map[int]*os.File{}
)

// portLockDir holds the per-port lock files shared by concurrent test binaries.
var portLockDir = filepath.Join(os.TempDir(), "rtcctl-testenv-ports")

// claimPorts claims base..base+n-1, or none of them.
func claimPorts(base, n int) bool {
	claimMu.Lock()
	defer claimMu.Unlock()
	var got []int
	for p := base; p < base+n; p++ {
		if !claimPortLocked(p) {
			for _, q := range got {
				if f := claimed[q]; f != nil {
					_ = f.Close() // releases the flock
				}
				delete(claimed, q)
			}
			return false
		}
		got = append(got, p)
	}
	return true
}

func claimPortLocked(port int) bool {
	if _, taken := claimed[port]; taken {
		return false
	}
	f, err := os.OpenFile(filepath.Join(portLockDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if errors.Is(err, os.ErrNotExist) && os.MkdirAll(portLockDir, 0o777) == nil {
		f, err = os.OpenFile(filepath.Join(portLockDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	}
	if err != nil {
		// No usable lock directory (another user's, read-only /tmp): claim in this binary
		// only rather than fail every server start.
		claimed[port] = nil
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return false // another test binary runs a server on it
	}
	claimed[port] = f
	return true
}

func portsFree(base, n int, ips []string) bool {
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for _, ip := range ips {
		for p := base; p < base+n; p++ {
			addr := net.JoinHostPort(ip, strconv.Itoa(p))
			tl, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, tl)
			ul, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, ul)
		}
	}
	return true
}

// lookBin returns the path of a Debian-packaged binary or skips the test naming it.
func lookBin(tb testing.TB, bin, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			cand := dir + "/" + bin
			if p, err2 := exec.LookPath(cand); err2 == nil {
				return p
			}
		}
		if os.Getenv("CI") != "" {
			// CI installs the Debian packages (scripts/deps.sh): a missing one is a broken
			// setup, not a reason to skip.
			tb.Fatalf("%s not installed (%s) on CI: run scripts/deps.sh", pkg, bin)
		}
		tb.Skipf("%s not installed (%s): run scripts/deps.sh", pkg, bin)
	}
	return path
}
