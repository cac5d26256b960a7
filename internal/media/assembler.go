package media

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// frameAssembler rebuilds video frames from RTP packets: VP8 (RFC 7741) by default, H264
// (RFC 6184) with newH264Assembler. A frame is released as soon as it is complete: its
// first packet (VP8: S=1, partition 0; H264: the start of an access unit), its last
// packet (RTP marker) and every sequence number in between.
//
// pion's samplebuilder releases a frame only when a packet of the NEXT
// frame arrives, which adds one frame interval (33 ms at 30 fps) to every
// latency measured after decoding; a receiving browser does not wait like
// that, so the analyzer uses this assembler instead.
//
// Frames are released in timestamp order. An incomplete frame at the head
// waits for retransmissions (NACK) until it is asmMaxAge old or asmMaxPending
// newer frames are queued, then it is dropped and the next released frame
// is marked LostBefore: the VP8 reference chain is broken and the decoder
// must wait for a keyframe. Not safe for concurrent use.
type frameAssembler struct {
	// depay and isKey are the codec's; nil means VP8.
	depay func(payload []byte) (depacketized, error)
	isKey func(frame []byte) bool

	pending     []*asmFrame // ordered by RTP timestamp
	emitted     bool
	lastTS      uint32
	lost        bool // a frame was dropped since the last release
	havePID     bool
	lastPID     uint16
	pidMod      uint16
	haveEndSeq  bool
	lastEndSeq  uint16
	DroppedAsm  int // frames given up as incomplete
	LatePackets int // packets of frames already released or dropped
}

const (
	asmMaxPending = 8
	asmMaxAge     = 300 * time.Millisecond
)

type asmFrame struct {
	ts         uint32
	first      time.Time
	payload    map[uint16][]byte
	haveStart  bool
	haveEnd    bool
	startSeq   uint16
	endSeq     uint16
	pid        uint16
	pidMod     uint16 // 0: no picture ID
	nonRef     bool
	weakStart  bool
	markerSeen bool
}

// depacketized is one RTP payload's part of a frame.
type depacketized struct {
	body  []byte
	start bool // the first packet of a frame
	// weakStart: the packet may start a frame but need not (an H264 slice with
	// first_mb_in_slice 0 may follow SPS/PPS packets still on their way).
	weakStart bool
	nonRef    bool   // VP8 N bit
	pid       uint16 // VP8 picture ID
	pidMod    uint16 // 0: no picture ID
}

// vp8Depacketize reads one VP8 RTP payload (RFC 7741).
func vp8Depacketize(payload []byte) (depacketized, error) {
	var vp codecs.VP8Packet
	body, err := vp.Unmarshal(payload)
	if err != nil {
		return depacketized{}, fmt.Errorf("media: VP8 payload: %w", err)
	}
	d := depacketized{body: append([]byte(nil), body...)}
	if vp.S == 1 && vp.PID == 0 {
		d.start = true
		d.nonRef = vp.N == 1
		if vp.X == 1 && vp.I == 1 && len(payload) > 2 {
			d.pid = vp.PictureID
			d.pidMod = 128
			if payload[2]&0x80 != 0 {
				d.pidMod = 32768
			}
		}
	}
	return d, nil
}

// newH264Assembler returns an assembler of H264 access units (Annex B byte streams).
func newH264Assembler() *frameAssembler {
	return &frameAssembler{depay: h264Depacketize, isKey: h264IsKeyFrame}
}

// assembledFrame is one complete frame (VP8 frame, or H264 access unit in Annex B).
type assembledFrame struct {
	Data       []byte
	Key        bool
	Timestamp  uint32
	LostBefore bool // frames before this one were lost
}

