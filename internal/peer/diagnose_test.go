package peer

import (
	"strings"
	"testing"
	"time"
)

// connected is the evidence of a call that got through ICE and DTLS with both kinds
// expected; cases change one thing.
func connected() Evidence {
	return Evidence{
		Joined: true, PeerKnown: true, Role: "caller", OfferSent: true, AnswerReceived: true,
		Local: map[string]int{"host": 1}, Remote: map[string]int{"host": 1},
		ICEChecking: true, ICEConnected: true, DTLSConnected: true,
		Selected:     &Pair{LocalType: "host", RemoteType: "host", Protocol: "udp"},
		RemoteSends:  Media{Audio: true, Video: true},
		RemoteCodecs: map[string][]string{"video": {"vp8"}, "audio": {"opus"}},
		LocalCodecs:  map[string][]string{"video": {"vp8"}, "audio": {"opus"}},
		Expect:       Media{Audio: true, Video: true},
		Tracks: map[string]*TrackRx{
			"video": {Kind: "video", Codec: "vp8", Packets: 500, Frames: 150, KeyFrames: 3, FramesDecoded: 150, FPS: 30, Width: 640, Height: 480},
			"audio": {Kind: "audio", Codec: "opus", Packets: 250, LevelDBFS: -20},
		},
	}
}

func TestDiagnoseLadder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		edit     func(e *Evidence)
		code     string
		contains string // in the finding
		fixHas   string
	}{
		{"ok", func(*Evidence) {}, "ok", "video and audio received", ""},
		{"signal failed", func(e *Evidence) { *e = Evidence{SignalError: "dial tcp 127.0.0.1:1: connection refused"} }, "signal-failed", "connection refused", "probe-signal"},
		{"room full", func(e *Evidence) { *e = Evidence{Joined: true, JoinReply: "full"} }, "room-full", "room full", ""},
		{"no peer, silent server", func(e *Evidence) { *e = Evidence{Joined: true, PeerTimeout: 2 * time.Second} }, "no-peer", "silent server", "room id type"},
		{"no peer within --duration", func(e *Evidence) {
			*e = Evidence{Joined: true, PeerTimeout: 30 * time.Second, WaitEnd: EndDuration, Duration: 2 * time.Second, Waited: 2 * time.Second}
		}, "no-peer", "no peer joined within the --duration of 2s", "room id type"},
		{"no peer before Ctrl-C", func(e *Evidence) {
			*e = Evidence{Joined: true, PeerTimeout: 30 * time.Second, WaitEnd: EndCanceled, Waited: 1200 * time.Millisecond}
		}, "no-peer", "before the session was interrupted", "room id type"},
		{"no offer", func(e *Evidence) { e.Role, e.OfferReceived = "callee", false }, "no-offer", "no offer", ""},
		{"no answer", func(e *Evidence) { e.AnswerReceived = false }, "no-answer", "no answer", ""},
		{"ice: TURN refused", func(e *Evidence) {
			e.ICEConnected, e.DTLSConnected, e.RelayOnly, e.TURNServers = false, false, true, 2
			e.Local = map[string]int{}
			e.GatherErrors = []string{"failed to allocate on TURN client 127.0.0.1:3478 error 401: Unauthorized"}
		}, "ice-failed", "wrong credentials", "probe-turn"},
		{"ice: TURN unreachable", func(e *Evidence) {
			e.ICEConnected, e.DTLSConnected, e.RelayOnly, e.TURNServers = false, false, true, 1
			e.Local = map[string]int{}
		}, "ice-failed", "TURN unreachable or refused", "3478"},
		{"ice: relay-only without TURN", func(e *Evidence) {
			e.ICEConnected, e.DTLSConnected, e.RelayOnly = false, false, true
			e.Local = map[string]int{}
		}, "ice-failed", "no TURN server", "turn:"},
		{"ice: host only, no servers", func(e *Evidence) {
			e.ICEConnected, e.DTLSConnected = false, false
		}, "ice-failed", "only host candidates", "TURN"},
		{"ice: NAT, srflx only", func(e *Evidence) {
			e.ICEConnected, e.DTLSConnected, e.STUNServers = false, false, 1
			e.Local = map[string]int{"host": 1, "srflx": 1}
			e.Remote = map[string]int{"host": 1, "srflx": 1}
		}, "ice-failed", "NAT", "TURN"},
		{"dtls", func(e *Evidence) { e.DTLSConnected = false }, "dtls-failed", "DTLS", ""},
		{"no video track", func(e *Evidence) {
			delete(e.Tracks, "video")
			e.RemoteSends.Video = false
		}, "no-rtp", "does not send video", "track"},
		{"codec mismatch", func(e *Evidence) {
			delete(e.Tracks, "video")
			e.RemoteCodecs["video"] = []string{"vp8"}
			e.LocalCodecs["video"] = []string{"h264"}
		}, "no-common-codec", "vp8", "common codec"},
		{"rtp but no frames", func(e *Evidence) {
			e.Tracks["video"] = &TrackRx{Kind: "video", Codec: "vp8", Packets: 100}
		}, "no-frames", "no frames", ""},
		{"no keyframe", func(e *Evidence) {
			e.Tracks["video"] = &TrackRx{Kind: "video", Codec: "vp8", Packets: 100, Frames: 30, PLISent: 4}
		}, "no-keyframe", "never a keyframe", "PLI"},
		{"decode errors", func(e *Evidence) {
			e.Tracks["video"] = &TrackRx{Kind: "video", Codec: "vp8", Packets: 100, Frames: 30, KeyFrames: 1, DecodeErrors: 30}
		}, "decode-errors", "30 decode errors", ""},
		{"black", func(e *Evidence) { e.Tracks["video"].Black = true }, "black", "black", "camera"},
		{"frozen", func(e *Evidence) { e.Tracks["video"].Frozen = true }, "frozen", "frozen", ""},
		{"silent audio", func(e *Evidence) { e.Tracks["audio"].Silent = true }, "silent", "silent", "unmute"},
		{"not decoded (load test)", func(e *Evidence) {
			e.NoDecode = true
			e.Tracks["video"] = &TrackRx{Kind: "video", Codec: "vp8", Packets: 100, Frames: 30, KeyFrames: 1}
		}, "ok", "received", ""},
		{"audio not expected", func(e *Evidence) {
			e.Expect.Audio = false
			delete(e.Tracks, "audio")
		}, "ok", "video received", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := connected()
			tc.edit(&e)
			v := Diagnose(e)
			if v.Code != tc.code {
				t.Fatalf("code %q, want %q (finding %q)", v.Code, tc.code, v.Finding)
			}
			if v.OK != (tc.code == "ok") {
				t.Fatalf("OK %v for code %s", v.OK, v.Code)
			}
			if !strings.Contains(v.Finding, tc.contains) {
				t.Fatalf("finding %q does not contain %q", v.Finding, tc.contains)
			}
			if tc.fixHas != "" && !strings.Contains(v.Fix+strings.Join(v.Causes, " "), tc.fixHas) {
				t.Fatalf("fix %q / causes %q do not mention %q", v.Fix, v.Causes, tc.fixHas)
			}
			if !v.OK && (len(v.Evidence) == 0 || len(v.Causes) == 0 || v.Fix == "") {
				t.Fatalf("failed rung without evidence/causes/fix: %+v", v)
			}
		})
	}
}

