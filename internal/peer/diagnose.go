package peer

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Evidence is what one side observed about one direction of a call (remote -> this side),
// plus the session facts the ladder needs. Diagnose turns it into a Verdict.
type Evidence struct {
	// Signaling.
	SignalError string        // dial/join error text, if the session never joined
	JoinReply   string        // "resp-join", "full", "error" or "" (silence)
	Joined      bool          // join was sent
	PeerKnown   bool          // new-peer or resp-join arrived
	PeerTimeout time.Duration // how long it would wait for a peer
	// WaitEnd says what ended a wait that found no peer: EndPeerTimeout, EndDuration,
	// EndCanceled, EndCallTimeout, EndSignalGone, or "" (unknown: the peer timeout).
	WaitEnd      string
	Waited       time.Duration // from join to the end of that wait, when known
	Duration     time.Duration // the session's --duration (0: none)
	RoomIsNumber bool
	Closed       *CloseInfo // the websocket ended before the session did
	KeepaliveOn  bool

	// Negotiation.
	Role           string // caller or callee
	OfferSent      bool
	OfferReceived  bool
	AnswerSent     bool
	AnswerReceived bool
	// NegotiationError is a failed setRemoteDescription/createAnswer, if any.
	NegotiationError string

	// ICE.
	RelayOnly        bool
	STUNServers      int
	TURNServers      int
	Local            map[string]int // candidate counts by type
	Remote           map[string]int
	GatherErrors     []string
	ICEChecking      bool
	ICEConnected     bool
	ICEFailed        bool
	DTLSConnected    bool
	PCFailed         bool
	Selected         *Pair
	NATHint          bool // both sides have only host/srflx candidates on different networks
	RemoteSends      Media
	RemoteCodecs     map[string][]string
	LocalCodecs      map[string][]string
	Expect           Media
	NoDecode         bool                // video was not decoded (load tests): the ladder stops at keyframes
	Tracks           map[string]*TrackRx // by kind
	PLISent          int
	SenderPLIIgnored bool
}

// waited renders how long a wait lasted ("wait" when unknown).
func waited(d time.Duration) string {
	if d <= 0 {
		return "wait"
	}
	return d.Round(100*time.Millisecond).String() + " wait"
}

// Diagnose walks the failure ladder and returns the first failed rung, or OK.
func Diagnose(e Evidence) Verdict {
	v := diagnose(e)
	if n, ok := signalDropNote(e); ok {
		v.Notes = append(v.Notes, n)
	}
	if e.ICEConnected && e.ICEFailed {
		v.Notes = append(v.Notes, Note{
			Code:    "connection-lost",
			Finding: "the media path failed mid-call (ICE failed after it had connected): the peer vanished without leaving, a network change, or a NAT binding expired",
			Fix:     "if it repeats, force TURN (--relay-only) to rule out NAT timeouts; check the other side's network",
		})
	}
	return v
}

