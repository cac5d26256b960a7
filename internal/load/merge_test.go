package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fakeRunner is a deterministic media runner for aggregation tests: every seventh room
// fails ICE, every eleventh has no media, the rest connect with values derived from the
// room index (relay for even rooms).
func fakeRunner(_ context.Context, room Room, status func(LiveStatus)) CallResult {
	j := room.Index
	f := func(v float64) *float64 { return &v }
	status(LiveStatus{Connected: j%7 != 0, RxKbps: 900})
	switch {
	case j%7 == 0:
		return CallResult{Verdict: "ice-failed", Error: fmt.Sprintf("room %d: no candidate pair", j), PeerKnownMs: f(5)}
	case j%11 == 0:
		return CallResult{Verdict: "no-media", Error: "no frame", Connected: true, PeerKnownMs: f(5), ICEConnectedMs: f(40)}
	}
	return CallResult{
		OK: true, Connected: true, Relay: j%2 == 0,
		PeerKnownMs: f(float64(3 + j%5)), ICEConnectedMs: f(float64(20 + j%37)), FirstFrameMs: f(float64(100 + j*3%251)),
		Directions: []Direction{
			{FPS: f(float64(25 + j%6)), BitrateKbps: f(float64(400 + j%101)), LossPct: f(float64(j%13) / 10), LatencyMs: f(float64(30 + j%17))},
			{FPS: f(float64(24 + j%7)), BitrateKbps: f(float64(450 + j%53)), LossPct: f(0), LatencyMs: f(float64(31 + j%19))},
		},
	}
}

func fakeConfig(rooms int, shard Shard) Config {
	loss := 1.5
	return Config{
		Mode: ModeMedia, Rooms: rooms, Ramp: -1, Shard: shard, RoomPrefix: "t-",
		Runner:     fakeRunner,
		Thresholds: Thresholds{MinSuccessPct: 80, MaxP95ConnectMs: 400, MaxLossPct: &loss, MinFPS: 20},
	}
}

func viaJSON(t *testing.T, r *Report) *Report {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

func TestMediaAggregation(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), fakeConfig(77, Shard{}))
	if err != nil {
		t.Fatal(err)
	}
	// Rooms 0..76: 11 multiples of 7, and 6 multiples of 11 that are not (11,22,33,44,55,66).
	if rep.Calls.Planned != 77 || rep.Calls.Succeeded != 60 || rep.Calls.Failed != 17 {
		t.Fatalf("calls %+v, want 77 planned, 60 ok, 17 failed", rep.Calls)
	}
	want := []FailureGroup{{Verdict: "ice-failed", Count: 11}, {Verdict: "no-media", Count: 6}}
	if len(rep.Failures) != 2 || rep.Failures[0].Verdict != want[0].Verdict || rep.Failures[0].Count != 11 ||
		rep.Failures[1].Verdict != want[1].Verdict || rep.Failures[1].Count != 6 {
		t.Fatalf("failures %+v, want %+v", rep.Failures, want)
	}
	if len(rep.Failures[0].Rooms) != maxExampleRooms {
		t.Errorf("example rooms %v, want %d of them", rep.Failures[0].Rooms, maxExampleRooms)
	}
	m := rep.Media
	if m.Relay+m.Direct != 66 || m.FPS.Count() != 120 || m.ConnectMs[StageMedia].Count() != 60 {
		t.Fatalf("relay %d direct %d fps samples %d first-frame samples %d", m.Relay, m.Direct, m.FPS.Count(), m.ConnectMs[StageMedia].Count())
	}
	if rep.Calls.SuccessPct < 77.9 || rep.Calls.SuccessPct > 78 {
		t.Fatalf("success %v%%", rep.Calls.SuccessPct)
	}
	// 77.9% < 80% fails; the other checks pass on this data.
	got := map[string]bool{}
	for _, c := range rep.Checks {
		got[c.Name] = c.Pass
	}
	wantChecks := map[string]bool{"success": false, "p95_connect": true, "p95_loss": true, "p5_fps": true}
	if !reflect.DeepEqual(got, wantChecks) || rep.Pass {
		t.Fatalf("checks %v pass=%v, want %v and fail", got, rep.Pass, wantChecks)
	}
}

