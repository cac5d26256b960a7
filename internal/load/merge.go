package load

import (
	"fmt"
	"time"
)

// Merge combines reports of shards (or of separate runs) into one. Counts and verdict
// groups are summed and distributions merged; every percentile of the result is computed
// from the merged distributions, and the checks are re-evaluated with the first report's
// thresholds (set r.Thresholds and call Evaluate to use others). The inputs are not
// changed. A merge of one run that lacks a shard's report gets a failing "shards" check
// (a crashed shard must not pass as a smaller run). Reports of different modes, of a newer schema, or the same shard of the same
// run twice are refused with ErrMerge.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("%w: no reports", ErrMerge)
	}
	first := reports[0]
	out := &Report{
		Version: SchemaVersion, Kind: "load", Mode: first.Mode, Server: first.Server,
		RoomPrefix: first.RoomPrefix, RoomsTotal: first.RoomsTotal, DurationMs: first.DurationMs,
		Thresholds: first.Thresholds, Started: first.Started,
	}
	switch first.Mode {
	case ModeSignal:
		out.Signal = newSignalStats()
	case ModeMedia:
		out.Media = newMediaStats()
	}
	out.Tester = TesterStats{TickLagMs: newDist(), StartLagMs: newDist()}
	seen := map[string]int{}
	groups := map[string]int{} // verdict -> index in out.Failures
	sameTotal := true
	var end time.Time
	for i, r := range reports {
		if r == nil {
			return nil, fmt.Errorf("%w: report %d is empty", ErrMerge, i+1)
		}
		if r.Kind != "load" {
			return nil, fmt.Errorf("%w: report %d is not a load report (kind %q)", ErrMerge, i+1, r.Kind)
		}
		if r.Version > SchemaVersion || r.Version < 1 {
			return nil, fmt.Errorf("%w: report %d has schema version %d (this rtcctl reads up to %d)", ErrMerge, i+1, r.Version, SchemaVersion)
		}
		if r.Mode != first.Mode {
			return nil, fmt.Errorf("%w: report %d is %s, report 1 is %s", ErrMerge, i+1, r.Mode, first.Mode)
		}
		if (r.Mode == ModeSignal && r.Signal == nil) || (r.Mode == ModeMedia && r.Media == nil) {
			return nil, fmt.Errorf("%w: report %d has no %s measurements", ErrMerge, i+1, r.Mode)
		}
		for _, s := range r.Shards {
			key := r.RoomPrefix + "|" + s.String()
			if j, dup := seen[key]; dup {
				return nil, fmt.Errorf("%w: reports %d and %d both cover shard %s of run %q", ErrMerge, j, i+1, s, r.RoomPrefix)
			}
			seen[key] = i + 1
			out.Shards = append(out.Shards, s)
		}
		if r.RoomsTotal != first.RoomsTotal {
			sameTotal = false
		}
		if r.RoomPrefix != first.RoomPrefix {
			out.RoomPrefix = ""
		}
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if e := r.Started.Add(time.Duration(r.ElapsedMs * float64(time.Millisecond))); e.After(end) {
			end = e
		}
		out.Calls.Planned += r.Calls.Planned
		out.Calls.Started += r.Calls.Started
		out.Calls.Succeeded += r.Calls.Succeeded
		out.Calls.PeakRunning += r.Calls.PeakRunning
		out.Interrupted = out.Interrupted || r.Interrupted
		for _, g := range r.Failures {
			j, ok := groups[g.Verdict]
			if !ok {
				groups[g.Verdict] = len(out.Failures)
				out.Failures = append(out.Failures, FailureGroup{Verdict: g.Verdict, Example: g.Example})
				j = len(out.Failures) - 1
			}
			og := &out.Failures[j]
			og.Count += g.Count
			for _, room := range g.Rooms {
				if len(og.Rooms) < maxExampleRooms {
					og.Rooms = append(og.Rooms, room)
				}
			}
		}
		if r.Signal != nil && out.Signal != nil {
			out.Signal.merge(r.Signal.withDists())
		}
		if r.Media != nil && out.Media != nil {
			out.Media.merge(r.Media.withDists())
		}
		t := r.Tester
		out.Tester.Cores += t.Cores
		out.Tester.CPUSeconds += t.CPUSeconds
		out.Tester.CPUPct = max(out.Tester.CPUPct, t.CPUPct)
		out.Tester.MaxRSSMB = max(out.Tester.MaxRSSMB, t.MaxRSSMB)
		out.Tester.LoadAvg1 = max(out.Tester.LoadAvg1, t.LoadAvg1)
		out.Tester.TickLagMs.Merge(t.TickLagMs)
		out.Tester.StartLagMs.Merge(t.StartLagMs)
	}
	if !sameTotal {
		out.RoomsTotal = out.Calls.Planned
	}
	out.Merged = len(reports)
	out.ElapsedMs = ms(end.Sub(out.Started))
	if out.Failures == nil {
		out.Failures = []FailureGroup{}
	}
	out.Evaluate()
	return out, nil
}

// withDists returns s with nil distributions (absent from hand-written JSON) replaced by
// empty ones.
func (s *SignalStats) withDists() *SignalStats {
	c := *s
	for _, p := range []**statsDist{&c.JoinMs, &c.RelayMs, &c.OfferMs, &c.AnswerMs, &c.CandidateMs, &c.LeaveMs} {
		if *p == nil {
			*p = newDist()
		}
	}
	return &c
}

func (m *MediaStats) withDists() *MediaStats {
	c := *m
	for _, p := range []**statsDist{&c.FPS, &c.BitrateKbps, &c.LossPct, &c.LatencyMs} {
		if *p == nil {
			*p = newDist()
		}
	}
	return &c
}
