package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// Millis is a duration that encodes in JSON as fractional milliseconds.
type Millis time.Duration

// MarshalJSON writes the duration as milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	ms := float64(time.Duration(m)) / float64(time.Millisecond)
	return []byte(strconv.FormatFloat(math.Round(ms*1000)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads fractional milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*m = Millis(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// D returns the value as a time.Duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

// String formats like time.Duration, rounded for reading.
func (m Millis) String() string { return roundDur(time.Duration(m)).String() }

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// Check is one pass/fail row of a report.
type Check struct {
	// Name identifies the check ("connect", "allocate", ...).
	Name string `json:"name"`
	// OK is true when the check passed.
	OK bool `json:"ok"`
	// Skipped is true when the check did not run (Detail says why); it counts as passed.
	Skipped bool `json:"skipped,omitempty"`
	// Elapsed is how long the stage took.
	Elapsed Millis `json:"elapsed_ms"`
	// Detail is a one-line description of what was seen.
	Detail string `json:"detail,omitempty"`
	// Fix says what to do when the check failed.
	Fix string `json:"fix,omitempty"`
}

// RTTStats summarises round-trip times.
type RTTStats struct {
	Count int    `json:"count"`
	Min   Millis `json:"min_ms"`
	P50   Millis `json:"p50_ms"`
	P95   Millis `json:"p95_ms"`
	P99   Millis `json:"p99_ms"`
	Max   Millis `json:"max_ms"`
}

// rttStats computes nearest-rank percentiles of samples.
func rttStats(samples []time.Duration) RTTStats {
	if len(samples) == 0 {
		return RTTStats{}
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) Millis {
		rank := int(math.Ceil(p/100*float64(len(s)))) - 1
		if rank < 0 {
			rank = 0
		}
		return Millis(s[rank])
	}
	return RTTStats{
		Count: len(s), Min: Millis(s[0]), Max: Millis(s[len(s)-1]),
		P50: pct(50), P95: pct(95), P99: pct(99),
	}
}

// allOK reports whether every check passed or was skipped.
func allOK(checks []Check) bool {
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			return false
		}
	}
	return true
}

// remaining returns min(stage, time left on ctx).
func stageTimeout(deadline time.Time, stage time.Duration) time.Duration {
	if deadline.IsZero() {
		return stage
	}
	left := time.Until(deadline)
	if left < stage {
		return left
	}
	return stage
}

func sortStrings(s []string) { sort.Strings(s) }

// markInterrupted records that the caller cancelled the probe (not a probe deadline): the
// report is incomplete, so it cannot pass, and a warning says why rows may have failed.
func markInterrupted(parent context.Context, interrupted, ok *bool, warnings *[]string, elapsed Millis) {
	if !errors.Is(parent.Err(), context.Canceled) {
		return
	}
	*interrupted, *ok = true, false
	*warnings = append(*warnings, fmt.Sprintf("interrupted after %s: the probe did not finish, so failed rows may only have been cut short", elapsed))
}
