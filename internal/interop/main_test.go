package interop

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

// One Chromium process serves every browser test of the package (each test opens its own
// tabs in fresh browser contexts): launching costs 1-3 s on a busy 2-core machine.
var (
	browserOnce sync.Once
	browser     *testenv.Browser
	browserErr  error
	browserDir  string
)

// sharedBrowser returns the package's Chromium, starting it on first use.
func sharedBrowser(t *testing.T) *testenv.Browser {
	t.Helper()
	bin := testenv.ChromiumPath(t)
	browserOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtcctl-chromium-")
		if err != nil {
			browserErr = err
			return
		}
		browserDir = dir
		browser, browserErr = testenv.LaunchChromium(bin, dir, testenv.ChromiumOptions{})
	})
	if browserErr != nil {
		t.Fatalf("chromium: %v", browserErr)
	}
	return browser
}

// TestMain runs the package's tests in a network namespace holding only lo (as root; see
// testenv.MainInLoopbackNetns): Chromium, nginx, coturn and the peers can reach nothing but
// loopback and the namespaces the NAT lab makes.
func TestMain(m *testing.M) {
	code := testenv.MainInLoopbackNetns(m)
	if browser != nil {
		browser.Close()
	}
	if browserDir != "" {
		_ = os.RemoveAll(browserDir)
	}
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// lookPath is exec.LookPath with a test-friendly error.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: %w", name, err)
	}
	return p, nil
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