// TestMergeShardsEqualsOneRun: two shard reports, through JSON, merge into the report of
// one run over the same rooms: same counts, verdict groups and percentiles.
func TestMergeShardsEqualsOneRun(t *testing.T) {
	t.Parallel()
	const rooms = 301
	one, err := Run(context.Background(), fakeConfig(rooms, Shard{}))
	if err != nil {
		t.Fatal(err)
	}
	var parts []*Report
	for i := range 3 {
		r, err := Run(context.Background(), fakeConfig(rooms, Shard{Index: i, Count: 3}))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, viaJSON(t, r))
	}
	merged, err := Merge(parts...)
	if err != nil {
		t.Fatal(err)
	}
	// Peak concurrency is a property of each run's timing, not of the samples.
	merged.Calls.PeakRunning, one.Calls.PeakRunning = 0, 0
	if merged.Calls != one.Calls {
		t.Fatalf("calls: merged %+v, one run %+v", merged.Calls, one.Calls)
	}
	if len(merged.Shards) != 3 || merged.RoomsTotal != rooms {
		t.Fatalf("shards %v rooms total %d", merged.Shards, merged.RoomsTotal)
	}
	for i := range one.Failures {
		if merged.Failures[i].Verdict != one.Failures[i].Verdict || merged.Failures[i].Count != one.Failures[i].Count {
			t.Fatalf("failures: merged %+v, one run %+v", merged.Failures, one.Failures)
		}
	}
	pairs := map[string][2]*statsDist{
		"fps":         {merged.Media.FPS, one.Media.FPS},
		"bitrate":     {merged.Media.BitrateKbps, one.Media.BitrateKbps},
		"loss":        {merged.Media.LossPct, one.Media.LossPct},
		"latency":     {merged.Media.LatencyMs, one.Media.LatencyMs},
		"first_frame": {merged.Media.ConnectMs[StageMedia], one.Media.ConnectMs[StageMedia]},
		"ice":         {merged.Media.ConnectMs[StageICE], one.Media.ConnectMs[StageICE]},
	}
	for name, p := range pairs {
		ms, os := p[0].Summary(), p[1].Summary()
		if ms.P50 != os.P50 || ms.P95 != os.P95 || ms.P99 != os.P99 || ms.Count != os.Count || ms.Min != os.Min || ms.Max != os.Max {
			t.Errorf("%s: merged %+v, one run %+v", name, ms, os)
		}
	}
	if merged.Media.Relay != one.Media.Relay || merged.Media.RelaySharePct != one.Media.RelaySharePct {
		t.Errorf("relay: merged %d (%v%%), one run %d (%v%%)", merged.Media.Relay, merged.Media.RelaySharePct, one.Media.Relay, one.Media.RelaySharePct)
	}
	if len(merged.Checks) != len(one.Checks) {
		t.Fatalf("checks: merged %+v, one run %+v", merged.Checks, one.Checks)
	}
	for i := range one.Checks {
		if merged.Checks[i].Value != one.Checks[i].Value || merged.Checks[i].Pass != one.Checks[i].Pass {
			t.Errorf("check %s: merged %v/%v, one run %v/%v", one.Checks[i].Name,
				merged.Checks[i].Value, merged.Checks[i].Pass, one.Checks[i].Value, one.Checks[i].Pass)
		}
	}
	if merged.Pass != one.Pass {
		t.Errorf("pass: merged %v, one run %v", merged.Pass, one.Pass)
	}
}

func TestShardRoomsDisjoint(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	total := 0
	for i := range 4 {
		for _, r := range (Shard{Index: i, Count: 4}).Rooms("p-", 103) {
			for _, id := range []string{r.ID, r.CallerUID, r.CalleeUID} {
				if seen[id] {
					t.Fatalf("id %s appears in two shards", id)
				}
				seen[id] = true
			}
			total++
		}
	}
	if total != 103 {
		t.Fatalf("shards cover %d rooms, want 103", total)
	}
}

func TestParseShard(t *testing.T) {
	t.Parallel()
	cases := map[string]*Shard{
		"0/1": {0, 1}, "3/4": {3, 4}, " 2 / 8 ": {2, 8},
		"4/4": nil, "-1/3": nil, "1": nil, "a/b": nil, "0/0": nil, "": nil,
	}
	for in, want := range cases {
		got, err := ParseShard(in)
		if want == nil {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%q: err %v, want ErrConfig", in, err)
			}
			continue
		}
		if err != nil || got != *want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, *want)
		}
	}
}