// push adds a packet and returns the frames it completed (usually 0 or 1).
func (a *frameAssembler) push(p *rtp.Packet, now time.Time) []assembledFrame {
	if len(p.Payload) == 0 { // padding only
		if a.haveEndSeq && p.SequenceNumber == a.lastEndSeq+1 {
			a.lastEndSeq = p.SequenceNumber
		}
		return a.release(now)
	}
	if a.emitted && int32(p.Timestamp-a.lastTS) <= 0 {
		a.LatePackets++
		return a.release(now)
	}
	depay := a.depay
	if depay == nil {
		depay = vp8Depacketize
	}
	d, err := depay(p.Payload)
	if err != nil {
		return a.release(now)
	}
	f := a.frame(p.Timestamp, now)
	f.payload[p.SequenceNumber] = d.body
	// H264: an access unit may hold several NAL units that could start one (SPS in a
	// STAP-A, then the first slice in a FU-A): the earliest is the start.
	if d.start && (!f.haveStart || int16(p.SequenceNumber-f.startSeq) < 0) {
		f.weakStart = d.weakStart
		f.haveStart = true
		f.startSeq = p.SequenceNumber
		f.nonRef = d.nonRef
		f.pid, f.pidMod = d.pid, d.pidMod
	}
	if p.Marker {
		f.haveEnd = true
		f.endSeq = p.SequenceNumber
	}
	return a.release(now)
}

// frame finds or inserts the pending frame with timestamp ts.
func (a *frameAssembler) frame(ts uint32, now time.Time) *asmFrame {
	i := len(a.pending)
	for j, f := range a.pending {
		if f.ts == ts {
			return f
		}
		if int32(ts-f.ts) < 0 {
			i = j
			break
		}
	}
	f := &asmFrame{ts: ts, first: now, payload: map[uint16][]byte{}}
	a.pending = append(a.pending, nil)
	copy(a.pending[i+1:], a.pending[i:])
	a.pending[i] = f
	return f
}

// startSure: a weak start (an H264 slice) is the frame's start if the previous frame
// ended just before it, or once a packet of a later frame has arrived (packets are
// rarely reordered across frames); until then the frame waits, so SPS/PPS packets sent
// just before its first slice are not cut off. Costs one frame interval on the first
// frame and after a loss, nothing in steady state.
func (a *frameAssembler) startSure(f *asmFrame) bool {
	return !f.weakStart || (a.haveEndSeq && f.startSeq == a.lastEndSeq+1) || len(a.pending) > 1
}

func (f *asmFrame) complete() bool {
	if !f.haveStart || !f.haveEnd {
		return false
	}
	n := int(f.endSeq-f.startSeq) + 1
	if n > len(f.payload) {
		return false
	}
	for s := f.startSeq; ; s++ {
		if _, ok := f.payload[s]; !ok {
			return false
		}
		if s == f.endSeq {
			return true
		}
	}
}

func (a *frameAssembler) release(now time.Time) []assembledFrame {
	var out []assembledFrame
	for len(a.pending) > 0 {
		f := a.pending[0]
		if complete := f.complete(); !complete || !a.startSure(f) {
			if len(a.pending) <= asmMaxPending && now.Sub(f.first) < asmMaxAge {
				break
			}
			if complete {
				// It started where it seemed to: packets before it were lost, not its own.
				a.lost = true
				goto emit
			}
			a.pending = a.pending[1:]
			a.DroppedAsm++
			a.lost = true
			a.emitted, a.lastTS = true, f.ts
			continue
		}
	emit:
		a.pending = a.pending[1:]
		size := 0
		for s := f.startSeq; ; s++ {
			size += len(f.payload[s])
			if s == f.endSeq {
				break
			}
		}
		data := make([]byte, 0, size)
		for s := f.startSeq; ; s++ {
			data = append(data, f.payload[s]...)
			if s == f.endSeq {
				break
			}
		}
		lost := a.lost
		// A gap in picture IDs (or, without them, in sequence numbers)
		// means a whole frame vanished without leaving a packet here.
		if f.pidMod != 0 && a.havePID && f.pidMod == a.pidMod {
			if (f.pid-a.lastPID)%f.pidMod != 1%f.pidMod {
				lost = true
			}
		} else if f.pidMod == 0 && a.haveEndSeq && f.startSeq != a.lastEndSeq+1 {
			lost = true
		}
		a.havePID, a.lastPID, a.pidMod = f.pidMod != 0, f.pid, f.pidMod
		a.haveEndSeq, a.lastEndSeq = true, f.endSeq
		a.lost = false
		a.emitted, a.lastTS = true, f.ts
		isKey := a.isKey
		if isKey == nil {
			isKey = isVP8KeyFrame
		}
		out = append(out, assembledFrame{Data: data, Key: isKey(data), Timestamp: f.ts, LostBefore: lost})
	}
	return out
}
