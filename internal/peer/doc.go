// Package peer is one headless WebRTC session in a room of the course signaling system:
// it joins, takes the caller or callee role exactly like the course clients, negotiates,
// sends synthetic media from the shared encoders, receives and analyses the remote media,
// and returns a plain-data Result: a timeline, the candidates gathered, the selected pair,
// per-track statistics and a verdict per direction that walks the failure ladder (no peer,
// no offer/answer, ICE, DTLS, RTP, frames, keyframes, decoding, black, frozen).
//
// RunCall runs two sessions (caller and callee) in one process, as a self-contained smoke
// test of a deployment or of the embedded server. The package prints nothing; logs go to
// the injected Logf.
package peer
