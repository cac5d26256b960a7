package main

import (
	"errors"
	"fmt"
)

// Exit codes, documented in `rtcctl help`. Every command maps its outcome to one of these.
const (
	ExitOK         = 0 // everything ran and every check passed
	ExitCheckFail  = 1 // ran, and a check failed (the report says which)
	ExitUsage      = 2 // bad flags or arguments
	ExitCouldntRun = 3 // could not run: server unreachable, port in use, missing dependency
)

const exitCodesHelp = `EXIT CODES:
   0  passed: everything ran and every check passed
   1  checks failed: the run completed and the report says what failed
   2  usage error: bad flags or arguments
   3  could not run: unreachable server, port in use, bad TLS material, missing dependency`

// usageError is a bad flag or argument: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef builds a usage error (exit 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// checkFailed means the command ran and its report has failures (exit 1). The report has
// already been printed, so main prints only the one-line summary.
type checkFailed struct{ summary string }

func (e checkFailed) Error() string { return e.summary }

// couldNotRun wraps an error that kept the command from running (exit 3), with a hint
// that says what to do.
type couldNotRun struct {
	err  error
	hint string
}

func (e couldNotRun) Error() string {
	if e.hint == "" {
		return e.err.Error()
	}
	return e.err.Error() + " (" + e.hint + ")"
}
func (e couldNotRun) Unwrap() error { return e.err }

// cannotRun wraps err as exit 3 with a hint.
func cannotRun(err error, hint string) error { return couldNotRun{err: err, hint: hint} }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var u usageError
	var c checkFailed
	switch {
	case errors.As(err, &u):
		return ExitUsage
	case errors.As(err, &c):
		return ExitCheckFail
	default:
		return ExitCouldntRun
	}
}
