// Package media provides rtcctl's synthetic media and receive-side analysis.
//
// Sending: AcquireVideo / AcquireAudio return a reference to one shared
// encoder per media profile in the process. The encoder paces a synthetic
// source with a time.Ticker, encodes each frame once (VP8 via libvpx, Opus
// via the libopus bundled with pion/mediadevices) and writes the encoded
// frame to every attached webrtc.TrackLocalStaticSample, so the cost of
// encoding does not grow with the number of peers.
//
// Every synthetic video frame carries a machine-readable stamp (frame number
// and send time) drawn as a block barcode in the top band of the picture; see
// stamp.go. The receiver decodes it to measure end-to-end latency and lost
// frames without any side channel.
//
// Receiving: VideoAnalyzer and AudioAnalyzer read RTP from a
// webrtc.TrackRemote and produce plain-data statistics (RTP loss and jitter,
// decoded frames, black/frozen detection, stamp latency, audio level).
//
// The package prints nothing; callers inject a logf function.
package media
