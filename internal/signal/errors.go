package signal

import "errors"

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
