package peer

import "errors"

// Sentinel errors of the peer package. Failures of the call itself (no peer, ICE failed,
// no media) are not errors: they are verdicts in the Result.
var (
	// ErrConfig means the Config is invalid (missing server URL or room, bad profile).
	ErrConfig = errors.New("peer: invalid config")
	// ErrSignal means the signaling server could not be reached or joined at all.
	ErrSignal = errors.New("peer: signaling failed")
	// ErrMedia means the local media source or encoder could not be started.
	ErrMedia = errors.New("peer: media source failed")
	// ErrEmbedded means the embedded server (signaling + TURN) could not be started.
	ErrEmbedded = errors.New("peer: embedded server failed")
)
