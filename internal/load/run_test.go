package load

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunDeadline: when the run's deadline passes, rooms still running are cancelled and
// reported as "timeout", rooms never started as "not-started", and Run still returns a
// whole report.
func TestRunDeadline(t *testing.T) {
	t.Parallel()
	blocking := func(ctx context.Context, _ Room, _ func(LiveStatus)) CallResult {
		<-ctx.Done()
		return CallResult{}
	}
	start := time.Now()
	rep, err := Run(context.Background(), Config{
		Mode: ModeMedia, Rooms: 20, Ramp: 10, Timeout: 450 * time.Millisecond, Runner: blocking,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %v after a 450 ms deadline", took)
	}
	got := map[string]int{}
	for _, g := range rep.Failures {
		got[g.Verdict] = g.Count
	}
	// Rooms are due every 100 ms: about 5 start before the deadline.
	if got["timeout"] < 3 || got["timeout"] > 6 || got["timeout"]+got["not-started"] != 20 {
		t.Fatalf("verdicts %v, want ~5 timeout and the rest not-started", got)
	}
	if rep.Calls.Started != got["timeout"] || rep.Calls.Succeeded != 0 || rep.Pass {
		t.Fatalf("calls %+v pass %v", rep.Calls, rep.Pass)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]Config{
		"signal without server": {Mode: ModeSignal},
		"http server":           {Mode: ModeSignal, Server: "http://127.0.0.1:1/"},
		"media without runner":  {Mode: ModeMedia, Server: "ws://127.0.0.1:1/ws"},
		"unknown mode":          {Mode: "video", Server: "ws://127.0.0.1:1/ws"},
		"more shards than rooms": {Mode: ModeMedia, Runner: fakeRunner, Rooms: 2,
			Shard: Shard{Index: 0, Count: 3}},
		"success over 100": {Mode: ModeMedia, Runner: fakeRunner, Thresholds: Thresholds{MinSuccessPct: 120}},
	}
	for name, cfg := range cases {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
}

// TestSignalOnlyUnreachable: no server listening gives "dial" verdicts per room, not an
// error from Run.
func TestSignalOnlyUnreachable(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), Config{Mode: ModeSignal, Server: "ws://127.0.0.1:1/ws", Rooms: 3, Ramp: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Verdict != "dial" || rep.Failures[0].Count != 3 ||
		rep.Signal.DialFailures != 3 || rep.Signal.Conns != 0 {
		t.Fatalf("failures %+v, signal %+v", rep.Failures, rep.Signal)
	}
}

// TestRunnerPanicIsAVerdict: a runner that panics in one room fails that room only.
func TestRunnerPanicIsAVerdict(t *testing.T) {
	t.Parallel()
	runner := func(ctx context.Context, r Room, st func(LiveStatus)) CallResult {
		if r.Index == 2 {
			panic("boom")
		}
		return fakeRunner(ctx, r, st)
	}
	rep, err := Run(context.Background(), Config{Mode: ModeMedia, Rooms: 6, Ramp: -1, Runner: runner})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, g := range rep.Failures {
		got[g.Verdict] = g.Count
	}
	// Room 0 is a fakeRunner ice-failed room; room 2 panicked; 1, 3, 4, 5 succeed.
	if got["panic"] != 1 || got["ice-failed"] != 1 || rep.Calls.Succeeded != 4 {
		t.Fatalf("verdicts %v, calls %+v", got, rep.Calls)
	}
}

// TestRunInterrupted: a run stopped from outside (Ctrl-C cancels ctx) says so: it is
// marked interrupted, fails the "interrupted" check, and the rooms it never started are
// "not-started" because of the interruption, not of a deadline.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	blocking := func(ctx context.Context, _ Room, _ func(LiveStatus)) CallResult {
		<-ctx.Done()
		return CallResult{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, Config{Mode: ModeMedia, Rooms: 20, Ramp: 10, Timeout: time.Minute, Runner: blocking})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Pass {
		t.Fatalf("interrupted %v pass %v, want an interrupted, failed run", rep.Interrupted, rep.Pass)
	}
	var check *Check
	for i := range rep.Checks {
		if rep.Checks[i].Name == "interrupted" {
			check = &rep.Checks[i]
		}
	}
	if check == nil || check.Pass || !strings.Contains(check.Detail, "of 20 rooms started") {
		t.Fatalf("checks %+v, want a failed interrupted check", rep.Checks)
	}
	for _, g := range rep.Failures {
		if g.Verdict == "not-started" && !strings.Contains(g.Example, "interrupted") {
			t.Fatalf("not-started rooms explained as %q", g.Example)
		}
	}
	// A run that merely hits its own deadline is not "interrupted".
	rep, err = Run(context.Background(), Config{Mode: ModeMedia, Rooms: 5, Ramp: 10, Timeout: 200 * time.Millisecond, Runner: blocking})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Interrupted {
		t.Fatal("a run that hit its own deadline is marked interrupted")
	}
}

// TestRampPacesRoomStarts: --ramp R starts room k at k/R seconds (a rate limit, not a
// burst); ramp -1 starts every room at once.
func TestRampPacesRoomStarts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ramp    float64
		minSpan time.Duration
		maxSpan time.Duration
	}{
		{name: "10 rooms/s", ramp: 10, minSpan: 450 * time.Millisecond, maxSpan: 3 * time.Second},
		{name: "all at once", ramp: -1, minSpan: 0, maxSpan: 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rooms = 6
			var mu sync.Mutex
			var starts []time.Time
			runner := func(ctx context.Context, room Room, _ func(LiveStatus)) CallResult {
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
				return CallResult{OK: true}
			}
			rep, err := Run(context.Background(), Config{Mode: ModeMedia, Runner: runner, Rooms: rooms, Ramp: tc.ramp})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(starts) != rooms || rep.Calls.Started != rooms {
				t.Fatalf("%d runner calls, report started %d; want %d", len(starts), rep.Calls.Started, rooms)
			}
			first, last := starts[0], starts[0]
			for _, s := range starts {
				if s.Before(first) {
					first = s
				}
				if s.After(last) {
					last = s
				}
			}
			// Room 5 is due 0.5 s after room 0 at 10 rooms/s.
			if span := last.Sub(first); span < tc.minSpan || span > tc.maxSpan {
				t.Errorf("rooms started over %v, want between %v and %v", span, tc.minSpan, tc.maxSpan)
			}
		})
	}
}
