package media

import "errors"

// Sentinel errors returned (wrapped) by this package.
var (
	// ErrUnsupportedCodec is returned for a codec other than vp8 or h264 (video) or opus
	// (audio), and for h264 in a build without libx264 (-tags nox264).
	ErrUnsupportedCodec = errors.New("media: unsupported codec")
	// ErrBadProfile is returned for a profile with out-of-range values.
	ErrBadProfile = errors.New("media: bad profile")
	// ErrUnknownPattern is returned for a pattern name the source does not know.
	ErrUnknownPattern = errors.New("media: unknown pattern")
	// ErrEncoderStopped is returned when a source or encoder was closed.
	ErrEncoderStopped = errors.New("media: encoder stopped")
	// ErrNeedKeyFrame is returned by the decoder for an inter frame arriving
	// before the first keyframe (or after a loss), which libvpx cannot decode.
	ErrNeedKeyFrame = errors.New("media: decoder waiting for a keyframe")
	// ErrDecode is returned when a decoder rejects a frame or packet.
	ErrDecode = errors.New("media: decode failed")
	// ErrAlreadyConsumed is returned by a second Consume on one analyzer.
	ErrAlreadyConsumed = errors.New("media: analyzer already consumed a track")
)