func TestMergeRefuses(t *testing.T) {
	t.Parallel()
	a, err := Run(context.Background(), fakeConfig(10, Shard{Index: 0, Count: 2}))
	if err != nil {
		t.Fatal(err)
	}
	sig := &Report{Version: 1, Kind: "load", Mode: ModeSignal, Signal: newSignalStats(), Shards: []Shard{{1, 2}}}
	newer := viaJSON(t, a)
	newer.Version = SchemaVersion + 1
	newer.Shards = []Shard{{1, 2}}
	other := &Report{Version: 1, Kind: "call"}
	cases := map[string][]*Report{
		"same shard twice":  {a, viaJSON(t, a)},
		"modes differ":      {a, sig},
		"newer schema":      {a, newer},
		"not a load report": {a, other},
		"nothing":           nil,
	}
	for name, rs := range cases {
		if _, err := Merge(rs...); !errors.Is(err, ErrMerge) {
			t.Errorf("%s: err %v, want ErrMerge", name, err)
		}
	}
}

// TestMergeMissingShardFails: merging the reports of a run without one shard's report
// (a shard that crashed before writing its JSON) fails a "shards" check naming the missing
// shard, even though every merged room succeeded; merging all shards adds no such check.
func TestMergeMissingShardFails(t *testing.T) {
	t.Parallel()
	cfg := func(i int) Config {
		c := fakeConfig(30, Shard{Index: i, Count: 3})
		c.Thresholds = Thresholds{MinSuccessPct: 50}
		return c
	}
	var parts []*Report
	for i := range 3 {
		r, err := Run(context.Background(), cfg(i))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, viaJSON(t, r))
	}
	partial, err := Merge(parts[0], parts[2])
	if err != nil {
		t.Fatal(err)
	}
	var shards *Check
	for i := range partial.Checks {
		if partial.Checks[i].Name == "shards" {
			shards = &partial.Checks[i]
		}
	}
	if shards == nil || shards.Pass || partial.Pass || !strings.Contains(shards.Detail, "1/3") ||
		!strings.Contains(shards.Detail, "20 of the run's 30 rooms") {
		t.Fatalf("partial merge: pass=%v checks %+v; want a failing shards check naming 1/3", partial.Pass, partial.Checks)
	}
	// Re-evaluating (report merge with threshold flags) keeps the check.
	partial.Evaluate()
	if partial.Pass {
		t.Fatal("partial merge passes after Evaluate")
	}
	full, err := Merge(parts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range full.Checks {
		if c.Name == "shards" {
			t.Fatalf("complete merge has a shards check: %+v", c)
		}
	}
	if !full.Pass {
		t.Fatalf("complete merge fails: %+v", full.Checks)
	}
	// A single shard's own report is judged on its rooms only.
	if !parts[1].Pass {
		t.Fatalf("shard report fails: %+v", parts[1].Checks)
	}
}

// TestTesterOverloadedMachineWarns: a run on a machine whose load average is far above its
// cores (other processes, not the tester) carries a warning, even when the tester's own CPU
// and ticker look fine; a quiet machine gets none.
func TestTesterOverloadedMachineWarns(t *testing.T) {
	t.Parallel()
	busy := TesterStats{Cores: 2, CPUPct: 14, LoadAvg1: 8.4, TickLagMs: newDist(), StartLagMs: newDist()}
	busy.judge()
	if !busy.Saturated || len(busy.Warnings) != 1 || !strings.Contains(busy.Warnings[0], "load average 8.4 on 2 cores") {
		t.Fatalf("busy machine: saturated=%v warnings %q", busy.Saturated, busy.Warnings)
	}
	quiet := TesterStats{Cores: 2, CPUPct: 14, LoadAvg1: 1.3, TickLagMs: newDist(), StartLagMs: newDist()}
	quiet.judge()
	if quiet.Saturated || len(quiet.Warnings) != 0 {
		t.Fatalf("quiet machine: saturated=%v warnings %q", quiet.Saturated, quiet.Warnings)
	}
}
