package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
)

// VideoStats is a snapshot of a VideoAnalyzer. Times are zero until the
// event happened.
type VideoStats struct {
	Codec       string  `json:"codec"` // MIME type, e.g. "video/VP8"
	PayloadType uint8   `json:"payload_type"`
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`        // RTP payload bytes
	BitrateKbps float64 `json:"bitrate_kbps"` // payload bit rate over the last ~2 s
	PacketsLost int64   `json:"packets_lost"` // from sequence numbers (RFC 3550)
	LossPct     float64 `json:"loss_pct"`
	JitterMs    float64 `json:"jitter_ms"` // RFC 3550 interarrival jitter

	// Filled by the caller from its RTCP side (the analyzer does not send RTCP).
	PLISent  int `json:"pli_sent"`
	FIRSent  int `json:"fir_sent"`
	NACKSent int `json:"nack_sent"`
	// KeyFrameRequests counts calls of the requestKeyframe callback.
	KeyFrameRequests int `json:"keyframe_requests"`

	FramesAssembled int `json:"frames_assembled"` // complete frames rebuilt from RTP
	// FramesIncomplete counts frames given up with packets missing (after
	// waiting 300 ms for retransmissions).
	FramesIncomplete int `json:"frames_incomplete"`
	KeyFrames        int `json:"keyframes"`
	FramesDropped    int `json:"frames_dropped"` // not decoded: queue full or waiting for a keyframe
	FramesDecoded    int `json:"frames_decoded"`
	// NotDecoded says why frames are not decoded (H264: no decoder in this build), so
	// black, frozen, stamp and latency are not measured; empty when they are decoded
	// (or when AnalyzerConfig.NoDecode turned decoding off).
	NotDecoded string `json:"not_decoded,omitempty"`
	// ProfileLevelID is the H264 profile-level-id read from the stream's SPS (6 hex
	// digits, as in SDP), to compare with the negotiated one.
	ProfileLevelID string  `json:"profile_level_id,omitempty"`
	DecodeErrors   int     `json:"decode_errors"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	FPS            float64 `json:"fps"` // decoded (or, when not decoded, assembled) frames per second over the last ~2 s

	FirstRTPAt      time.Time `json:"first_rtp_at"`
	FirstKeyFrameAt time.Time `json:"first_keyframe_at"`
	FirstDecodedAt  time.Time `json:"first_decoded_at"`

	AnalysedFrames int     `json:"analysed_frames"` // frames whose pixels were analysed
	BlackFrames    int     `json:"black_frames"`
	Black          bool    `json:"black"` // most analysed frames of the last second were black
	MeanLuma       float64 `json:"mean_luma"`
	LumaVariance   float64 `json:"luma_variance"`

	// Frozen: no change for FreezeAfter up to now (stamp not advancing,
	// unstamped picture unchanged, or no picture at all). Black pictures
	// count as changing, so a black stream is Black but not Frozen.
	Frozen          bool    `json:"frozen"`
	Freezes         int     `json:"freezes"`
	LongestFreezeMs float64 `json:"longest_freeze_ms"`

	StampedFrames int `json:"stamped_frames"` // decoded frames with a readable stamp
	// StampLostFrames counts decoded frames without a readable stamp after
	// the first stamped one (damaged pictures, or a source without stamps).
	StampLostFrames int `json:"stamp_lost_frames"`
	// StampGapFrames counts frame numbers skipped between consecutive stamps:
	// frames the sender produced that were never decoded here.
	StampGapFrames int `json:"stamp_gap_frames"`
	// Latency from the stamp's send time to decode, sender and receiver
	// clocks assumed equal (same host, or synchronised clocks).
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`

	Recording   string `json:"recording,omitempty"`
	RecordError string `json:"record_error,omitempty"`
}

// rtpRecorder writes received RTP to a file (IVF for VP8, Annex B for H264).
type rtpRecorder interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// changeThreshold is the mean absolute luma difference (0-255, on a 64x48
// grid outside the stamp band) above which an unstamped picture changed.
const changeThreshold = 0.75

// VideoAnalyzer measures one received video track. Create it with
// NewVideoAnalyzer, run Consume once, read Stats at any time.
type VideoAnalyzer struct {
	cfg      AnalyzerConfig
	consumed atomic.Bool
	kf       keyFrameRequester

	mu       sync.Mutex
	st       VideoStats
	rtp      *rtpCounter
	fps      rateMeter // decoded frames
	asmRate  rateMeter // assembled frames
	decoding bool
	last     *image.YCbCr
	endedAt  time.Time // Consume returned: Stats reports the state at this time

	// picture analysis state (decode goroutine writes under mu)
	decodedSince int       // decoded frames since the last analysed one
	thumb, refTh lumaThumb // current picture, picture at the last change
	haveThumb    bool
	blackRecent  []blackMark
	lastFrameAt  time.Time
	lastChangeAt time.Time
	haveStamp    bool
	lastStamp    uint32
	lat          latencyHist
}

type blackMark struct {
	at    time.Time
	black bool
}

// NewVideoAnalyzer returns an analyzer with cfg (zero fields: defaults).
func NewVideoAnalyzer(cfg AnalyzerConfig) *VideoAnalyzer {
	cfg = cfg.withDefaults()
	a := &VideoAnalyzer{cfg: cfg, rtp: newRTPCounter(90000)}
	a.kf.now = cfg.Now
	return a
}

// Consume reads RTP from track until the track ends or ctx is done (both
// return nil). requestKeyframe (may be nil) is called at the start and
// whenever the decoder needs a keyframe (lost frames, decode errors), at
// most every 250 ms; the caller sends PLI. Consume may be called once.
func (a *VideoAnalyzer) Consume(ctx context.Context, track *webrtc.TrackRemote, requestKeyframe func()) error {
	return a.ConsumeRTP(ctx, track, track.Codec(), requestKeyframe)
}

type decodeJob struct {
	data []byte
	key  bool
}

// decodeQueue bounds the frames waiting for the decoder, so a slow decoder
// drops frames (and asks for a keyframe) instead of stalling RTP reading.
const decodeQueue = 8

// ConsumeRTP is Consume for any RTP source (tests, benchmarks, replays);
// codec describes the stream: VP8 is assembled and decoded; H264 is assembled into
// access units (keyframes from IDR NAL units, size from the SPS) but not decoded
// (VideoStats.NotDecoded says so); other codecs get RTP and recording statistics only.
func (a *VideoAnalyzer) ConsumeRTP(ctx context.Context, src RTPReader, codec webrtc.RTPCodecParameters, requestKeyframe func()) error {
	if !a.consumed.CompareAndSwap(false, true) {
		return ErrAlreadyConsumed
	}
	isVP8 := strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8)
	isH264 := strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264)
	a.mu.Lock()
	if isH264 {
		a.st.NotDecoded = H264NotDecoded
	}
	a.st.Codec = codec.MimeType
	a.st.PayloadType = uint8(codec.PayloadType)
	if codec.ClockRate != 0 {
		a.rtp = newRTPCounter(codec.ClockRate)
	}
	a.mu.Unlock()
	a.kf.fn = requestKeyframe
	a.kf.request(true)

	var (
		jobs    chan decodeJob
		workers sync.WaitGroup
	)
	if isVP8 && !a.cfg.NoDecode {
		dec, err := newVP8Decoder()
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.decoding = true
		a.mu.Unlock()
		jobs = make(chan decodeJob, decodeQueue)
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer dec.Close()
			for j := range jobs {
				a.decodeOne(dec, j)
			}
		}()
	}

	var rec rtpRecorder
	if a.cfg.RecordPath != "" && isH264 {
		// H264 does not go in IVF: record the Annex B byte stream (ffplay, VLC play it).
		path := strings.TrimSuffix(a.cfg.RecordPath, ".ivf") + ".h264"
		w, err := h264writer.New(path)
		a.mu.Lock()
		if err != nil {
			a.st.RecordError = err.Error()
			a.cfg.Logf("media: record %s: %v", path, err)
		} else {
			rec = w
			a.st.Recording = path
		}
		a.mu.Unlock()
	} else if a.cfg.RecordPath != "" {
		// PTS are the RTP timestamps on the RTP clock: exact at any frame rate (pion's
		// default converts to ms and then divides by its 1/30 timebase: 10% slow).
		clock := codec.ClockRate
		if clock == 0 {
			clock = 90000
		}
		w, err := ivfwriter.New(a.cfg.RecordPath, ivfwriter.WithCodec(codec.MimeType),
			ivfwriter.WithFrameRate(1, clock), ivfwriter.WithDirectPTS())
		a.mu.Lock()
		if err != nil {
			a.st.RecordError = err.Error()
			a.cfg.Logf("media: record %s: %v", a.cfg.RecordPath, err)
		} else {
			rec = w
			a.st.Recording = a.cfg.RecordPath
		}
		a.mu.Unlock()
	}

	var recW, recH uint16 // the first keyframe's size, for the IVF header
	var asm *frameAssembler
	switch {
	case isVP8:
		asm = &frameAssembler{}
	case isH264:
		asm = newH264Assembler()
	}
	resync := false // a frame was lost or dropped: skip to the next keyframe
	err := readLoop(ctx, src, func(p *rtp.Packet) {
		now := a.cfg.Now()
		a.mu.Lock()
		if a.st.FirstRTPAt.IsZero() {
			a.st.FirstRTPAt = now
		}
		a.rtp.add(p, now)
		a.mu.Unlock()
		if rec != nil {
			if err := rec.WriteRTP(p); err != nil {
				a.mu.Lock()
				a.st.RecordError = err.Error()
				a.mu.Unlock()
				a.cfg.Logf("media: record: %v", err)
				_ = rec.Close()
				rec = nil
			}
		}
		if asm == nil {
			return
		}
		frames := asm.push(p, now)
		a.mu.Lock()
		a.st.FramesIncomplete = asm.DroppedAsm
		a.mu.Unlock()
		for _, f := range frames {
			a.mu.Lock()
			a.st.FramesAssembled++
			a.asmRate.add(now, 1)
			if f.Key {
				if isVP8 {
					if w, h, ok := vp8KeyFrameSize(f.Data); ok && recW == 0 {
						recW, recH = w, h
					}
				} else if w, h, pl, ok := h264SPSInfo(f.Data); ok {
					// Not decoded: the size the stream says it has.
					a.st.Width, a.st.Height, a.st.ProfileLevelID = w, h, pl
				}
				a.st.KeyFrames++
				if a.st.FirstKeyFrameAt.IsZero() {
					a.st.FirstKeyFrameAt = now
				}
			}
			a.mu.Unlock()
			if jobs == nil {
				continue
			}
			if f.LostBefore && !f.Key {
				// The reference chain is broken until the next keyframe.
				resync = true
			}
			if resync && !f.Key {
				a.dropFrame()
				continue
			}
			select {
			case jobs <- decodeJob{data: f.Data, key: f.Key}:
				resync = false
			default:
				resync = true
				a.dropFrame()
			}
		}
	})
	if jobs != nil {
		close(jobs)
	}
	workers.Wait()
	if rec != nil {
		cerr := rec.Close()
		if cerr == nil && recW != 0 && isVP8 {
			// ivfwriter's header says 640x480 unless told; the size is known only now.
			cerr = patchIVFSize(a.cfg.RecordPath, recW, recH)
		}
		if cerr != nil {
			a.mu.Lock()
			a.st.RecordError = cerr.Error()
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	a.endedAt = a.cfg.Now()
	a.checkFreeze(a.endedAt)
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("media: read video RTP: %w", err)
	}
	return nil
}

func (a *VideoAnalyzer) dropFrame() {
	a.mu.Lock()
	a.st.FramesDropped++
	a.mu.Unlock()
	a.kf.request(false)
}

// decodeOne runs on the decode goroutine.
func (a *VideoAnalyzer) decodeOne(dec *vp8Decoder, j decodeJob) {
	img, err := dec.Decode(j.data)
	now := a.cfg.Now()
	if err != nil {
		if !errors.Is(err, ErrNeedKeyFrame) {
			a.mu.Lock()
			a.st.DecodeErrors++
			first := a.st.DecodeErrors == 1
			a.mu.Unlock()
			if first {
				a.cfg.Logf("media: %v", err)
			}
		} else {
			a.mu.Lock()
			a.st.FramesDropped++
			a.mu.Unlock()
		}
		a.kf.request(false)
		return
	}
	if img == nil {
		return
	}
	a.onPicture(img, now)
}

// onPicture analyses one decoded picture (decode goroutine only).
func (a *VideoAnalyzer) onPicture(img *image.YCbCr, now time.Time) {
	stamp, stamped := ReadStamp(img)

	a.mu.Lock()
	a.decodedSince++
	analyse := a.decodedSince >= a.cfg.DecodeEvery || a.st.AnalysedFrames == 0
	a.mu.Unlock()
	var ls lumaStats
	if analyse {
		ls = lumaStatsOf(img, 4)
		thumbOf(img, &a.thumb) // thumb and refTh are only touched here
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	st := &a.st
	st.FramesDecoded++
	a.fps.add(now, 1)
	if st.FirstDecodedAt.IsZero() {
		st.FirstDecodedAt = now
	}
	st.Width, st.Height = img.Rect.Dx(), img.Rect.Dy()
	a.last = img

	changed := false
	if stamped {
		st.StampedFrames++
		// A repeated stamp (frozen source) has no new latency to measure.
		if !a.haveStamp || stamp.Frame != a.lastStamp {
			a.lat.add(now.Sub(stamp.SentAt))
		}
		if a.haveStamp {
			if stamp.Frame != a.lastStamp {
				changed = true
			}
			if d := int64(stamp.Frame) - int64(a.lastStamp); d > 1 && d < 1<<20 {
				st.StampGapFrames += int(d - 1)
			}
		} else {
			changed = true
		}
		a.haveStamp = true
		a.lastStamp = stamp.Frame
	} else if a.haveStamp {
		st.StampLostFrames++
	}

	if analyse {
		a.decodedSince = 0
		st.AnalysedFrames++
		st.MeanLuma, st.LumaVariance = ls.Mean, ls.Variance
		black := ls.Mean < a.cfg.BlackLuma && ls.Variance < a.cfg.BlackVariance
		if black {
			st.BlackFrames++
		}
		a.blackRecent = append(a.blackRecent, blackMark{now, black})
		for len(a.blackRecent) > 1 && now.Sub(a.blackRecent[0].at) > time.Second {
			a.blackRecent = a.blackRecent[1:]
		}
		if black {
			// A black picture is reported as Black, not also as Frozen.
			changed = true
		} else if !stamped {
			// Unstamped source (a browser camera): judge change on pixels,
			// against the picture at the last change rather than the
			// previous frame, so slow motion adds up until it counts while
			// coding noise on a still picture (well under one luma level on
			// average) never does.
			if !a.haveThumb || meanAbsDiff(&a.thumb, &a.refTh) > changeThreshold {
				changed = true
				a.refTh, a.thumb = a.thumb, a.refTh
				a.haveThumb = true
			}
		}
	}
	a.lastFrameAt = now
	if a.lastChangeAt.IsZero() {
		changed = true
	}
	if changed {
		a.endFreeze(now)
		a.lastChangeAt = now
	} else {
		a.checkFreeze(now)
	}
}

// checkFreeze starts a freeze when nothing changed for FreezeAfter. Caller holds mu.
func (a *VideoAnalyzer) checkFreeze(now time.Time) {
	if a.lastChangeAt.IsZero() || a.st.Frozen {
		return
	}
	if now.Sub(a.lastChangeAt) >= a.cfg.FreezeAfter {
		a.st.Frozen = true
		a.st.Freezes++
	}
}

// endFreeze closes a running freeze at now. Caller holds mu.
func (a *VideoAnalyzer) endFreeze(now time.Time) {
	if !a.st.Frozen {
		return
	}
	a.st.Frozen = false
	if d := ms(now.Sub(a.lastChangeAt)); d > a.st.LongestFreezeMs {
		a.st.LongestFreezeMs = d
	}
}

// Stats returns a snapshot; safe to call at any time from any goroutine.
//
// After Consume has returned, Stats describes the stream as it was when it
// ended: rates over its last seconds, Frozen if it ended frozen.
func (a *VideoAnalyzer) Stats() VideoStats {
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.endedAt.IsZero() {
		now = a.endedAt
	}
	// A stream that stopped delivering pictures is frozen too.
	a.checkFreeze(now)
	st := a.st
	if st.Frozen {
		if d := ms(now.Sub(a.lastChangeAt)); d > st.LongestFreezeMs {
			st.LongestFreezeMs = d
		}
	}
	st.Packets = a.rtp.packets
	st.Bytes = a.rtp.bytes
	st.BitrateKbps = a.rtp.rate.perSecond(now) * 8 / 1000
	st.PacketsLost = a.rtp.lost()
	st.LossPct = a.rtp.lossPct()
	st.JitterMs = a.rtp.jitterMs()
	st.FPS = a.fps.perSecond(now)
	if !a.decoding {
		st.FPS = a.asmRate.perSecond(now)
	}
	st.KeyFrameRequests = a.kf.calls()
	if n := len(a.blackRecent); n > 0 {
		blacks := 0
		for _, m := range a.blackRecent {
			if m.black {
				blacks++
			}
		}
		st.Black = 2*blacks > n
	}
	st.LatencyP50Ms = a.lat.quantile(0.50)
	st.LatencyP95Ms = a.lat.quantile(0.95)
	st.LatencyMaxMs = a.lat.max
	return st
}

// LastFrame returns the last decoded picture (nil before the first). The
// picture is not modified afterwards; callers may keep it.
func (a *VideoAnalyzer) LastFrame() image.Image {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return nil
	}
	return a.last
}

// latencyHist is a histogram of latencies in 1 ms buckets up to 10 s.
type latencyHist struct {
	n       int
	buckets []uint32
	max     float64
}

const latencyBuckets = 10000

func (h *latencyHist) add(d time.Duration) {
	if h.buckets == nil {
		h.buckets = make([]uint32, latencyBuckets+1)
	}
	m := ms(d)
	if m > h.max || h.n == 0 {
		h.max = m
	}
	i := int(math.Floor(m))
	if i < 0 {
		i = 0 // clock skew between sender and receiver
	}
	if i > latencyBuckets {
		i = latencyBuckets
	}
	h.buckets[i]++
	h.n++
}

// quantile returns the q-quantile in ms (bucket midpoint), 0 without data.
func (h *latencyHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.buckets {
		cum += uint64(c)
		if cum >= rank {
			return float64(i) + 0.5
		}
	}
	return float64(latencyBuckets)
}

// vp8KeyFrameSize reads the frame size from a VP8 keyframe (RFC 6386 9.1: frame tag, start
// code 9d 01 2a, then 14-bit width and height, little endian).
func vp8KeyFrameSize(frame []byte) (w, h uint16, ok bool) {
	if len(frame) < 10 || frame[0]&1 != 0 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint16(frame[6:]) & 0x3fff, binary.LittleEndian.Uint16(frame[8:]) & 0x3fff, true
}

// patchIVFSize writes the frame size into an IVF file's header (bytes 12-15).
func patchIVFSize(path string, w, h uint16) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint16(b[0:], w)
	binary.LittleEndian.PutUint16(b[2:], h)
	if _, err := f.WriteAt(b[:], 12); err != nil {
		_ = f.Close()
		return fmt.Errorf("record: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}
