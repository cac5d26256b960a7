package peer

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
	"github.com/rtcctl/rtcctl/internal/testenv"
)

// TestSignalDropMidCall: Debian nginx in front of the signaling server, as in the course
// deployment, with a short proxy_read_timeout: it cuts the quiet signaling websocket during
// a call. The verdict carries a note naming the proxy timeout and the keepalive fix. With
// the keepalive on, nothing is cut.
func TestSignalDropMidCall(t *testing.T) {
	t.Parallel()
	srv := signaltest.StartLegacy(t)
	u := strings.TrimPrefix(strings.TrimSuffix(srv.URL(), "/ws"), "ws://")
	for _, tc := range []struct {
		name      string
		keepalive time.Duration
		wantDrop  bool
	}{
		{"keepalive off", -1, true},
		{"keepalive on", 250 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := testenv.StartNginxWSProxy(t, testenv.NginxOptions{Upstream: u, ProxyReadTimeout: time.Second}).URL()
			rep := quickCall(t, CallConfig{Server: proxy, Keepalive: tc.keepalive, Duration: 2 * time.Second,
				VideoProfile: smallProfile, Send: &Media{Video: true}})
			notes := 0
			for _, p := range rep.Peers {
				if p.Signaling.Closed != nil {
					t.Logf("%s: websocket closed: code %d after %.0f ms of call", p.UID, p.Signaling.Closed.Code, p.Signaling.Closed.CallAgeMs)
				}
				for _, c := range p.Calls {
					for _, n := range c.Verdict.Notes {
						if n.Code == "signal-dropped" {
							notes++
							if !strings.Contains(n.Finding, "proxy_read_timeout") || !strings.Contains(n.Fix, "keepalive") {
								t.Errorf("note %q / fix %q does not name the proxy timeout and the keepalive", n.Finding, n.Fix)
							}
						}
					}
				}
			}
			if tc.wantDrop && notes == 0 {
				t.Fatalf("the proxy cut the websocket but no verdict says so")
			}
			if !tc.wantDrop && notes > 0 {
				t.Fatalf("keepalive on, yet the websocket dropped")
			}
			// The media path does not depend on the websocket: the first direction still
			// got media (the drop came after negotiation).
			if d := rep.Directions[0]; d.Video == nil || d.Video.FramesDecoded == 0 {
				t.Errorf("no video after the drop: %+v", d.Verdict)
			}
		})
	}
}

// TestRunStaysForNextPeer: without Once, a peer-leave ends the call and the session takes
// the next peer's call, as the browser client does.
func TestRunStaysForNextPeer(t *testing.T) {
	t.Parallel()
	callSlots <- struct{}{}
	defer func() { <-callSlots }()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("stay-" + RandomUID())
	base := Config{Server: srv.URL(), Room: room, Network: NetworkLoopback, Send: Media{Video: true}, VideoProfile: smallProfile,
		MediaTimeout: 4 * time.Second}
	var wg sync.WaitGroup
	var hostRes *Result
	var hostErr error
	host := base
	host.UID = signal.StringID("host")
	host.Duration = 8 * time.Second
	host.PeerTimeout = 2 * time.Second
	host.Logf = func(f string, a ...any) { t.Logf("host: "+f, a...) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		hostRes, hostErr = Run(context.Background(), host)
	}()
	time.Sleep(200 * time.Millisecond) // host joins first
	for i, uid := range []string{"guest-1", "guest-2"} {
		g := base
		g.UID = signal.StringID(uid)
		g.Duration = 1500 * time.Millisecond
		g.Logf = func(f string, a ...any) { t.Logf(uid+": "+f, a...) }
		res, err := Run(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Calls) != 1 || !res.Calls[0].Verdict.OK {
			t.Fatalf("guest %d: calls %d, verdict %+v", i+1, len(res.Calls), res.Verdict)
		}
		time.Sleep(200 * time.Millisecond) // the host sees peer-leave before the next joins
	}
	wg.Wait()
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	if len(hostRes.Calls) != 2 {
		t.Fatalf("host had %d calls, want 2", len(hostRes.Calls))
	}
	for i, c := range hostRes.Calls {
		if c.Role != "caller" || c.EndReason != "peer-leave" || !c.Verdict.OK {
			t.Errorf("call %d: role %s, end %s, verdict %s: %s", i+1, c.Role, c.EndReason, c.Verdict.Code, c.Verdict.Finding)
		}
	}
}

// TestRunOnceEndsAfterFirstCall: with Once the session ends when its first call ends (the
// peer left), well before its Duration; without Once it would wait for the next peer.
func TestRunOnceEndsAfterFirstCall(t *testing.T) {
	t.Parallel()
	callSlots <- struct{}{}
	defer func() { <-callSlots }()
	srv := signaltest.StartLegacy(t)
	room := signal.StringID("once-" + RandomUID())
	base := Config{Server: srv.URL(), Room: room, Network: NetworkLoopback, Send: Media{Video: true}, VideoProfile: smallProfile,
		MediaTimeout: 4 * time.Second, Logf: testLogf(t)}
	host := base
	host.Once, host.Duration = true, 20*time.Second
	type out struct {
		res *Result
		err error
		at  time.Time
	}
	done := make(chan out, 1)
	go func() {
		r, err := Run(context.Background(), host)
		done <- out{r, err, time.Now()}
	}()
	time.Sleep(200 * time.Millisecond) // host joins first
	guest := base
	guest.Duration = 1500 * time.Millisecond
	if _, err := Run(context.Background(), guest); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	var o out
	select {
	case o = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Once session still runs 10 s after its peer left")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	if el := o.at.Sub(left); el > 3*time.Second {
		t.Errorf("the Once session ended %v after its peer left", el)
	}
	if len(o.res.Calls) != 1 || o.res.Calls[0].EndReason != "peer-leave" || !o.res.Verdict.OK {
		t.Fatalf("host: %d calls, end %q, verdict %+v", len(o.res.Calls), endOf(o.res), o.res.Verdict)
	}
}
