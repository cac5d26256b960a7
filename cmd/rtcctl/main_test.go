package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rtcctl/rtcctl/internal/report"
)

// execMainForTest runs the CLI in-process with buffers and returns exit code, stdout, stderr.
func execMainForTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), report.Buffers(&out, &errb), append([]string{"rtcctl"}, args...))
	return code, out.String(), errb.String()
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	code, out, _ := execMainForTest(t, "help")
	if code != ExitOK {
		t.Fatalf("help exit %d", code)
	}
	for _, want := range []string{"EXIT CODES", "0  passed", "1  checks failed", "2  usage error", "3  could not run"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// TestHelpListsEveryCommandWithExamples: the top-level help names every command and has
// examples, and every command's own help has examples that run that command.
func TestHelpListsEveryCommandWithExamples(t *testing.T) {
	code, out, _ := execMainForTest(t, "help")
	if code != ExitOK {
		t.Fatalf("help exit %d", code)
	}
	if !strings.Contains(out, "Examples:") {
		t.Errorf("top-level help has no examples:\n%s", out)
	}
	app := newApp(report.Buffers(&bytes.Buffer{}, &bytes.Buffer{}))
	for _, c := range app.Commands {
		if c.Hidden || c.Name == "help" {
			continue
		}
		if !strings.Contains(out, "   "+c.Name+" ") {
			t.Errorf("top-level help does not list %s", c.Name)
		}
		code, sub, _ := execMainForTest(t, "help", c.Name)
		if code != ExitOK || !strings.Contains(sub, "Examples:") || !strings.Contains(sub, "rtcctl "+c.Name+" ") {
			t.Errorf("rtcctl help %s: exit %d, no examples running it:\n%s", c.Name, code, sub)
		}
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	code, _, errOut := execMainForTest(t, "frobnicate")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	code, _, errOut := execMainForTest(t, "--no-such-flag")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d (stderr %q)", code, ExitUsage, errOut)
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := execMainForTest(t, "--version")
	if code != ExitOK || !strings.Contains(out, "rtcctl version") {
		t.Fatalf("exit %d out %q", code, out)
	}
}

func TestExitCodeMapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", usagef("bad --fps %q", "x"), ExitUsage},
		{"check", checkFailed{summary: "1 check failed"}, ExitCheckFail},
		{"cannot run", cannotRun(context.DeadlineExceeded, "is the server up?"), ExitCouldntRun},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Fatalf("exitCode = %d, want %d", got, tc.want)
			}
		})
	}
}
