package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
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
