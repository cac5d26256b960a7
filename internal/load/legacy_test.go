package load

import (
	"context"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// TestSignalOnlyAgainstLegacyServer: the deployed servers are copies of the original
// Node.js server, which is silent to a first joiner and re-serialises every relay. The
// signal-only rooms must work against its stand-in too, holding the room for a while.
func TestSignalOnlyAgainstLegacyServer(t *testing.T) {
	t.Parallel()
	l := signaltest.StartLegacy(t)
	const rooms = 50
	rep, err := Run(context.Background(), Config{
		Server: l.URL(), Mode: ModeSignal, Rooms: rooms, Ramp: 200, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || rep.Calls.Succeeded != rooms {
		t.Fatalf("succeeded %d/%d, failures %+v", rep.Calls.Succeeded, rooms, rep.Failures)
	}
	sg := rep.Signal
	if sg.MessagesSent != rooms*22 || sg.MessagesRelayed != sg.MessagesSent || sg.JoinMs.Count() != rooms || sg.LeaveMs.Count() != rooms {
		t.Fatalf("messages %d/%d, join samples %d, leave samples %d", sg.MessagesRelayed, sg.MessagesSent, sg.JoinMs.Count(), sg.LeaveMs.Count())
	}
	if sg.PeakConns < 2 || sg.PeakConns > 2*rooms {
		t.Fatalf("peak conns %d", sg.PeakConns)
	}
	if l.ProcessDied() {
		t.Fatalf("the stand-in crashed: %s", l.CrashReason())
	}
}

// TestSignalOnlyRoomFull: a room already held by two others (stale members of an earlier
// run, say) fails with the verdict the server makes possible: "join-silent" on the
// original server, which never answers a third joiner, "room-full" on rtcctl serve, which
// says so. The other room of the run is unaffected.
func TestSignalOnlyRoomFull(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		url     func(t *testing.T) string
		verdict string
	}{
		{"original server", func(t *testing.T) string { return signaltest.StartLegacy(t).URL() }, "join-silent"},
		{"rtcctl serve", func(t *testing.T) string { return startServe(t, false).SignalURL() }, "room-full"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := c.url(t)
			squatters := newSquatters(t, url, "full-0")
			defer squatters()
			rep, err := Run(context.Background(), Config{
				Server: url, Mode: ModeSignal, Rooms: 2, RoomPrefix: "full-", Ramp: -1, RoomTimeout: time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Calls.Succeeded != 1 || len(rep.Failures) != 1 || rep.Failures[0].Verdict != c.verdict ||
				rep.Failures[0].Rooms[0] != "full-0" {
				t.Fatalf("calls %+v failures %+v, want full-0 failed as %s", rep.Calls, rep.Failures, c.verdict)
			}
		})
	}
}

// newSquatters joins two members to room and keeps them there until the returned func
// is called.
func newSquatters(t *testing.T, url, room string) func() {
	t.Helper()
	env, err := newSignalEnv(Config{Server: url, RoomTimeout: 5 * time.Second}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var conns []*wsConn
	for _, uid := range []string{"squatter-1", "squatter-2"} {
		c, err := env.dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.send(signal.Message{Cmd: signal.CmdJoin, RoomID: signal.StringID(room), UID: signal.StringID(uid)}); err != nil {
			t.Fatal(err)
		}
	}
	// A resp-join to one and a new-peer to the other prove both are in. The two joins
	// race on their own connections, so either squatter may be the one that came second.
	got := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for _, c := range conns {
		select {
		case f := <-c.in:
			if f.err != nil {
				t.Fatalf("squatter got %+v", f)
			}
			got[f.m.Cmd] = true
		case <-deadline:
			t.Fatal("squatters never met")
		}
	}
	if !got["resp-join"] || !got["new-peer"] {
		t.Fatalf("squatters got %v, want one resp-join and one new-peer", got)
	}
	return func() {
		for _, c := range conns {
			c.close()
		}
	}
}
