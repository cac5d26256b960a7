package serve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rtcctl/rtcctl/internal/testenv"
)

// pageState is what the test reads from window.rtcctl.
type pageState struct {
	WS             string `json:"ws"`
	Joined         bool   `json:"joined"`
	Role           string `json:"role"`
	RemoteUID      string `json:"remoteUid"`
	Connection     string `json:"connection"`
	Calls          int    `json:"calls"`
	ConnectedCalls int    `json:"connectedCalls"`
	Notice         string `json:"notice"`
	Frames         int    `json:"frames"`
	Local          string `json:"local"`
	Remote         string `json:"remote"`
}

const readState = `(async () => {
  const s = window.rtcctl.state, st = await window.rtcctl.stats();
  return {ws: s.ws, joined: s.joined, role: s.role || "", remoteUid: s.remoteUid || "",
    connection: s.connection, calls: s.calls, connectedCalls: s.connectedCalls, notice: s.notice,
    frames: st ? st.framesDecoded : 0, local: st && st.localCandidateType || "", remote: st && st.remoteCandidateType || ""};
})()`

func evalState(t *testing.T, tab context.Context) pageState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read window.rtcctl: %v", err)
	}
	return st
}

// waitState polls both tabs until ok holds, or fails with both states.
func waitState(t *testing.T, what string, a, b context.Context, ok func(a, b pageState) bool) (pageState, pageState) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		sa, sb := evalState(t, a), evalState(t, b)
		if ok(sa, sb) {
			return sa, sb
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 60 s:\nA %+v\nB %+v", what, sa, sb)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCallPageInChromium drives the embedded call page in two headless Chromium tabs
// through serve's signaling and embedded TURN, relay-only, one tab sending web-format
// candidates and the other android-format ones; then one tab leaves and rejoins and a
// second call connects, as the course client does.
func TestCallPageInChromium(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{TURN: true})
	br := testenv.StartChromium(t, testenv.ChromiumOptions{})
	a, b := br.NewTab(t), br.NewTab(t)
	nav := func(tab context.Context, query string) {
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(s.HTTPURL()+query)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
	}
	nav(a, "?room=100&autojoin=1&relay=1&format=web&uid=alice")
	alone, _ := waitState(t, "alice joined", a, a, func(x, _ pageState) bool { return x.Joined && x.WS == "open" })
	// The tabs' joins travel on separate connections: the roles below (alice caller) hold
	// only if the server took alice's join before bob's tab opens.
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Signal.Members != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("alice's join not taken by the server: %+v", s.Stats().Signal)
		}
	}
	// A person alone in the room is told how to get a peer in: the page's own address with
	// the room, and the help line says to join the same room from a second tab.
	if want := s.HTTPURL() + "?room=100&autojoin=1&relay=1"; !strings.Contains(alone.Notice, want) {
		t.Errorf("notice while alone %q does not name the invite URL %q", alone.Notice, want)
	}
	{
		ctx, cancel := context.WithTimeout(a, 10*time.Second)
		help, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("help").innerText`))
		cancel()
		if err != nil || !strings.Contains(help, "second tab") || !strings.Contains(help, "same room") {
			t.Errorf("help line %q (%v) does not explain the two-tab call", help, err)
		}
	}
	nav(b, "?room=100&autojoin=1&relay=1&uid=bob")

	sa, sb := waitState(t, "relay call connected with video", a, b, func(x, y pageState) bool {
		return x.Connection == "connected" && y.Connection == "connected" && x.Frames > 5 && y.Frames > 5
	})
	if sa.Role != "caller" || sb.Role != "callee" || sa.RemoteUID != "bob" || sb.RemoteUID != "alice" {
		t.Fatalf("roles: A %+v B %+v", sa, sb)
	}
	if sa.Local != "relay" || sb.Local != "relay" {
		t.Fatalf("relay-only call used local candidates %q / %q, want relay", sa.Local, sb.Local)
	}
	if st := s.Stats(); st.TURN == nil || st.TURN.AllocationsTotal < 2 {
		t.Fatalf("TURN stats %+v, want allocations from both tabs", st.TURN)
	}

	// A third tab is refused: it says the room is full and what to do, and releases its
	// camera; the call goes on.
	c := br.NewTab(t)
	nav(c, "?room=100&autojoin=1&uid=carol")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(c, 10*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`window.rtcctl.state.full ? (window.rtcctl.localStream ? "camera on: " : "") + window.rtcctl.state.notice : ""`))
		cancel()
		if err != nil {
			t.Fatalf("read third tab: %v", err)
		}
		if got != "" {
			if !strings.HasPrefix(got, "room 100 is full") || !strings.Contains(got, "another room") {
				t.Fatalf("third tab refused with %q; want the room named, no camera, and another room suggested", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("third tab: no full answer in 60 s")
		}
	}
	if x, _ := waitState(t, "call survives the refused third tab", a, b, func(x, y pageState) bool { return true }); x.Connection != "connected" {
		t.Fatalf("alice after the third tab: %+v", x)
	}

	// Bob leaves: Alice closes her PeerConnection but stays in the room.
	run := func(tab context.Context, js string) {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	run(b, `window.rtcctl.leave()`)
	waitState(t, "alice sees peer-leave", a, b, func(x, y pageState) bool {
		return x.Joined && x.RemoteUID == "" && x.Connection == "-" && !y.Joined
	})
	// Bob rejoins: Alice gets new-peer again and a second call connects.
	run(b, `window.rtcctl.join("100")`)
	waitState(t, "second call connected", a, b, func(x, y pageState) bool {
		return x.ConnectedCalls == 2 && y.Connection == "connected" && x.Connection == "connected"
	})
	for name, tab := range map[string]context.Context{"A": a, "B": b} {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		errs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`window.rtcctl.log.filter(e => /error/.test(e.ev)).map(e => e.ev + " " + e.detail)`))
		cancel()
		if err != nil || len(errs) > 0 {
			t.Errorf("tab %s logged errors %q (%v)", name, errs, err)
		}
	}
	t.Logf("calls: A %+v / B %+v", sa, sb)
}
