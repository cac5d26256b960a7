package peer

import (
	"image"
	"time"
)

// Result is what Run returns: one session in a room and every call it took part in.
type Result struct {
	// Version is the JSON schema version (report.SchemaVersion at the command layer).
	Version int `json:"version"`
	// Server is the signaling URL; Room and UID are the ids used (JSON-typed text).
	Server string `json:"server"`
	Room   string `json:"room"`
	// RoomIsNumber says the room id was sent as a JSON number.
	RoomIsNumber bool   `json:"room_is_number,omitempty"`
	UID          string `json:"uid"`
	// Started is the wall-clock start; timeline values are ms since it.
	Started time.Time `json:"started"`
	// DurationMs is the session's length.
	DurationMs float64 `json:"duration_ms"`
	// Signaling describes the websocket.
	Signaling SignalInfo `json:"signaling"`
	// Calls lists every call, in order.
	Calls []*CallResult `json:"calls"`
	// Verdict sums the session up: the last call's receive verdict, or why no call
	// happened (no peer, silent server).
	Verdict Verdict `json:"verdict"`
	// Checks are the last call's receive side against Config.Thresholds (none when no
	// threshold is set).
	Checks []Check `json:"checks,omitempty"`
}

// SignalInfo describes the signaling connection of a session.
type SignalInfo struct {
	// OpenMs is when the websocket opened, ms since start; JoinedMs when join was sent.
	OpenMs   *float64 `json:"open_ms,omitempty"`
	JoinedMs *float64 `json:"joined_ms,omitempty"`
	// JoinReply is what the server answered to join: "resp-join", "full", "error", or
	// "" (silence, normal for a first joiner on the original server).
	JoinReply string `json:"join_reply,omitempty"`
	// Keepalive is the application keepalive interval in ms (0: off).
	KeepaliveMs float64 `json:"keepalive_ms"`
	// Closed is set when the connection ended before the session did.
	Closed *CloseInfo `json:"closed,omitempty"`
	// Error is the dial or protocol error, if any.
	Error string `json:"error,omitempty"`
	// Received counts messages by cmd.
	Received map[string]int `json:"received,omitempty"`
}

// CloseInfo is how the websocket ended.
type CloseInfo struct {
	Code     int     `json:"code"`
	Text     string  `json:"text,omitempty"`
	AtMs     float64 `json:"at_ms"`
	ByServer bool    `json:"by_server"`
	// CallAgeMs is how long the current call had been up when it closed (0: no call).
	CallAgeMs float64 `json:"call_age_ms,omitempty"`
}

// Timeline holds the stages of one call in ms since the session start; nil = not reached.
type Timeline struct {
	WSOpen               *float64 `json:"ws_open,omitempty"`
	Joined               *float64 `json:"joined,omitempty"`
	PeerKnown            *float64 `json:"peer_known,omitempty"`
	OfferSent            *float64 `json:"offer_sent,omitempty"`
	OfferReceived        *float64 `json:"offer_received,omitempty"`
	AnswerSent           *float64 `json:"answer_sent,omitempty"`
	AnswerReceived       *float64 `json:"answer_received,omitempty"`
	FirstLocalCandidate  *float64 `json:"first_local_candidate,omitempty"`
	FirstRemoteCandidate *float64 `json:"first_remote_candidate,omitempty"`
	ICEChecking          *float64 `json:"ice_checking,omitempty"`
	ICEConnected         *float64 `json:"ice_connected,omitempty"`
	DTLSConnected        *float64 `json:"dtls_connected,omitempty"`
	FirstRTPVideo        *float64 `json:"first_rtp_video,omitempty"`
	FirstRTPAudio        *float64 `json:"first_rtp_audio,omitempty"`
	FirstKeyFrame        *float64 `json:"first_keyframe,omitempty"`
	FirstDecodedFrame    *float64 `json:"first_decoded_frame,omitempty"`
	Ended                *float64 `json:"ended,omitempty"`
}

// Candidate is one ICE candidate as gathered or received.
type Candidate struct {
	Type     string `json:"type"` // host, srflx, prflx, relay
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	// RelayProtocol is the transport to the TURN server for relay candidates (udp, tcp).
	RelayProtocol string `json:"relay_protocol,omitempty"`
	// Raw is the candidate line.
	Raw string `json:"raw,omitempty"`
}