func diagnose(e Evidence) Verdict {
	// Rung 1: signaling and peer.
	if e.SignalError != "" && (!e.Joined || !e.PeerKnown) {
		return Verdict{
			Code:     "signal-failed",
			Finding:  "could not join the room: " + e.SignalError,
			Evidence: []string{"signaling error: " + e.SignalError},
			Causes: []string{
				"server down or wrong URL/port",
				"TLS problem (self-signed certificate: --ca-file or --insecure)",
				"proxy path wrong (nginx proxies /ws)",
			},
			Fix: "run `rtcctl probe-signal --server URL` to see which step fails",
		}
	}
	if e.JoinReply == "full" {
		return Verdict{
			Code:     "room-full",
			Finding:  "the server refused the join: room full (2 members already)",
			Evidence: []string{`server answered {"cmd":"full"}`},
			Causes:   []string{"two peers are already in the room", "a stale member from an earlier session keeps the room full"},
			Fix:      "use another room id, or restart the server to clear stale rooms",
		}
	}
	if !e.PeerKnown {
		finding := "no peer joined the room (silent server)"
		ev := []string{"join sent; no new-peer or resp-join within " + e.PeerTimeout.String()}
		var first []string // a cause that comes before the usual ones
		switch e.WaitEnd {
		case EndDuration:
			finding = "no peer joined within the --duration of " + e.Duration.String()
			ev[0] = "join sent; no new-peer or resp-join before the --duration of " + e.Duration.String() +
				" ended the session (the peer timeout, " + e.PeerTimeout.String() + ", had not passed)"
			first = []string{"the --duration was shorter than the other side took to join: give it longer (or leave --duration off and end with Ctrl-C)"}
		case EndCanceled:
			finding = "no peer joined before the session was interrupted"
			ev[0] = "join sent; no new-peer or resp-join in the " + waited(e.Waited) + " before the session was interrupted"
		case EndCallTimeout:
			finding = "no peer joined before the call's --timeout ran out"
			ev[0] = "join sent; no new-peer or resp-join in the " + waited(e.Waited) + " before the call's --timeout ran out"
		}
		if e.JoinReply == "" {
			ev = append(ev, "the server said nothing after join (normal for a first joiner on the original server)")
		}
		idType := "string"
		if e.RoomIsNumber {
			idType = "number"
		}
		v := Verdict{
			Code:     "no-peer",
			Finding:  finding,
			Evidence: ev,
			Causes: append(first,
				"nobody else joined this room yet, or the other peer joined a different room",
				"room id type mismatch: this peer sent the room id as a JSON "+idType+"; the original server treats 100 and \"100\" as different rooms (browsers send strings)",
				"room full on the original server: a third joiner gets silence, not an error",
			),
			Fix: "join the same room from the other client first; match the room id type (--room-number only if the other side sends numbers); try a fresh room id",
		}
		return v
	}
	// Rung 2: offer/answer.
	if e.Role == "callee" && !e.OfferReceived {
		return Verdict{
			Code:     "no-offer",
			Finding:  "the peer is known (resp-join) but no offer arrived",
			Evidence: []string{"role callee: waiting for the caller's offer"},
			Causes: []string{
				"the other client did not create a PeerConnection on new-peer",
				"the server does not relay offers (remoteUid unknown: the original server drops them silently)",
				"the other client failed to get its camera/microphone before sending the offer",
			},
			Fix: "check the other client's console; rtcctl as the other side (`rtcctl join`) shows whether it sends the offer",
		}
	}
	if e.Role == "caller" && !e.AnswerReceived {
		ev := []string{"role caller: offer sent, no answer"}
		return Verdict{
			Code:     "no-answer",
			Finding:  "offer sent but no answer arrived",
			Evidence: ev,
			Causes: []string{
				"the other client could not parse the offer (msg must be a JSON string of {type,sdp})",
				"the server dropped the relay (remoteUid unknown)",
				"the other client failed setRemoteDescription (codec or SDP incompatibility)",
			},
			Fix: "check the other client's console for setRemoteDescription errors; run `rtcctl join` on both sides to compare",
		}
	}
	// Rung 2b: the SDP was refused, or the codecs cannot meet.
	if e.NegotiationError != "" {
		v := Verdict{
			Code:     "sdp-failed",
			Finding:  "negotiation failed: " + e.NegotiationError,
			Evidence: []string{e.NegotiationError},
			Causes:   []string{"the two SDPs are incompatible (codecs, bundle, DTLS role)", "a client or proxy altered the SDP"},
			Fix:      "compare both SDPs; run `rtcctl join --verbose` on each side",
		}
		if strings.Contains(strings.ToLower(e.NegotiationError), "codec") {
			v.Code = "no-common-codec"
			v.Finding = "negotiation failed, no common codec: " + e.NegotiationError + codecSummary(e)
			v.Causes = []string{"the two clients support disjoint codecs (e.g. VP8-only vs H264-only, a missing encoder)"}
			v.Fix = "enable a common codec on both sides (VP8 is the WebRTC baseline every browser supports)"
		}
		return v
	}
	for _, kind := range []string{"video", "audio"} {
		if (kind == "video" && !e.Expect.Video) || (kind == "audio" && !e.Expect.Audio) {
			continue
		}
		remote, local := e.RemoteCodecs[kind], e.LocalCodecs[kind]
		if len(remote) > 0 && len(local) > 0 && !intersects(remote, local) {
			return noCommonCodec(kind, remote, local)
		}
	}
	// Rung 3: ICE.
	if !e.ICEConnected {
		return iceVerdict(e)
	}
	// Rung 4: DTLS.
	if !e.DTLSConnected {
		return Verdict{
			Code:     "dtls-failed",
			Finding:  "ICE connected but the DTLS handshake did not complete",
			Evidence: []string{"ICE state connected; PeerConnection never reached connected"},
			Causes: []string{
				"a middlebox drops larger UDP packets (DTLS certificates need ~1-2 KB datagrams; MTU/fragmentation)",
				"the fingerprint in the SDP was altered in transit",
				"both sides chose the same DTLS role (broken answer)",
			},
			Fix: "try --relay-only through TURN over TCP (turn:...?transport=tcp); check the path MTU",
		}
	}
	// Rungs 5+: media per expected kind, video first.
	for _, kind := range []string{"video", "audio"} {
		if (kind == "video" && !e.Expect.Video) || (kind == "audio" && !e.Expect.Audio) {
			continue
		}
		if v, failed := mediaVerdict(e, kind); failed {
			return v
		}
	}
	ev := []string{}
	if e.Selected != nil {
		ev = append(ev, fmt.Sprintf("selected pair %s/%s over %s", e.Selected.LocalType, e.Selected.RemoteType, e.Selected.Protocol))
	}
	kinds := []string{}
	decoded := true
	var notes []Note
	for _, k := range sortedKeys(e.Tracks) {
		t := e.Tracks[k]
		if k == "video" && t.NotDecoded != "" {
			decoded = false
			ev = append(ev, fmt.Sprintf("video %s %dx%d (from the SPS) %.1f fps, %d frames (%d keyframes) assembled, loss %.1f%%; not decoded: %s",
				t.Codec, t.Width, t.Height, t.FPS, t.Frames, t.KeyFrames, t.LossPct, t.NotDecoded))
			notes = append(notes, Note{Code: "not-decoded", Finding: "video not decoded: " + t.NotDecoded +
				"; the verdict rests on frames and keyframes arriving"})
		} else if k == "video" && e.NoDecode {
			ev = append(ev, fmt.Sprintf("video %s %d frames (%d keyframes) assembled, not decoded, loss %.1f%%", t.Codec, t.Frames, t.KeyFrames, t.LossPct))
		} else if k == "video" {
			ev = append(ev, fmt.Sprintf("video %s %dx%d %.1f fps, %d frames decoded, loss %.1f%%", t.Codec, t.Width, t.Height, t.FPS, t.FramesDecoded, t.LossPct))
		} else {
			ev = append(ev, fmt.Sprintf("audio %s %.0f kbit/s, level %.1f dBFS", t.Codec, t.BitrateKbps, t.LevelDBFS))
		}
		kinds = append(kinds, k)
	}
	finding := "media flows"
	switch {
	case len(kinds) == 0:
		finding = "connected (no media expected)"
	case decoded:
		finding = strings.Join(kinds, " and ") + " received and decoded"
	default:
		finding = strings.Join(kinds, " and ") + " received (video frames and keyframes arriving, not decoded)"
	}
	return Verdict{OK: true, Code: "ok", Finding: finding, Evidence: ev, Notes: notes}
}

