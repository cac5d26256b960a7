package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// parseServe runs `rtcctl serve ARGS` with a run func that only records the options.
func parseServe(t *testing.T, args ...string) (int, *serveOptions, string) {
	t.Helper()
	var out, errb bytes.Buffer
	st := report.Buffers(&out, &errb)
	var got *serveOptions
	cmd := newServeCommand(st, func(_ context.Context, _ *report.Streams, o *serveOptions) error {
		got = o
		return nil
	})
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name: "rtcctl", Writer: &out, ErrWriter: &errb,
		Commands:       []*cli.Command{cmd},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.RunContext(context.Background(), append([]string{"rtcctl", "serve"}, args...))
	if err != nil {
		errb.WriteString(err.Error())
	}
	return exitCode(err), got, errb.String()
}

func TestServeFlagDefaults(t *testing.T) {
	code, o, errOut := parseServe(t)
	if code != ExitOK || o == nil {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c := o.Config
	if c.Addr != "127.0.0.1:8099" || c.TURN || c.TLSSelfSigned || c.Signal.MaxMessageBytes != 64<<10 ||
		c.Signal.PingInterval != 10*time.Second || c.Signal.IdleTimeout != 30*time.Second ||
		len(c.Signal.AllowedOrigins) != 0 || c.ICECredTTL != 24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestServeFlagsTURN(t *testing.T) {
	t.Setenv("RTCCTL_TURN_USER", "")
	code, o, errOut := parseServe(t, "--turn", "--turn-listen", "127.0.0.1:3479", "--turn-user", "demo:pa:ss",
		"--turn-user", "other:a,b", "--turn-secret", "s3", "--turn-realm", "course", "--turn-relay-ports", "49160-49200", "--turn-loopback-peers", "deny",
		"--max-message", "2MiB", "--ping-interval", "0", "--idle-timeout", "45s", "--max-conns", "0", "--rate", "7.5",
		"--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c := o.Config
	tc := c.TURNConfig
	if !c.TURN || tc.ListenIP != "127.0.0.1" || tc.Port != 3479 || tc.Realm != "course" || tc.Secret != "s3" ||
		tc.MinRelayPort != 49160 || tc.MaxRelayPort != 49200 || tc.LoopbackPeers != turnserver.LoopbackDeny {
		t.Fatalf("turn config %+v", tc)
	}
	if len(tc.Users) != 2 || tc.Users["demo"] != "pa:ss" || tc.Users["other"] != "a,b" {
		t.Fatalf("users %v: a password keeps its colons and commas", tc.Users)
	}
	s := c.Signal
	if s.MaxMessageBytes != 2<<20 || s.PingInterval >= 0 || s.IdleTimeout != 45*time.Second || s.MaxConns >= 0 ||
		s.RatePerSec != 7.5 || strings.Join(s.AllowedOrigins, " ") != "https://a.example https://b.example" {
		t.Fatalf("signal config %+v", s)
	}
}

func TestServeSecretFromEnv(t *testing.T) {
	t.Setenv("RTCCTL_TURN_SECRET", "from-env")
	code, o, errOut := parseServe(t, "--turn")
	if code != ExitOK || o.Config.TURNConfig.Secret != "from-env" {
		t.Fatalf("exit %d %s, secret %q", code, errOut, o.Config.TURNConfig.Secret)
	}
}

// TestServeUsersFromEnv: static TURN users can come from RTCCTL_TURN_USER (one NAME:PASS per
// line), so their passwords stay out of ps; flags add to them; without --turn it is unused.
func TestServeUsersFromEnv(t *testing.T) {
	t.Setenv("RTCCTL_TURN_SECRET", "")
	t.Setenv("RTCCTL_TURN_USER", "demo:pa:ss\r\n\nother:a b,c\n")
	code, o, errOut := parseServe(t, "--turn", "--turn-user", "third:z")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	u := o.Config.TURNConfig.Users
	if len(u) != 3 || u["demo"] != "pa:ss" || u["other"] != "a b,c" || u["third"] != "z" {
		t.Fatalf("users %v: want demo, other (from the env) and third (flag)", u)
	}

	code, o, errOut = parseServe(t)
	if code != ExitOK || o.Config.TURN || o.Config.TURNConfig.Users != nil {
		t.Fatalf("without --turn: exit %d %s, config %+v", code, errOut, o.Config)
	}

	t.Setenv("RTCCTL_TURN_USER", "demo:ok\nno-colon-secretpw")
	code, _, errOut = parseServe(t, "--turn")
	if code != ExitUsage || !strings.Contains(errOut, "RTCCTL_TURN_USER") || strings.Contains(errOut, "secretpw") {
		t.Fatalf("bad env line: exit %d, stderr %q; want exit 2 naming RTCCTL_TURN_USER, not echoing the value", code, errOut)
	}

	code, out, _ := execMainForTest(t, "serve", "--help")
	if code != ExitOK || !strings.Contains(out, "[$RTCCTL_TURN_USER]") || !strings.Contains(out, "RTCCTL_TURN_USER=demo:secret rtcctl serve") {
		t.Fatalf("serve --help does not mention RTCCTL_TURN_USER:\n%s", out)
	}
}

func TestServeUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"user without colon", []string{"--turn", "--turn-user", "demo"}, "NAME:PASS"},
		{"user with empty password", []string{"--turn", "--turn-user", "demo:"}, "NAME:PASS"},
		{"user without --turn", []string{"--turn-user", "demo:x"}, "needs --turn"},
		{"bad max-message", []string{"--max-message", "lots"}, "--max-message"},
		{"zero max-message", []string{"--max-message", "0"}, "--max-message"},
		{"huge max-message", []string{"--max-message", "1GiB"}, "64MiB"},
		{"cert without key", []string{"--tls-cert", "c.pem"}, "go together"},
		{"self-signed and files", []string{"--tls-self-signed", "--tls-cert", "c", "--tls-key", "k"}, "exclude"},
		{"bad listen", []string{"--listen", "8099"}, "--listen"},
		{"listen port out of range", []string{"--listen", "127.0.0.1:99999"}, "1 to 65535"},
		{"listen port not a number", []string{"--listen", "127.0.0.1:http"}, "1 to 65535"},
		{"turn on the http port", []string{"--turn", "--listen", "127.0.0.1:28099", "--turn-listen", "127.0.0.1:28099"}, "same TCP port"},
		{"turn on the http port, any address", []string{"--turn", "--listen", ":28099", "--turn-listen", "127.0.0.1:28099"}, "same TCP port"},
		{"unspecified turn without relay ip", []string{"--turn", "--turn-listen", "0.0.0.0:3478"}, "--turn-relay-ip"},
		{"turn listen hostname", []string{"--turn", "--turn-listen", "localhost:3478"}, "IP:PORT"},
		{"bad relay ip", []string{"--turn", "--turn-relay-ip", "0.0.0.0"}, "concrete"},
		{"inverted relay ports", []string{"--turn", "--turn-relay-ports", "50000-49000"}, "MIN-MAX"},
		{"negative rate", []string{"--rate", "-1"}, "negative"},
		{"bad loopback policy", []string{"--turn", "--turn-loopback-peers", "maybe"}, "auto, allow or deny"},
		{"unknown flag", []string{"--nope"}, "nope"},
		{"stray argument", []string{"extra"}, "no arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := parseServe(t, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tc.want)
			}
		})
	}
}