func TestDiagnoseSignalDroppedMidCall(t *testing.T) {
	t.Parallel()
	e := connected()
	e.Closed = &CloseInfo{Code: 1006, ByServer: true, CallAgeMs: 60_400}
	v := Diagnose(e)
	if v.Code != "ok" || len(v.Notes) != 1 {
		t.Fatalf("want ok with one note, got %+v", v)
	}
	n := v.Notes[0]
	for _, want := range []string{"proxy_read_timeout", "60 s"} {
		if !strings.Contains(n.Finding, want) {
			t.Fatalf("note %q does not name %q", n.Finding, want)
		}
	}
	if !strings.Contains(n.Fix, "keepalive") {
		t.Fatalf("fix %q does not name the keepalive", n.Fix)
	}
	// A drop at another time still names the proxy timeout as a likely cause.
	e.Closed.CallAgeMs = 12_000
	if v := Diagnose(e); len(v.Notes) != 1 || !strings.Contains(v.Notes[0].Finding, "proxy") {
		t.Fatalf("note: %+v", v.Notes)
	}
}

func TestDiagnoseConnectionLostNote(t *testing.T) {
	t.Parallel()
	e := connected()
	e.ICEFailed = true
	v := Diagnose(e)
	if !v.OK || len(v.Notes) != 1 || v.Notes[0].Code != "connection-lost" {
		t.Fatalf("want ok with a connection-lost note, got %+v", v)
	}
}

func TestSendDiagnose(t *testing.T) {
	t.Parallel()
	tx := []*TrackTx{{Kind: "video", ReceiverReports: 4}, {Kind: "audio"}}
	if v := SendDiagnose(tx, time.Second); v != nil {
		t.Fatalf("judged a 1 s call: %+v", v)
	}
	v := SendDiagnose(tx, 5*time.Second)
	if v == nil || v.OK || v.Code != "no-receiver-reports" || !strings.Contains(v.Finding, "audio") || strings.Contains(v.Finding, "video") {
		t.Fatalf("verdict %+v", v)
	}
	tx[1].ReceiverReports = 3
	if v := SendDiagnose(tx, 5*time.Second); v == nil || !v.OK {
		t.Fatalf("verdict %+v", v)
	}
}

func TestStageConstantsConsistent(t *testing.T) {
	t.Parallel()
	if DefaultDialTimeout > DefaultJoinTimeout {
		t.Errorf("dial %v exceeds join %v", DefaultDialTimeout, DefaultJoinTimeout)
	}
	stages := DefaultJoinTimeout + DefaultNegotiateTimeout + DefaultICETimeout + DefaultMediaTimeout + DefaultCallDuration
	if stages > DefaultCallTimeout {
		t.Errorf("stages sum to %v, more than the call timeout %v", stages, DefaultCallTimeout)
	}
	if DefaultICETimeout <= relayWaitDefault {
		t.Errorf("ICE timeout %v must exceed pion's default relay wait %v", DefaultICETimeout, relayWaitDefault)
	}
	if DefaultKeepalive >= 60*time.Second/2 {
		t.Errorf("keepalive %v too slow for a 60 s proxy timeout", DefaultKeepalive)
	}
	if statusInterval < 250*time.Millisecond {
		t.Errorf("status redrawn more than 4x/s")
	}
}