func iceVerdict(e Evidence) Verdict {
	ev := []string{
		"local candidates: " + countsString(e.Local),
		"remote candidates: " + countsString(e.Remote),
	}
	if e.RelayOnly {
		ev = append(ev, "iceTransportPolicy relay (relay-only)")
	}
	ev = append(ev, fmt.Sprintf("ICE servers configured: %d STUN, %d TURN", e.STUNServers, e.TURNServers))
	for _, g := range e.GatherErrors {
		ev = append(ev, "gathering: "+g)
	}
	v := Verdict{Code: "ice-failed", Evidence: ev}
	localRelay, remoteRelay := e.Local["relay"], e.Remote["relay"]
	authRefused := false
	for _, g := range e.GatherErrors {
		l := strings.ToLower(g)
		if strings.Contains(l, "401") || strings.Contains(l, "400") || strings.Contains(l, "unauthorized") ||
			strings.Contains(l, "integrity") || strings.Contains(l, "bad request") || strings.Contains(l, "403") {
			authRefused = true
		}
	}
	switch {
	case e.TURNServers > 0 && localRelay == 0 && authRefused:
		v.Finding = "ICE failed: the TURN server refused our allocation (wrong credentials), so there is no relay candidate"
		v.Causes = []string{
			"wrong TURN username or password (static user, or expired/mis-signed REST credentials)",
			"realm or shared secret differs between the web config and coturn",
		}
		v.Fix = "check --ice-user/--ice-pass against coturn's user (or its static-auth-secret); `rtcctl probe-turn` tests the credentials alone"
	case e.TURNServers > 0 && localRelay == 0:
		v.Finding = "ICE failed: no relay candidate from the TURN server (TURN unreachable or refused)"
		v.Causes = []string{
			"TURN server down, wrong host/port, or UDP/TCP 3478 blocked by a firewall",
			"wrong TURN credentials (the allocation is refused)",
			"TURN relay ports (min-port..max-port) blocked",
		}
		v.Fix = "run `rtcctl probe-turn` against the TURN URL; open 3478 udp+tcp and the relay port range"
	case e.RelayOnly && e.TURNServers == 0:
		v.Finding = "ICE failed: relay-only but no TURN server is configured"
		v.Causes = []string{"iceTransportPolicy relay without a turn: URL discards every candidate"}
		v.Fix = "add --ice-server turn:HOST:3478 with --ice-user/--ice-pass, or drop --relay-only"
	case e.RelayOnly && localRelay > 0 && remoteRelay == 0 && e.Remote["host"]+e.Remote["srflx"] == 0:
		v.Finding = "ICE failed: we have a relay candidate but the peer sent none"
		v.Causes = []string{"the other client's TURN config fails (wrong credentials, unreachable)", "candidates are not relayed by the server"}
		v.Fix = "check the other client's iceServers; `rtcctl probe-turn` with its credentials"
	case e.STUNServers == 0 && e.TURNServers == 0 && onlyHost(e.Local):
		v.Finding = "ICE failed: only host candidates and no STUN/TURN configured; peers on different networks or behind NAT cannot reach each other"
		v.Causes = []string{"no iceServers configured", "peers behind NAT (symmetric NAT needs a TURN relay)"}
		v.Fix = "configure a TURN server (--ice-server turn:HOST:3478 --ice-user U --ice-pass P, or --ice-from-server)"
	case localRelay == 0 && remoteRelay == 0:
		v.Finding = "ICE failed: no candidate pair works and neither side has a relay candidate (NAT between the peers needs a TURN relay)"
		v.Causes = []string{"address-and-port-dependent (symmetric) NAT on one or both sides", "UDP blocked between the peers", "no TURN server configured"}
		v.Fix = "configure a TURN server reachable by both sides (udp and tcp 3478)"
	case len(e.Remote) == 0 || sumCounts(e.Remote) == 0:
		v.Finding = "ICE failed: no remote candidates arrived"
		v.Causes = []string{"the other client does not send candidates (or sends them in a format it cannot parse)", "the server does not relay candidate messages"}
		v.Fix = "check the candidate format (--candidate-format android|web) and the other client's console"
	default:
		v.Finding = "ICE failed: candidates were exchanged but no pair passed connectivity checks"
		v.Causes = []string{"firewall drops UDP between the candidates", "TURN relay ports blocked", "the TURN server cannot reach the peer's relay (--allow-loopback-peers on a loopback coturn)"}
		v.Fix = "try --relay-only with turn over TCP; check firewall rules for the relay port range"
	}
	if !e.ICEChecking && !e.ICEFailed {
		v.Evidence = append(v.Evidence, "ICE never started checking")
	}
	return v
}

