package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// helperServeEnv makes the test binary act as a signaling server process: the benchmark
// runs the server in its own process so tester and server each get their own fd limit
// (10,000 websockets are 20,000 fds when both ends share one process).
const helperServeEnv = "RTCCTL_LOAD_HELPER_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(helperServeEnv) == "1" {
		os.Exit(helperServe())
	}
	os.Exit(m.Run())
}

// helperServe runs serve on loopback, prints its URL, and stops when stdin closes (the
// parent ended or closed the pipe).
func helperServe() int {
	raiseNoFile(65536)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0",
		Signal: signal.ServerConfig{MaxConns: -1, RatePerSec: -1}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.SignalURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	return 0
}

// startServeProcess starts the helper server process and returns its URL.
func startServeProcess(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperServeEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- strings.TrimSpace(s.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url, ok := <-line:
		if !ok || !strings.HasPrefix(url, "ws://") {
			tb.Fatalf("helper server printed %q", url)
		}
		return url
	case <-time.After(30 * time.Second):
		tb.Fatal("helper server did not start within 30 s")
	}
	return ""
}
