// Package report renders results (text, JSON, JUnit) and owns the process's output streams:
// results on Out, progress and diagnostics on Err, colour only on a terminal and never when
// NO_COLOR is set. It is the only package that imports fatih/color.
package report

import (
	"fmt"
	"io"
	"os"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// Streams are the output streams of one command run.
type Streams struct {
	Out io.Writer // results: text report or JSON
	Err io.Writer // progress, warnings, log lines
	// ColorOut and ColorErr say whether ANSI colour may be written to Out / Err.
	ColorOut, ColorErr bool
	// ErrTTY says Err is a terminal, so a live status line (with \r) may be drawn.
	ErrTTY bool
	// Quiet silences progress on Err (errors are still printed).
	Quiet bool
}

// System returns streams on os.Stdout/os.Stderr with colour decided by TTY and NO_COLOR.
func System() *Streams {
	_, noColor := os.LookupEnv("NO_COLOR")
	outTTY := isTerminal(os.Stdout)
	errTTY := isTerminal(os.Stderr)
	return &Streams{
		Out: os.Stdout, Err: os.Stderr,
		ColorOut: outTTY && !noColor, ColorErr: errTTY && !noColor,
		ErrTTY: errTTY,
	}
}

// Buffers returns streams writing to the given writers with colour off: for tests.
func Buffers(out, err io.Writer) *Streams { return &Streams{Out: out, Err: err} }

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Progressf writes one progress line to Err unless Quiet.
func (s *Streams) Progressf(format string, args ...any) {
	if s.Quiet || s.Err == nil {
		return
	}
	fmt.Fprintf(s.Err, format+"\n", args...)
}

// Paint colours text with the given attributes when enabled is true.
func Paint(enabled bool, text string, attrs ...color.Attribute) string {
	if !enabled {
		return text
	}
	c := color.New(attrs...)
	c.EnableColor()
	return c.Sprint(text)
}

// Colours used across reports, named by meaning.
var (
	Good = []color.Attribute{color.FgGreen}
	Bad  = []color.Attribute{color.FgRed, color.Bold}
	Warn = []color.Attribute{color.FgYellow}
	Dim  = []color.Attribute{color.Faint}
	Head = []color.Attribute{color.Bold}
)

// Mark returns a pass/fail mark: "PASS"/"FAIL" (coloured when enabled).
func Mark(enabled, ok bool) string {
	if ok {
		return Paint(enabled, "PASS", Good...)
	}
	return Paint(enabled, "FAIL", Bad...)
}
