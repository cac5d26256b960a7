package load

import "context"

// RoomRunner runs one media call in room and reports it. It must honour ctx, must not
// panic, and turns every failure into a CallResult with OK false and a Verdict code (a
// failing call is a row of data, not an error). status, when called, updates the live
// progress; it is safe to call from any goroutine and never blocks.
type RoomRunner func(ctx context.Context, room Room, status func(LiveStatus)) CallResult

// LiveStatus is a running call's state for the progress line.
type LiveStatus struct {
	// Connected is set once media flows (ICE connected).
	Connected bool
	// RxKbps is the call's current received bitrate over both directions; LossPct its
	// current loss.
	RxKbps  float64
	LossPct float64
}

// CallResult is one media call, as a RoomRunner reports it. Times are ms since the room
// started; nil means the stage was not reached.
type CallResult struct {
	// OK is true when the call passed the runner's own checks.
	OK bool `json:"ok"`
	// Verdict is the diagnosis code of a failed call ("" when OK); Error the detail.
	Verdict string `json:"verdict,omitempty"`
	Error   string `json:"error,omitempty"`
	// Unreachable says the signaling server could not be reached at all (TCP, TLS or the
	// WebSocket upgrade failed), as opposed to a call that failed once connected.
	Unreachable bool `json:"unreachable,omitempty"`
	// Connected says ICE connected; Relay says the selected pair was relay (TURN).
	Connected bool `json:"connected"`
	Relay     bool `json:"relay"`
	// Decoded says the call decoded its received video (picture checks); false: RTP and
	// frame assembly only (PeerConfig.DecodeSample, --decode).
	Decoded bool `json:"decoded"`
	// PeerKnownMs, ICEConnectedMs and FirstFrameMs are the stages.
	PeerKnownMs    *float64 `json:"peer_known_ms,omitempty"`
	ICEConnectedMs *float64 `json:"ice_connected_ms,omitempty"`
	FirstFrameMs   *float64 `json:"first_frame_ms,omitempty"`
	// Directions are the received sides (normally two: at the callee and at the caller).
	Directions []Direction `json:"directions,omitempty"`
}

// Direction is what one side received. Nil fields were not measured.
type Direction struct {
	FPS         *float64 `json:"fps,omitempty"`
	BitrateKbps *float64 `json:"bitrate_kbps,omitempty"`
	LossPct     *float64 `json:"loss_pct,omitempty"`
	LatencyMs   *float64 `json:"latency_ms,omitempty"`
}
