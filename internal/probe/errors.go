// Package probe checks the network pieces a call depends on (TURN servers, STUN servers and
// the signaling websocket) and returns what it found as plain data: every stage is a row with
// its timing, outcome and, on failure, what it means and how to fix it. The package prints
// nothing; a Logf hook receives debug lines.
package probe

import "errors"

// Sentinel errors of the probe package.
var (
	// ErrBadURL means a server URL could not be parsed.
	ErrBadURL = errors.New("probe: bad URL")
	// ErrNoURLs means no server URL was given.
	ErrNoURLs = errors.New("probe: no server URL given")
	// ErrTimeout means a stage got no answer before its deadline.
	ErrTimeout = errors.New("probe: no answer before the deadline")
	// ErrRefused means the server actively refused: TCP RST or ICMP port unreachable.
	ErrRefused = errors.New("probe: connection refused")
	// ErrClosed means the server closed the connection.
	ErrClosed = errors.New("probe: connection closed by the server")
	// ErrProtocol means the server answered with something unexpected.
	ErrProtocol = errors.New("probe: unexpected answer")
)