func noCommonCodec(kind string, remote, local []string) Verdict {
	return Verdict{
		Code: "no-common-codec",
		Finding: fmt.Sprintf("no %s: no common codec (remote offers %s, this side accepts %s)",
			kind, strings.Join(remote, ","), strings.Join(local, ",")),
		Evidence: []string{"remote " + kind + " codecs: " + strings.Join(remote, ","), "local " + kind + " codecs: " + strings.Join(local, ",")},
		Causes:   []string{"the two clients support disjoint codecs (e.g. VP8-only vs H264-only, a missing encoder)"},
		Fix:      "enable a common codec on both sides (VP8 is the WebRTC baseline every browser supports)",
	}
}

// codecSummary lists both sides' codecs per kind for a finding.
func codecSummary(e Evidence) string {
	parts := []string{}
	for _, kind := range []string{"video", "audio"} {
		r, l := e.RemoteCodecs[kind], e.LocalCodecs[kind]
		if len(r) == 0 && len(l) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: remote %s, local %s", kind, orNone(r), orNone(l)))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

func mediaVerdict(e Evidence, kind string) (Verdict, bool) {
	t := e.Tracks[kind]
	sends := (kind == "video" && e.RemoteSends.Video) || (kind == "audio" && e.RemoteSends.Audio)
	remote := e.RemoteCodecs[kind]
	local := e.LocalCodecs[kind]
	if t == nil || t.Packets == 0 {
		if len(remote) > 0 && len(local) > 0 && !intersects(remote, local) {
			return noCommonCodec(kind, remote, local), true
		}
		v := Verdict{Code: "no-rtp", Evidence: []string{"no RTP packets on a " + kind + " track"}}
		if !sends {
			v.Finding = "no " + kind + ": the peer's SDP does not send " + kind + " (no track added, or direction recvonly/inactive)"
			v.Causes = []string{"the other client did not add a " + kind + " track (camera/microphone missing or denied)", "transceiver direction recvonly/inactive"}
			v.Fix = "make the other side add its " + kind + " track before creating the offer/answer"
		} else {
			v.Finding = "no " + kind + " RTP arrived although the peer's SDP sends " + kind
			v.Causes = []string{"the sender's track produces nothing (source stopped)", "SRTP packets dropped on the path"}
			v.Fix = "check the sender's outbound stats (packetsSent); try --relay-only"
		}
		return v, true
	}
	if kind == "audio" {
		if t.Silent {
			return Verdict{
				Code:     "silent",
				Finding:  fmt.Sprintf("audio arrives but is silent (level %.1f dBFS)", t.LevelDBFS),
				Evidence: []string{fmt.Sprintf("%d audio packets, level %.1f dBFS", t.Packets, t.LevelDBFS)},
				Causes:   []string{"the sender's microphone is muted or the track is disabled"},
				Fix:      "unmute the microphone; check track.enabled on the sender",
			}, true
		}
		return Verdict{}, false
	}
	pk := fmt.Sprintf("%d video RTP packets (%s, PT %d)", t.Packets, t.Codec, t.PayloadType)
	if t.Frames == 0 && t.KeyFrames == 0 && t.FramesDecoded == 0 {
		return Verdict{
			Code:     "no-frames",
			Finding:  fmt.Sprintf("video RTP arrives but no frames can be assembled (codec %s)", t.Codec),
			Evidence: []string{pk, "0 frames assembled"},
			Causes:   []string{"payload type or codec mismatch between the SDP and the RTP", "the sender packetizes a different codec than negotiated"},
			Fix:      "check that the sender uses the payload type it negotiated (a=rtpmap)",
		}, true
	}
	if t.KeyFrames == 0 {
		v := Verdict{
			Code:     "no-keyframe",
			Finding:  "video frames arrive but never a keyframe, so nothing can be decoded",
			Evidence: []string{pk, fmt.Sprintf("%d frames, 0 keyframes, %d PLI sent", t.Frames, t.PLISent)},
			Causes:   []string{"the sender ignores PLI/FIR (no keyframe on request)", "the first keyframe was lost before DTLS was up and the keyframe interval is long"},
			Fix:      "make the sender answer PLI with a keyframe, or shorten its keyframe interval",
		}
		return v, true
	}
	if e.NoDecode || t.NotDecoded != "" {
		// Frames and keyframes arriving is as far as RTP-level analysis can see.
		return Verdict{}, false
	}
	if t.FramesDecoded == 0 {
		return Verdict{
			Code:     "decode-errors",
			Finding:  fmt.Sprintf("video keyframes arrive but none decode (%d decode errors)", t.DecodeErrors),
			Evidence: []string{pk, fmt.Sprintf("%d keyframes, %d decode errors", t.KeyFrames, t.DecodeErrors)},
			Causes:   []string{"corrupted or truncated frames (packet loss without NACK/retransmission)", "codec profile not supported by the decoder"},
			Fix:      "check loss on the path; enable NACK; try another codec profile",
		}, true
	}
	if t.Black {
		return Verdict{
			Code:     "black",
			Finding:  "video decodes but the picture is black",
			Evidence: []string{fmt.Sprintf("%d frames decoded, %dx%d, black", t.FramesDecoded, t.Width, t.Height)},
			Causes:   []string{"the sender's camera is covered, off, or sends a black placeholder", "the track is disabled (muted) on the sender"},
			Fix:      "check the sender's camera and track.enabled",
		}, true
	}
	if t.Frozen {
		return Verdict{
			Code:     "frozen",
			Finding:  fmt.Sprintf("video decodes but the picture is frozen (%d freezes)", t.Freezes),
			Evidence: []string{fmt.Sprintf("%d frames decoded at %.1f fps, identical content", t.FramesDecoded, t.FPS)},
			Causes:   []string{"the sender's capture stalled (camera busy, tab in background)", "the sender re-sends the same frame"},
			Fix:      "check the sender's camera; restart its capture",
		}, true
	}
	return Verdict{}, false
}

// signalDropNote names a signaling websocket that dropped while a call was up.
func signalDropNote(e Evidence) (Note, bool) {
	c := e.Closed
	if c == nil || !e.PeerKnown {
		return Note{}, false
	}
	age := time.Duration(c.CallAgeMs * float64(time.Millisecond)).Round(time.Second)
	f := fmt.Sprintf("the signaling websocket closed mid-call (code %d after %s of call)", c.Code, age)
	fix := "keep the websocket busy: send a keepalive every 5 s (rtcctl --keepalive 5s; the course's later clients do), or raise the proxy's timeout"
	if c.CallAgeMs > 0 && age >= 55*time.Second && age <= 70*time.Second {
		f += ": the ~60 s idle timeout of a reverse proxy (nginx proxy_read_timeout 60s default)"
		fix = "send an application keepalive every 5 s (--keepalive 5s) or set nginx proxy_read_timeout/proxy_send_timeout above the call length"
	} else {
		f += "; a proxy idle timeout (nginx proxy_read_timeout) or a server restart"
	}
	if !e.KeepaliveOn {
		f += "; keepalive was off"
	}
	return Note{Code: "signal-dropped", Finding: f, Fix: fix}, true
}

func countsString(m map[string]int) string {
	if sumCounts(m) == 0 {
		return "none"
	}
	parts := []string{}
	for _, t := range []string{"host", "srflx", "prflx", "relay"} {
		if m[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[t], t))
		}
	}
	return strings.Join(parts, ", ")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func onlyHost(m map[string]int) bool {
	return m["srflx"]+m["relay"]+m["prflx"] == 0
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// video first reads better
	sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "video" && keys[j] != "video" })
	return keys
}