// Candidates lists one side's candidates with counts by type.
type Candidates struct {
	Counts map[string]int `json:"counts"`
	List   []Candidate    `json:"list"`
}

// Pair is the selected candidate pair.
type Pair struct {
	LocalType     string `json:"local_type"`
	RemoteType    string `json:"remote_type"`
	Protocol      string `json:"protocol"`
	Local         string `json:"local"`
	Remote        string `json:"remote"`
	RelayProtocol string `json:"relay_protocol,omitempty"`
	// RelayServer is the ICE server URL the local relay candidate most likely came from
	// (pion does not report it; inferred from the relay address and transport).
	RelayServer string `json:"relay_server,omitempty"`
	// RTTMs is the current round-trip time on the pair, when known.
	RTTMs float64 `json:"rtt_ms,omitempty"`
}

// IsRelay reports whether both ends of the pair are relay candidates.
func (p *Pair) IsRelay() bool {
	return p != nil && p.LocalType == "relay" && p.RemoteType == "relay"
}

// TrackRx is the receive side of one remote track.
type TrackRx struct {
	Kind  string `json:"kind"`
	Codec string `json:"codec"`
	// PayloadType is the negotiated RTP payload type.
	PayloadType int     `json:"payload_type"`
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`
	BitrateKbps float64 `json:"bitrate_kbps"`
	PacketsLost int64   `json:"packets_lost"`
	LossPct     float64 `json:"loss_pct"`
	JitterMs    float64 `json:"jitter_ms"`
	// Video only.
	Frames         uint64   `json:"frames,omitempty"`
	FramesDecoded  uint64   `json:"frames_decoded,omitempty"`
	KeyFrames      uint64   `json:"keyframes,omitempty"`
	DecodeErrors   uint64   `json:"decode_errors,omitempty"`
	Width          int      `json:"width,omitempty"`
	Height         int      `json:"height,omitempty"`
	FPS            float64  `json:"fps,omitempty"`
	Black          bool     `json:"black,omitempty"`
	Frozen         bool     `json:"frozen,omitempty"`
	Freezes        int      `json:"freezes,omitempty"`
	LatencyP50Ms   float64  `json:"latency_p50_ms,omitempty"`
	LatencyP95Ms   float64  `json:"latency_p95_ms,omitempty"`
	FirstDecodedMs *float64 `json:"first_decoded_ms,omitempty"`
	// NotDecoded says why the video was not decoded (H264: "no H264 decoder in this
	// build; black/frozen/latency not checked"): FPS is then frames assembled per second,
	// Width and Height come from the SPS, and Black, Frozen and latency are not measured.
	NotDecoded string `json:"not_decoded,omitempty"`
	// ProfileLevelID is H264's profile-level-id as the stream's SPS states it.
	ProfileLevelID string `json:"profile_level_id,omitempty"`
	// Audio only.
	LevelDBFS float64 `json:"level_dbfs,omitempty"`
	// Silent: the audio was silent for most of the call (not just a gap at the end).
	Silent bool `json:"silent,omitempty"`
	// SoundMs and SilenceMs are decoded audio above and at/below -60 dBFS.
	SoundMs   float64 `json:"sound_ms,omitempty"`
	SilenceMs float64 `json:"silence_ms,omitempty"`
	// PLISent, FIRSent and NACKSent count the feedback this side sent for the track.
	PLISent  int `json:"pli_sent"`
	FIRSent  int `json:"fir_sent"`
	NACKSent int `json:"nack_sent"`
	// Recording is the file the received media was recorded to, if any.
	Recording string `json:"recording,omitempty"`
	// Error is the analyzer's error, if it stopped early.
	Error string `json:"error,omitempty"`
}

// TrackTx is the send side of one local track.
type TrackTx struct {
	Kind  string `json:"kind"`
	Codec string `json:"codec"`
	// ReceiverReports counts RTCP receiver reports from the remote; RemoteLossPct and
	// RemoteJitterMs are from the last one (the remote's view of what we send).
	ReceiverReports int     `json:"receiver_reports"`
	RemoteLossPct   float64 `json:"remote_loss_pct"`
	RemoteLost      int64   `json:"remote_lost"`
	RemoteJitterMs  float64 `json:"remote_jitter_ms"`
	// PLIReceived, FIRReceived and NACKReceived count feedback from the remote.
	PLIReceived  int `json:"pli_received"`
	FIRReceived  int `json:"fir_received"`
	NACKReceived int `json:"nack_received"`
	// KeyFramesForced counts keyframes forced in answer to PLI/FIR.
	KeyFramesForced int `json:"keyframes_forced"`
}

// CallResult is one call (one PeerConnection) of a session.
type CallResult struct {
	// Role is "caller" (got new-peer, sent the offer) or "callee".
	Role      string   `json:"role"`
	RemoteUID string   `json:"remote_uid"`
	Timeline  Timeline `json:"timeline"`
	// ICEState and PCState are the last states seen; MaxICEState the furthest reached.
	ICEState string `json:"ice_state"`
	PCState  string `json:"pc_state"`
	// LocalCandidates and RemoteCandidates are what each side gathered/signaled.
	LocalCandidates  Candidates `json:"local_candidates"`
	RemoteCandidates Candidates `json:"remote_candidates"`
	// GatherErrors are TURN/STUN errors pion logged while gathering (no secrets).
	GatherErrors []string `json:"gather_errors,omitempty"`
	// Selected is the selected candidate pair, once connected.
	Selected *Pair `json:"selected,omitempty"`
	// RemoteCodecs are the video/audio codecs the remote SDP offered or accepted.
	RemoteCodecs map[string][]string `json:"remote_codecs,omitempty"`
	// RemoteSends says which kinds the remote SDP sends (a=sendrecv/sendonly).
	RemoteSends Media `json:"remote_sends"`
	// LocalCodecs are the codecs this side registered.
	LocalCodecs map[string][]string `json:"local_codecs,omitempty"`
	Rx          []*TrackRx          `json:"rx"`
	Tx          []*TrackTx          `json:"tx"`
	// Verdict is the receive direction: remote -> this peer.
	Verdict Verdict `json:"verdict"`
	// SendVerdict is the send direction (this peer -> remote) as far as the remote's RTCP
	// receiver reports tell; nil when the call was too short to judge or nothing was sent.
	SendVerdict *Verdict `json:"send_verdict,omitempty"`
	// LastFrame is the last decoded video frame (Config.KeepFrame), for snapshots.
	LastFrame image.Image `json:"-"`
	// EndReason says why the call ended: "peer-leave", "done", "duration" (the --duration
	// passed), "call-timeout", "timeout-negotiate", "timeout-ice", "ice-failed", "error",
	// "replaced", "signal-closed", "canceled" (interrupted).
	EndReason string `json:"end_reason,omitempty"`
}

// Status is a live snapshot for a one-line display.
type Status struct {
	// Stage is a short word: dialing, joined, waiting-peer, negotiating, ice, connected,
	// media, done.
	Stage string
	// Role and Remote name the current call, if any.
	Role, Remote string
	// FPS, BitrateKbps and LossPct are of the received video (or audio when no video).
	FPS, BitrateKbps, LossPct float64
	// Frames is the decoded frame count.
	Frames uint64
}

// Verdict is the diagnosis of one direction of a call, or of a session with no call.
type Verdict struct {
	// OK is true when media flowed as expected.
	OK bool `json:"ok"`
	// Code is a short stable code: "ok", "no-peer", "signal-failed", "no-offer",
	// "no-answer", "ice-failed", "dtls-failed", "no-rtp", "no-common-codec", "no-frames",
	// "no-keyframe", "decode-errors", "black", "frozen", "silent".
	Code string `json:"code"`
	// Finding is one line saying what went wrong (or that all is well).
	Finding string `json:"finding"`
	// Evidence lists the observations the finding rests on.
	Evidence []string `json:"evidence,omitempty"`
	// Causes lists the likely causes, most likely first.
	Causes []string `json:"causes,omitempty"`
	// Fix says what to do, in a line or two.
	Fix string `json:"fix,omitempty"`
	// Notes are further findings that do not decide the verdict (e.g. the signaling
	// websocket dropped mid-call).
	Notes []Note `json:"notes,omitempty"`
}

// Note is a secondary finding.
type Note struct {
	Code    string `json:"code"`
	Finding string `json:"finding"`
	Fix     string `json:"fix,omitempty"`
}
