package interop

import (
	"strings"
	"testing"
	"time"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// videoInbound is Chromium's inbound-rtp video entry with its codec.
type videoInbound struct {
	FramesDecoded int64  `json:"framesDecoded"`
	Codec         string `json:"codec"` // mimeType, e.g. "video/H264"
	SDPFmtpLine   string `json:"fmtp"`
	Decoder       string `json:"decoder"` // decoderImplementation
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	KeyFrames     int64  `json:"keyFrames"`
}

// videoInboundJS reads the first video inbound-rtp entry of the page's PeerConnection.
const videoInboundJS = `window.rtcctl.pc.getStats().then(r => {
  let out = null;
  r.forEach(s => {
    if (s.type !== 'inbound-rtp' || s.kind !== 'video' || out) return;
    const c = s.codecId ? r.get(s.codecId) : null;
    out = {framesDecoded: s.framesDecoded || 0, codec: c ? c.mimeType : '', fmtp: c ? (c.sdpFmtpLine || '') : '',
      decoder: s.decoderImplementation || '', width: s.frameWidth || 0, height: s.frameHeight || 0,
      keyFrames: s.keyFramesDecoded || 0};
  });
  return out;
})`

// TestBrowserReceivesRtcctlH264: rtcctl --codec h264 calls headless Chromium; Chromium
// negotiates H264 for what it receives and decodes it at about the sent rate (getStats:
// codec video/H264, framesDecoded rising, the sent size). rtcctl, which has no H264
// decoder, reports what Chromium sent it from RTP alone, or decodes it when Chromium
// chose VP8.
func TestBrowserReceivesRtcctlH264(t *testing.T) {
	if !media.H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	srv := startServe(t)
	room := randomRoom()
	cfg := peerConfig(srv.SignalURL(), room, signal.FormatAndroid, 8*time.Second)
	cfg.VideoProfile.Codec = media.CodecH264
	p := startPeer(t, cfg)
	p.waitJoined(t, 10*time.Second)
	tab := openCallPage(t, "chromium", pageURL(srv.HTTPURL(), room, "autojoin=1", "format=web"))
	tab.waitState("connected", 20*time.Second, func(s pageState) bool { return s.Connection == "connected" })

	read := func() videoInbound {
		t.Helper()
		v, err := evalIn[*videoInbound](tab, videoInboundJS)
		if err != nil {
			t.Fatalf("chromium getStats: %v", err)
		}
		if v == nil {
			return videoInbound{}
		}
		return *v
	}
	deadline := time.Now().Add(10 * time.Second)
	for read().FramesDecoded < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("Chromium decoded no rtcctl H264 within 10 s: %+v", read())
		}
		time.Sleep(200 * time.Millisecond)
	}
	a := read()
	start := time.Now()
	time.Sleep(2 * time.Second)
	b := read()
	fps := float64(b.FramesDecoded-a.FramesDecoded) / time.Since(start).Seconds()
	t.Logf("Chromium receives %s (%s) via %s: %dx%d, %.1f fps decoded, %d keyframes decoded",
		b.Codec, b.SDPFmtpLine, b.Decoder, b.Width, b.Height, fps, b.KeyFrames)
	if !strings.EqualFold(b.Codec, "video/H264") {
		t.Errorf("Chromium's inbound video codec is %q, want video/H264", b.Codec)
	}
	if !strings.Contains(b.SDPFmtpLine, "packetization-mode=1") || !strings.Contains(b.SDPFmtpLine, "profile-level-id=42e01f") {
		t.Errorf("negotiated H264 fmtp %q, want packetization-mode=1 and profile-level-id=42e01f", b.SDPFmtpLine)
	}
	if fps < minBrowserFPS || fps > rtcctlFPS*1.5 {
		t.Errorf("Chromium decodes rtcctl's H264 at %.1f fps, want about the sent %d (>= %d)", fps, rtcctlFPS, minBrowserFPS)
	}
	if b.Width != rtcctlWidth || b.Height != rtcctlHeight {
		t.Errorf("Chromium decodes %dx%d, want the sent %dx%d", b.Width, b.Height, rtcctlWidth, rtcctlHeight)
	}

	res := p.wait(t, 20*time.Second)
	if len(res.Calls) != 1 {
		t.Fatalf("rtcctl took %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	for _, tx := range c.Tx {
		if tx.Kind == "video" && (tx.Codec != "h264" || tx.ReceiverReports == 0) {
			t.Errorf("rtcctl sent video %+v, want h264 with Chromium's receiver reports", tx)
		}
	}
	for _, rx := range c.Rx {
		if rx.Kind != "video" {
			continue
		}
		t.Logf("rtcctl receives Chromium's %s: %d frames, %d keyframes, %.1f fps, %dx%d, decoded %d, not decoded %q",
			rx.Codec, rx.Frames, rx.KeyFrames, rx.FPS, rx.Width, rx.Height, rx.FramesDecoded, rx.NotDecoded)
		switch rx.Codec {
		case "h264":
			// Chromium's H264 (OpenH264): RTP-level only, said so.
			if rx.NotDecoded == "" || rx.Frames < 20 || rx.KeyFrames == 0 || rx.FPS < 7 || rx.Width != 320 || rx.Height != 240 {
				t.Errorf("rtcctl's RTP-level view of Chromium's H264: %+v", rx)
			}
		case "vp8":
			if rx.FramesDecoded < 20 {
				t.Errorf("rtcctl decoded %d VP8 frames from Chromium", rx.FramesDecoded)
			}
		default:
			t.Errorf("Chromium sent rtcctl %q", rx.Codec)
		}
	}
	if !c.Verdict.OK {
		t.Errorf("rtcctl verdict on Chromium's media: %s %q", c.Verdict.Code, c.Verdict.Finding)
	}
}
