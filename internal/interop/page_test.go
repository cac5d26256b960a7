package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// callPage drives one tab of serve's call page through its window.rtcctl hooks
// (internal/serve/web/app.js).
type callPage struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// pageState mirrors window.rtcctl.state.
type pageState struct {
	WS             string `json:"ws"`
	Room           string `json:"room"`
	UID            string `json:"uid"`
	RemoteUID      string `json:"remoteUid"`
	Role           string `json:"role"`
	Joined         bool   `json:"joined"`
	ICE            string `json:"ice"`
	Connection     string `json:"connection"`
	Format         string `json:"format"`
	Relay          bool   `json:"relay"`
	Notice         string `json:"notice"`
	Calls          int    `json:"calls"`
	ConnectedCalls int    `json:"connectedCalls"`
}

// pageStats mirrors window.rtcctl.stats().
type pageStats struct {
	BytesReceived       int64  `json:"bytesReceived"`
	BytesSent           int64  `json:"bytesSent"`
	FramesDecoded       int64  `json:"framesDecoded"`
	AudioBytesReceived  int64  `json:"audioBytesReceived"`
	VideoBytesReceived  int64  `json:"videoBytesReceived"`
	LocalCandidateType  string `json:"localCandidateType"`
	RemoteCandidateType string `json:"remoteCandidateType"`
	Protocol            string `json:"protocol"`
}

// loopbackOnlyHook keeps Chromium's signaled candidates on loopback: the browser also
// gathers host candidates on the machine's other interfaces, and the tests must send
// traffic only to 127.0.0.0/8 and ::1, so candidates with any other address are not
// handed to the page's onicecandidate handler (and so never reach the remote peer).
const loopbackOnlyHook = `(() => {
  const d = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, 'onicecandidate');
  Object.defineProperty(RTCPeerConnection.prototype, 'onicecandidate', {
    configurable: true,
    get() { return d.get.call(this); },
    set(fn) {
      d.set.call(this, fn && function (e) {
        const a = e.candidate && e.candidate.address;
        if (a && !/^(127\.|::1$)/.test(a)) return;
        return fn.call(this, e);
      });
    },
  });
})();`

// smallCameraHook asks Chrome's fake camera for 320x240 at 15 fps (the page asks for any
// camera, which is 640x480): the same call at a quarter of the encoding cost, so a busy
// 2-core CI machine measures interop and not CPU starvation.
const smallCameraHook = `(() => {
  const md = navigator.mediaDevices, orig = md.getUserMedia.bind(md);
  md.getUserMedia = c => orig(c && c.video === true
    ? Object.assign({}, c, {video: {width: 320, height: 240, frameRate: 15}}) : c);
})();`

// configHook answers the page's fetch('/config') with iceConfig (a JSON RTCConfiguration):
// serve hands out only its embedded TURN server, and this points the browser at another
// one (coturn) without changing serve.
func configHook(iceConfig string) string {
	return `(() => { const cfg = ` + iceConfig + `; const orig = window.fetch.bind(window);
  window.fetch = (u, o) => String(u).startsWith('/config')
    ? Promise.resolve(new Response(JSON.stringify(cfg), {headers: {'Content-Type': 'application/json'}}))
    : orig(u, o); })();`
}

// openCallPage opens url in a new tab (fresh browser context) of the shared browser, with
// the loopback-only candidate hook and, when iceConfig is given, the /config override.
func openCallPage(t *testing.T, name, url string, iceConfig ...string) *callPage {
	t.Helper()
	p := &callPage{t: t, name: name, ctx: sharedBrowser(t).NewTab(t)}
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	hooks := []string{loopbackOnlyHook, smallCameraHook}
	for _, c := range iceConfig {
		hooks = append(hooks, configHook(c))
	}
	steps := []chromedp.Action[chromedp.Void]{}
	for _, h := range hooks {
		steps = append(steps, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: h})
			return err
		}))
	}
	steps = append(steps, chromedp.Navigate(url))
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: navigate %s: %v", name, url, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s page log:\n%s", name, p.logText())
		}
	})
	return p
}

// eval evaluates js in the page (awaiting a promise) with a 10 s bound.
func evalIn[T any](p *callPage, js string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

func (p *callPage) state() pageState {
	p.t.Helper()
	st, err := evalIn[pageState](p, `window.rtcctl ? window.rtcctl.state : null`)
	if err != nil {
		p.t.Fatalf("%s: read state: %v", p.name, err)
	}
	return st
}

func (p *callPage) stats() pageStats {
	p.t.Helper()
	st, err := evalIn[*pageStats](p, `window.rtcctl.stats()`)
	if err != nil {
		p.t.Fatalf("%s: read stats: %v", p.name, err)
	}
	if st == nil {
		return pageStats{}
	}
	return *st
}

func (p *callPage) do(js string) {
	p.t.Helper()
	if _, err := evalIn[chromedp.Void](p, js); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
}

// logText returns the page's event log, one event per line (best effort).
func (p *callPage) logText() string {
	s, err := evalIn[string](p, `(window.rtcctl ? window.rtcctl.log : []).map(e => (e.t/1000).toFixed(3)+" "+e.ev+" "+e.detail).join("\n")`)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return s
}

// waitState polls the page state until cond holds or timeout passes.
func (p *callPage) waitState(what string, timeout time.Duration, cond func(pageState) bool) pageState {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := p.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s: not within %v; state %+v", p.name, what, timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mediaSample is what a page received over an interval.
type mediaSample struct {
	FPS        float64 // frames decoded per second
	AudioBytes int64   // audio bytes received during the interval
	Stats      pageStats
}

// measureMedia samples the page's receive stats over d.
func (p *callPage) measureMedia(d time.Duration) mediaSample {
	p.t.Helper()
	a := p.stats()
	start := time.Now()
	time.Sleep(d)
	b := p.stats()
	el := time.Since(start).Seconds()
	return mediaSample{
		FPS:        float64(b.FramesDecoded-a.FramesDecoded) / el,
		AudioBytes: b.AudioBytesReceived - a.AudioBytesReceived,
		Stats:      b,
	}
}

// requireMedia asserts the page decodes video at >= minFPS and receives audio.
func (p *callPage) requireMedia(minFPS float64) mediaSample {
	p.t.Helper()
	// Wait for the first frames (keyframe after DTLS), then measure a steady interval.
	deadline := time.Now().Add(15 * time.Second)
	for p.stats().FramesDecoded < 5 {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no video frames decoded within 15 s; stats %+v", p.name, p.stats())
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := p.measureMedia(2 * time.Second)
	if m.FPS < minFPS {
		p.t.Errorf("%s: video decodes at %.1f fps, want >= %.0f", p.name, m.FPS, minFPS)
	}
	// Opus at 20 ms frames: > 40 packets of > 10 bytes in 2 s even for silence/tones.
	if m.AudioBytes < 1000 {
		p.t.Errorf("%s: only %d audio bytes received in 2 s", p.name, m.AudioBytes)
	}
	return m
}

// randomRoom returns a room id no other test uses.
func randomRoom() string { return fmt.Sprintf("%d", 100000+rand.IntN(900000)) }

// pageURL builds serve's page URL with automation parameters.
func pageURL(base, room string, params ...string) string {
	q := []string{"room=" + room}
	q = append(q, params...)
	return strings.TrimRight(base, "/") + "/?" + strings.Join(q, "&")
}
