package serve

import "errors"

// Sentinel errors of the serve package. The command layer turns them into exit codes and
// hints.
var (
	// ErrConfig means the Config is unusable (bad address, conflicting TLS options).
	ErrConfig = errors.New("serve: bad config")
	// ErrAddrInUse means the HTTP/WebSocket or TURN port is already taken.
	ErrAddrInUse = errors.New("serve: port in use")
	// ErrListen means the HTTP/WebSocket listener could not be opened for another reason.
	ErrListen = errors.New("serve: cannot listen")
	// ErrTLS means the certificate or key could not be loaded or generated.
	ErrTLS = errors.New("serve: TLS material")
	// ErrTURN means the embedded TURN server could not start.
	ErrTURN = errors.New("serve: embedded TURN")
)
