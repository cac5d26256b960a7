package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
)

// loopbackNetnsEnv marks the copy of a test binary that MainInLoopbackNetns started in
// its own network namespace ("1"); "off" in the environment keeps the tests in the host
// namespace (for debugging with the host's tools).
const loopbackNetnsEnv = "RTCCTL_TEST_LOOPBACK_NETNS"

// InLoopbackNetns reports whether this test process runs in the private network namespace
// MainInLoopbackNetns made: its only interface is lo, so nothing it starts (Chromium,
// nginx, coturn, the peers) can reach any address but 127.0.0.0/8 and ::1, and the
// namespaces a test creates itself.
func InLoopbackNetns() bool { return os.Getenv(loopbackNetnsEnv) == "1" }

// MainInLoopbackNetns is a TestMain body: as root it runs the test binary again, with the
// same arguments and streams, in a new network namespace holding only a loopback
// interface, and returns that run's exit code; in that copy (and when not root, or with
// RTCCTL_TEST_LOOPBACK_NETNS=off) it runs the tests itself with m.Run. The copy dies with
// its parent (go test's timeout kills the parent).
func MainInLoopbackNetns(m *testing.M) int {
	switch {
	case InLoopbackNetns():
		if err := loopbackUp(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: loopback-only network namespace: %v\n", err)
			return 2
		}
		return m.Run()
	case os.Getenv(loopbackNetnsEnv) == "off":
		return m.Run()
	case os.Geteuid() != 0:
		fmt.Fprintln(os.Stderr, "testenv: not root, so the tests run in the host network namespace (the browser is held to loopback by its flags and the page hooks only)")
		return m.Run()
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), loopbackNetnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig follows the thread that started the child: keep this goroutine on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		// Root without CAP_SYS_ADMIN (a container's default) cannot make namespaces: the
		// tests still run, held to loopback by the browser's flags and page hooks.
		fmt.Fprintf(os.Stderr, "testenv: cannot start the tests in a new network namespace (%v), so they run in the host namespace\n", err)
		runtime.UnlockOSThread()
		return m.Run()
	}
	// Ctrl-C reaches the whole process group; forward what only this process gets.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "testenv: the tests in the network namespace ended: %v\n", err)
		return 2
	}
}

// loopbackUp brings lo up in the new namespace and checks it is the only interface.
func loopbackUp() error {
	bin, err := lookRootBin("ip")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if out, err := exec.Command(bin, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %w: %s", err, out)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("interface %s in a namespace meant to hold only lo", i.Name)
		}
	}
	return nil
}
