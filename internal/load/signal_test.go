package load

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/stats"
)

// startServe runs the real rtcctl server on a loopback ephemeral port.
func startServe(t *testing.T, turn bool) *serve.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := serve.Start(ctx, serve.Config{Addr: "127.0.0.1:0", TURN: turn})
	if err != nil {
		cancel()
		t.Fatalf("serve.Start: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		cancel()
	})
	return s
}

func TestSignalOnlyAgainstServe(t *testing.T) {
	t.Parallel()
	s := startServe(t, false)
	const rooms = 200
	var progress []Progress
	rep, err := Run(context.Background(), Config{
		Server: s.SignalURL(), Mode: ModeSignal, Rooms: rooms, Ramp: 400,
		Thresholds:       Thresholds{MaxP99MessageMs: 5000, MaxP95ConnectMs: 5000},
		Progress:         func(p Progress) { progress = append(progress, p) },
		ProgressInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Calls.Succeeded != rooms || rep.Calls.Planned != rooms || len(rep.Failures) != 0 {
		b, _ := json.MarshalIndent(rep.Failures, "", " ")
		t.Fatalf("pass=%v succeeded %d/%d, failures %s", rep.Pass, rep.Calls.Succeeded, rep.Calls.Planned, b)
	}
	sg := rep.Signal
	perRoom := 2 * (1 + DefaultCandidates)
	if sg.MessagesSent != rooms*perRoom || sg.MessagesRelayed != sg.MessagesSent {
		t.Fatalf("messages sent %d relayed %d, want %d each", sg.MessagesSent, sg.MessagesRelayed, rooms*perRoom)
	}
	if sg.Conns != 2*rooms || sg.DialFailures != 0 {
		t.Fatalf("conns %d dial failures %d", sg.Conns, sg.DialFailures)
	}
	checks := map[string]struct {
		d    *stats.Dist
		want int
	}{
		"join":      {sg.JoinMs, rooms},
		"relay":     {sg.RelayMs, rooms * perRoom},
		"offer":     {sg.OfferMs, rooms},
		"answer":    {sg.AnswerMs, rooms},
		"candidate": {sg.CandidateMs, rooms * 2 * DefaultCandidates},
		"leave":     {sg.LeaveMs, rooms},
	}
	for name, c := range checks {
		if int(c.d.Count()) != c.want {
			t.Errorf("%s latency samples %d, want %d", name, c.d.Count(), c.want)
		}
		sum := c.d.Summary()
		if sum.P50 <= 0 || sum.P99 < sum.P50 || sum.Max < sum.P99 {
			t.Errorf("%s percentiles implausible: %+v", name, sum)
		}
	}
	if sg.BytesSent < int64(rooms*(2*4000)) { // two SDPs of ~4 KB per room at least
		t.Errorf("bytes sent %d: SDPs smaller than a real offer/answer?", sg.BytesSent)
	}
	if sg.MessagesPerSec <= 0 {
		t.Errorf("messages/s %v", sg.MessagesPerSec)
	}
	if len(rep.Checks) != 3 {
		t.Errorf("checks %+v, want success, p95_connect, p99_message", rep.Checks)
	}
	if len(progress) == 0 || progress[len(progress)-1].Succeeded != rooms {
		t.Errorf("progress never reported the end: %+v", progress)
	}
	// The report is JSON and comes back the same.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Signal.RelayMs.Summary() != sg.RelayMs.Summary() || back.Calls != rep.Calls {
		t.Fatal("JSON round trip changed the report")
	}
}

func TestRealisticSDPSize(t *testing.T) {
	t.Parallel()
	offer, answer, err := realisticSDPs()
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"offer": offer, "answer": answer} {
		if len(s) < 2500 || len(s) > 8000 {
			t.Errorf("%s is %d bytes, want a browser-like 2.5-8 KB", name, len(s))
		}
	}
}