// sendJudgeAfter is how long a call must have been connected before missing receiver
// reports mean something (senders of RTCP report about once a second).
const sendJudgeAfter = 3 * time.Second

// SendDiagnose judges the send direction from the remote's RTCP receiver reports: a peer
// that receives our RTP reports on it about once a second. It returns nil when nothing was
// sent or the call was too short to judge.
func SendDiagnose(tx []*TrackTx, connectedFor time.Duration) *Verdict {
	if len(tx) == 0 || connectedFor < sendJudgeAfter {
		return nil
	}
	missing := []string{}
	ev := []string{}
	for _, t := range tx {
		ev = append(ev, fmt.Sprintf("%s: %d receiver reports, remote loss %.1f%%", t.Kind, t.ReceiverReports, t.RemoteLossPct))
		if t.ReceiverReports == 0 {
			missing = append(missing, t.Kind)
		}
	}
	if len(missing) > 0 {
		return &Verdict{
			Code:     "no-receiver-reports",
			Finding:  "the peer sent no RTCP receiver reports for our " + strings.Join(missing, " and ") + ": it probably does not receive it",
			Evidence: ev,
			Causes:   []string{"the peer did not accept the track (no common codec, m-line rejected)", "RTCP is dropped on the way back"},
			Fix:      "check the peer's inbound stats (chrome://webrtc-internals); compare codecs in both SDPs",
		}
	}
	return &Verdict{OK: true, Code: "ok", Finding: "the peer reports receiving what we send", Evidence: ev}
}
