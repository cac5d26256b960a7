// Package media provides rtcctl's synthetic media and receive-side analysis.
//
// # Sending
//
// AcquireVideo / AcquireAudio return a reference to the one shared encoder
// per media profile (VideoProfile.Key, AudioProfile.Key) in the process. The
// encoder paces a synthetic source with a time.Ticker, encodes each frame
// once (VP8 via libvpx; H264 via libx264, constrained baseline, see x264.go;
// Opus via the libopus bundled with pion/mediadevices)
// and writes the encoded frame to every attached
// webrtc.TrackLocalStaticSample, so the cost of encoding does not grow with
// the number of peers. The last Release stops the goroutine and frees the
// codec. A new video subscriber receives frames from the next keyframe on;
// ForceKeyFrame (for PLI/FIR) is rate-limited to one per KeyFrameMinInterval.
//
// Video patterns: "moving" (a gradient with sliding bars and a bouncing box
// with fresh noise inside, so the stream uses its bit rate like a camera),
// "black" (Y=0, no stamp) and "frozen" (one stamped picture repeated).
// Audio patterns: "tone" (440 Hz 0-500 ms, 880 Hz 500-800 ms, silence
// 800-1000 ms of every second, -15 dBFS RMS while sounding) and "silence".
//
// # The frame stamp
//
// Every moving and frozen video frame carries its frame number and send
// time as a block barcode in the top band (see stamp.go for the layout). It
// survives VP8 at 100 kbit/s at 640x480. ReadStamp decodes it; receivers use
// it for end-to-end latency (sender and receiver clocks must agree: same
// host or synchronised clocks), frames lost end to end, and freeze detection
// that cannot be fooled by a repeated picture.
//
// # Receiving
//
// VideoAnalyzer and AudioAnalyzer read RTP from a webrtc.TrackRemote and
// keep plain-data statistics, readable at any time: RTP loss from sequence
// numbers and RFC 3550 jitter; for VP8, frames rebuilt from RTP (released on
// the marker bit, see assembler.go), libvpx decoding on a goroutine
// behind a bounded queue, black (dark AND flat) and frozen detection, stamp
// latency percentiles; for H264, access units rebuilt the same way (single
// NAL, STAP-A, FU-A), keyframes from IDR NAL units and the size from the SPS,
// but no decoding (there is no H264 decoder in this build: VideoStats.NotDecoded
// says so, and black, frozen and latency are not measured); for Opus, libopus
// decoding and the RMS level. Received media can be recorded as IVF (VP8),
// an Annex B .h264 file (H264) or Ogg (Opus).
//
// The package prints nothing; callers inject logf functions.
package media
