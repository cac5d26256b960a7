package media

import (
	"fmt"
	"strings"
)

// Codec and pattern names accepted in profiles.
const (
	CodecVP8  = "vp8"
	CodecH264 = "h264" // sent only: this build has no H264 decoder
	CodecOpus = "opus"

	// PatternMoving is the default video pattern: a gradient with moving
	// bars and a moving box, plus the frame stamp.
	PatternMoving = "moving"
	// PatternBlack is all-black frames without a stamp, so black detection
	// on the receiver is judged on honest pixels.
	PatternBlack = "black"
	// PatternFrozen repeats one stamped frame: identical pixels, stamp not advancing.
	PatternFrozen = "frozen"

	// PatternTone is the default audio pattern: a 440 Hz / 880 Hz tone
	// alternating every 500 ms, with 200 ms of silence after every second.
	PatternTone = "tone"
	// PatternSilence is digital silence (all-zero samples).
	PatternSilence = "silence"
)

// Default profile values, used for zero fields.
const (
	DefaultWidth            = 640
	DefaultHeight           = 480
	DefaultFPS              = 30
	DefaultVideoBitrateKbps = 1000
	DefaultAudioBitrateKbps = 32
)

// VideoProfile describes one synthetic video stream. Zero fields take the
// defaults (640x480@30, 1000 kbit/s, vp8, moving). Two profiles with the same
// Key share one encoder.
type VideoProfile struct {
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	FPS         int    `json:"fps"`
	BitrateKbps int    `json:"bitrate_kbps"`
	Codec       string `json:"codec"`   // "vp8" (default) or "h264"
	Pattern     string `json:"pattern"` // "moving" (default), "black", "frozen"
}

// Normalized returns p with defaults filled in and names lower-cased.
func (p VideoProfile) Normalized() VideoProfile {
	if p.Width == 0 {
		p.Width = DefaultWidth
	}
	if p.Height == 0 {
		p.Height = DefaultHeight
	}
	if p.FPS == 0 {
		p.FPS = DefaultFPS
	}
	if p.BitrateKbps == 0 {
		p.BitrateKbps = DefaultVideoBitrateKbps
	}
	p.Codec = strings.ToLower(p.Codec)
	if p.Codec == "" {
		p.Codec = CodecVP8
	}
	p.Pattern = strings.ToLower(p.Pattern)
	if p.Pattern == "" {
		p.Pattern = PatternMoving
	}
	return p
}

// H.264 level 3.1 limits (Table A-1), the level H264Capability announces.
const (
	h264MaxFS   = 3600   // macroblocks per frame
	h264MaxMBPS = 108000 // macroblocks per second
	h264MaxKbps = 14000  // baseline profile
)

// Validate reports whether the (normalized) profile can be produced.
func (p VideoProfile) Validate() error {
	p = p.Normalized()
	switch {
	case p.Codec == CodecVP8:
	case p.Codec == CodecH264 && H264Available:
	case p.Codec == CodecH264:
		return fmt.Errorf("%w: video codec h264 (this build has no libx264: built with -tags nox264)", ErrUnsupportedCodec)
	default:
		return fmt.Errorf("%w: video codec %q (vp8 or h264)", ErrUnsupportedCodec, p.Codec)
	}
	switch p.Pattern {
	case PatternMoving, PatternBlack, PatternFrozen:
	default:
		return fmt.Errorf("%w: video pattern %q", ErrUnknownPattern, p.Pattern)
	}
	if p.Width < 160 || p.Height < 120 || p.Width > 3840 || p.Height > 2160 || p.Width%2 != 0 || p.Height%2 != 0 {
		return fmt.Errorf("%w: size %dx%d (even, 160x120 to 3840x2160)", ErrBadProfile, p.Width, p.Height)
	}
	if p.FPS < 1 || p.FPS > 120 {
		return fmt.Errorf("%w: fps %d (1 to 120)", ErrBadProfile, p.FPS)
	}
	if p.BitrateKbps < 30 || p.BitrateKbps > 50000 {
		return fmt.Errorf("%w: bitrate %d kbit/s (30 to 50000)", ErrBadProfile, p.BitrateKbps)
	}
	if p.Codec == CodecH264 {
		// The SDP announces level 3.1 (profile-level-id 42e01f, the line browsers offer),
		// and x264 picks the lowest level that fits the stream: keep the stream within 3.1
		// (H.264 Table A-1: MaxFS 3600 macroblocks, MaxMBPS 108000, MaxBR 14000 kbit/s for
		// baseline) so the SPS never claims more than was negotiated.
		mbs := ((p.Width + 15) / 16) * ((p.Height + 15) / 16)
		if mbs > h264MaxFS || mbs*p.FPS > h264MaxMBPS || p.BitrateKbps > h264MaxKbps {
			return fmt.Errorf("%w: h264 %dx%d@%d at %d kbit/s is beyond level 3.1, which the SDP announces (at most 1280x720@30 or 3600 macroblocks per frame, 108000 per second, 14 Mbit/s)",
				ErrBadProfile, p.Width, p.Height, p.FPS, p.BitrateKbps)
		}
	}
	return nil
}

// Key is the canonical name of the normalized profile, e.g.
// "vp8/640x480@30/1000k/moving". Encoders are shared per key.
func (p VideoProfile) Key() string {
	p = p.Normalized()
	return fmt.Sprintf("%s/%dx%d@%d/%dk/%s", p.Codec, p.Width, p.Height, p.FPS, p.BitrateKbps, p.Pattern)
}

// AudioProfile describes one synthetic audio stream. Zero fields take the
// defaults (opus, 32 kbit/s, tone).
type AudioProfile struct {
	Codec       string `json:"codec"` // "opus" (default)
	BitrateKbps int    `json:"bitrate_kbps"`
	Pattern     string `json:"pattern"` // "tone" (default), "silence"
}

// Normalized returns p with defaults filled in and names lower-cased.
func (p AudioProfile) Normalized() AudioProfile {
	p.Codec = strings.ToLower(p.Codec)
	if p.Codec == "" {
		p.Codec = CodecOpus
	}
	if p.BitrateKbps == 0 {
		p.BitrateKbps = DefaultAudioBitrateKbps
	}
	p.Pattern = strings.ToLower(p.Pattern)
	if p.Pattern == "" {
		p.Pattern = PatternTone
	}
	return p
}

// Validate reports whether the (normalized) profile can be produced.
func (p AudioProfile) Validate() error {
	p = p.Normalized()
	if p.Codec != CodecOpus {
		return fmt.Errorf("%w: audio codec %q (only opus)", ErrUnsupportedCodec, p.Codec)
	}
	switch p.Pattern {
	case PatternTone, PatternSilence:
	default:
		return fmt.Errorf("%w: audio pattern %q", ErrUnknownPattern, p.Pattern)
	}
	if p.BitrateKbps < 6 || p.BitrateKbps > 510 {
		return fmt.Errorf("%w: bitrate %d kbit/s (6 to 510)", ErrBadProfile, p.BitrateKbps)
	}
	return nil
}

// Key is the canonical name of the normalized profile, e.g. "opus/32k/tone".
func (p AudioProfile) Key() string {
	p = p.Normalized()
	return fmt.Sprintf("%s/%dk/%s", p.Codec, p.BitrateKbps, p.Pattern)
}
