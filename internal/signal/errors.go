package signal

import (
	"errors"
	"fmt"
)

// Sentinel errors of the signal package. Callers match them with errors.Is.
var (
	// ErrMalformed means a frame is not a JSON object (bad JSON, null, an array, a scalar).
	ErrMalformed = errors.New("signal: malformed message")
	// ErrNoCmd means the object has no string "cmd" field.
	ErrNoCmd = errors.New("signal: missing cmd")
	// ErrUnknownCmd means the cmd is not one of the protocol's commands.
	ErrUnknownCmd = errors.New("signal: unknown cmd")
	// ErrBadField means a field has the wrong JSON type or a required field is missing.
	ErrBadField = errors.New("signal: bad field")
	// ErrBadCandidate means a candidate payload is in neither known format.
	ErrBadCandidate = errors.New("signal: bad candidate")
)

// Sentinel errors of the client side. Dial errors wrap exactly one of ErrDial, ErrTLS or
// ErrUpgrade (plus ErrDNS for name resolution failures), and the underlying error.
var (
	// ErrBadURL means the signaling URL is not a ws:// or wss:// URL.
	ErrBadURL = errors.New("signal: bad URL")
	// ErrNoReply means the server said nothing within the deadline. The original server
	// answers a first joiner and a third joiner of a full room with silence, and a peer
	// whose room id has a different JSON type than its partner's never meets it.
	ErrNoReply = errors.New("signal: no reply from the server")
	// ErrRoomFull means a hardened server answered join with cmd "full".
	ErrRoomFull = errors.New("signal: room full")
	// ErrServer means the server answered with cmd "error".
	ErrServer = errors.New("signal: server reported an error")
	// ErrClosed means the connection has ended (by either side, or it dropped).
	ErrClosed = errors.New("signal: connection closed")
	// ErrKeepaliveTimeout means nothing (not even a pong) arrived within the pong timeout.
	ErrKeepaliveTimeout = errors.New("signal: keepalive timeout")
	// ErrDial means the TCP connection could not be made (refused, unreachable, timeout,
	// DNS).
	ErrDial = errors.New("signal: dial failed")
	// ErrDNS means the host name did not resolve; it comes together with ErrDial.
	ErrDNS = errors.New("signal: name resolution failed")
	// ErrTLS means the TLS handshake failed (unknown authority, wrong host name, not TLS).
	ErrTLS = errors.New("signal: TLS handshake failed")
	// ErrUpgrade means the HTTP server did not switch to WebSocket (status not 101). The
	// error is an *UpgradeError carrying the status code.
	ErrUpgrade = errors.New("signal: websocket upgrade refused")
)

// UpgradeError is returned by Dial when the server answered the upgrade request with an
// HTTP status other than 101. errors.Is(err, ErrUpgrade) holds for it.
type UpgradeError struct {
	// Status is the HTTP status code, e.g. 404 or 403.
	Status int
	// Body is the start of the response body (at most 512 bytes), for diagnosis.
	Body string
}

// Error describes the refused upgrade with its status code.
func (e *UpgradeError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%v: HTTP %d", ErrUpgrade, e.Status)
	}
	return fmt.Sprintf("%v: HTTP %d: %q", ErrUpgrade, e.Status, e.Body)
}

// Unwrap makes errors.Is(err, ErrUpgrade) true.
func (e *UpgradeError) Unwrap() error { return ErrUpgrade }
