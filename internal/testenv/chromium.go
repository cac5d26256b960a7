package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumOptions shape a headless Chromium. The zero value is the working set from
// FACTS.md: headless, no sandbox (needed as root), fake camera and microphone,
// loopback ICE candidates allowed, mDNS host-candidate hiding off.
type ChromiumOptions struct {
	// ExtraFlags are added to (or override) the default command-line switches; a value of
	// true is a bare switch, false removes it.
	ExtraFlags map[string]any
	// StartTimeout bounds the launch (process start + DevTools connection). Zero: 45 s,
	// generous because the machine is shared by parallel builds.
	StartTimeout time.Duration
}

// Browser is one headless Chromium process shared by the tabs of a test (or a whole test
// binary). Tabs opened with NewTab live in separate incognito-like browser contexts, so
// two tabs of one Browser behave as two independent users.
type Browser struct {
	root   context.Context // chromedp context holding the browser
	cancel func()
	logs   *chromiumLog
	mu     sync.Mutex
	closed bool
}

// ChromiumPath returns the Chromium binary (Debian package chromium) or skips the test
// naming the package; scripts/deps.sh installs it (CI always has it).
func ChromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Skip("chromium not installed (Debian package chromium): run scripts/deps.sh")
	return ""
}

// chromiumFlags is the switch set. Network isolation: as root, the interop tests run in a
// network namespace holding only lo (MainInLoopbackNetns), so the browser has no other
// interface at all. Besides (and alone when not root) it gets a host resolver that
// resolves no name except localhost, and no background services: the only addresses it
// can reach are IP literals the test page names, all 127.0.0.1 (serve, coturn, the peer).
func chromiumFlags(userDataDir string) map[string]any {
	return map[string]any{
		"headless":                               true,
		"no-sandbox":                             true,
		"disable-gpu":                            true,
		"disable-quic":                           true,
		"no-first-run":                           true,
		"no-default-browser-check":               true,
		"disable-background-networking":          true,
		"disable-component-update":               true,
		"disable-sync":                           true,
		"disable-extensions":                     true,
		"disable-default-apps":                   true,
		"disable-dev-shm-usage":                  true,
		"disable-breakpad":                       true,
		"metrics-recording-only":                 true,
		"disable-domain-reliability":             true,
		"disable-client-side-phishing-detection": true,
		"safebrowsing-disable-auto-update":       true,
		"password-store":                         "basic",
		"use-mock-keychain":                      true,
		"mute-audio":                             true,
		"user-data-dir":                          userDataDir,
		"use-fake-device-for-media-stream":       true,
		"use-fake-ui-for-media-stream":           true,
		"allow-loopback-in-peer-connection":      true,
		"autoplay-policy":                        "no-user-gesture-required",
		"disable-features":                       "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints",
		"host-resolver-rules":                    "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
		// Background tabs must keep rendering and decoding at full rate.
		"disable-renderer-backgrounding":         true,
		"disable-background-timer-throttling":    true,
		"disable-backgrounding-occluded-windows": true,
		"disable-ipc-flooding-protection":        true,
		"ignore-certificate-errors":              false,
	}
}

// StartChromium launches a headless Chromium for tb and closes it in tb.Cleanup.
func StartChromium(tb testing.TB, opts ChromiumOptions) *Browser {
	tb.Helper()
	b, err := LaunchChromium(ChromiumPath(tb), tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}

// LaunchChromium starts Chromium from bin with its profile in userDataDir, without a
// testing.TB, so a TestMain can share one browser across a package's tests. The caller
// must call Close.
func LaunchChromium(bin, userDataDir string, opts ChromiumOptions) (*Browser, error) {
	flags := chromiumFlags(userDataDir)
	for k, v := range opts.ExtraFlags {
		flags[k] = v
	}
	logs := &chromiumLog{}
	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.CombinedOutput(logs)}
	for k, v := range flags {
		if v == false {
			continue
		}
		allocOpts = append(allocOpts, chromedp.Flag(k, v))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	root, rootCancel := chromedp.NewContext(allocCtx)
	b := &Browser{root: root, logs: logs, cancel: func() { rootCancel(); allocCancel() }}

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 45 * time.Second
	}
	// The first Run starts the browser; its context must not carry a deadline (that would
	// end the browser), so the launch is bounded by a watchdog instead.
	if err := runWithin(root, timeout, chromedp.Evaluate[chromedp.Void](`1`)); err != nil {
		b.Close()
		return nil, fmt.Errorf("start chromium: %w; output:\n%s", err, logs.tail(2000))
	}
	return b, nil
}

// NewTab opens a new tab in a fresh browser context (own cookies, storage and
// permissions) and closes it in tb.Cleanup. Use the returned context with chromedp.Run;
// derive per-action timeouts from it with context.WithTimeout.
func (b *Browser) NewTab(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	// The first Run on the child context creates the target; it must not carry a
	// deadline (the tab lives as long as that context), so a watchdog bounds it.
	if err := runWithin(ctx, 30*time.Second, chromedp.Evaluate[chromedp.Void](`1`)); err != nil {
		cancel()
		tb.Fatalf("testenv: open chromium tab: %v", err)
	}
	tb.Cleanup(cancel)
	return ctx
}

// Logs returns the browser's stdout/stderr so far, for failure messages.
func (b *Browser) Logs() string { return b.logs.String() }

// Close ends the browser process. It is safe to call more than once.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.cancel()
}

// chromiumLog keeps the browser's output (bounded) for failure messages.
type chromiumLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *chromiumLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf)+len(p) <= 1<<20 {
		l.buf = append(l.buf, p...)
	}
	return len(p), nil
}

func (l *chromiumLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// tail returns the last n bytes of the output.
func (l *chromiumLog) tail(n int) string {
	s := l.String()
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// runWithin runs the first action on a chromedp context without putting a deadline on
// it; after d it cancels the context instead (which also ends what it started).
func runWithin(ctx context.Context, d time.Duration, a chromedp.Action[chromedp.Void]) error {
	done := make(chan error, 1)
	go func() {
		_, err := chromedp.Run(ctx, a)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = chromedp.Cancel(ctx)
		<-done
		return fmt.Errorf("no answer from chromium within %v", d)
	}
}

// JSString quotes s as a JavaScript string literal (JSON strings are valid JS strings).
func JSString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\n':
			sb.WriteString(`\n`)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