func TestServeHelpHasExamples(t *testing.T) {
	code, out, _ := execMainForTest(t, "help", "serve")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "rtcctl serve --turn") ||
		!strings.Contains(out, "0.0.0.0:8099") {
		t.Fatalf("exit %d, help:\n%s", code, out)
	}
	// The policies a person replacing the original server needs: full, error codes, rejoin.
	for _, want := range []string{`{"cmd":"full"`, `{"cmd":"error","code":N`, "403", "429", `{"cmd":"replaced"`, "peer-leave"} {
		if !strings.Contains(out, want) {
			t.Errorf("help serve lacks %q", want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64KiB": 65536, "64k": 65536, "2MiB": 2 << 20, "1M": 1 << 20, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's log goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRunsUntilCancelled runs the real command on loopback: the banner names the URLs,
// /healthz answers, no password is printed, and cancelling the context (SIGINT in main)
// shuts it down with exit 0.
func TestServeRunsUntilCancelled(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, report.Buffers(&out, &errb), []string{"rtcctl", "serve", "--listen", "127.0.0.1:0",
			"--turn", "--turn-listen", "127.0.0.1:0", "--turn-user", "demo:do-not-print-me", "--turn-secret", "secret-do-not-print"})
	}()
	re := regexp.MustCompile(`call page:\s+(http://127\.0\.0\.1:\d+/)`)
	var page string
	deadline := time.Now().Add(20 * time.Second)
	for page == "" {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			page = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 20 s: %s", errb.String())
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(page + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h["status"] != "ok" {
		t.Fatalf("/healthz %d %v", resp.StatusCode, h)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d after cancel: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15 s of cancel")
	}
	logs := errb.String()
	for _, want := range []string{"signaling:", "turn:", "static user(s) demo", "shutting down", "serve: stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "do-not-print") {
		t.Fatalf("a password or secret was printed:\n%s", logs)
	}
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := execMainForTest(t, "serve", "--listen", ln.Addr().String())
	if code != ExitCouldntRun || !strings.Contains(errOut, "already in use") || !strings.Contains(errOut, "another process") {
		t.Fatalf("exit %d, stderr %q; want exit 3 with a hint", code, errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		t.Fatalf("want a one-line error, got:\n%s", errOut)
	}
}

func TestServeBadCertFiles(t *testing.T) {
	code, _, errOut := execMainForTest(t, "serve", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem")
	if code != ExitCouldntRun || !strings.Contains(errOut, "--tls-cert") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestServeBannerWarnsPlainHTTPOnNetwork: a page reachable from other machines over plain
// http gets no camera there; the banner says so and how to fix it, and only then.
func TestServeBannerWarnsPlainHTTPOnNetwork(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  serve.Config
		warn bool
	}{
		{"network, plain http", serve.Config{Addr: "0.0.0.0:0"}, true},
		{"network, self-signed https", serve.Config{Addr: "0.0.0.0:0", TLSSelfSigned: true}, false},
		{"loopback, plain http", serve.Config{Addr: "127.0.0.1:0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := serve.Start(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var out, errb syncBuffer
			printServeBanner(report.Buffers(&out, &errb), srv)
			got := strings.Contains(errb.String(), "--tls-self-signed")
			if got != tc.warn {
				t.Fatalf("https warning shown: %v, want %v:\n%s", got, tc.warn, errb.String())
			}
		})
	}
}

// TestDemoScriptIgnoresForeignServer: when demo.sh's serve cannot bind its port because
// another server holds it, the demo must stop with serve's error, not take the other
// server's /healthz for its own and run the verified call against it.
func TestDemoScriptIgnoresForeignServer(t *testing.T) {
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer foreign.Close()
	dir := t.TempDir()
	// A stand-in rtcctl whose serve fails like a real one on a busy port, a little slowly.
	fake := filepath.Join(dir, "rtcctl")
	script := "#!/bin/sh\nif [ \"$1\" = serve ]; then sleep 0.5; fi\n" +
		"echo 'rtcctl: serve: port in use' >&2\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "RTCCTL_BIN="+fake, "DEMO_HEALTH_TIMEOUT=5",
		"DEMO_LISTEN="+strings.TrimPrefix(foreign.URL, "http://"), "DEMO_TURN_LISTEN=127.0.0.1:1")
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	if code != 3 || strings.Contains(string(out), "serve is healthy") || !strings.Contains(string(out), "before it was healthy") {
		t.Fatalf("demo.sh exit %d (%v), want 3 with serve's own failure:\n%s", code, err, out)
	}
}

// TestServeSIGTERMReal builds rtcctl and runs `serve` as a real process (main's signal
// wiring included, which the in-process tests skip): a joined client gets close 1001 on
// SIGTERM, the process exits 0 and logs that it stopped, and neither the static user's
// password (given through RTCCTL_TURN_USER) nor the REST secret appears in its output.
func TestServeSIGTERMReal(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: cannot build rtcctl for a real-process test")
	}
	bin := filepath.Join(t.TempDir(), "rtcctl")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var errb syncBuffer
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--turn", "--turn-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RTCCTL_TURN_USER=demo:pw-do-not-print", "RTCCTL_TURN_SECRET=secret-do-not-print", "NO_COLOR=1")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	re := regexp.MustCompile(`signaling:\s+(ws://127\.0\.0\.1:\d+/ws)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no banner after 20 s: %s", errb.String())
		}
	}
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"join","roomId":"100","uid":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != `{"cmd":"ping"}` {
		t.Fatalf("ping reply %q, %v", m, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after SIGTERM the client got %v, want close 1001 (going away)", err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", waitErr, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve still running 15 s after SIGTERM:\n%s", errb.String())
	}
	logs := errb.String()
	for _, want := range []string{"join room=\"100\" uid=\"a\"", "shutting down", "serve: stopped", "static user(s) demo"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve's stderr lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"pw-do-not-print", "secret-do-not-print"} {
		if strings.Contains(logs, secret) {
			t.Errorf("serve's stderr shows a secret %q:\n%s", secret, logs)
		}
	}
}
