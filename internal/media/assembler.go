package media

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Assembler rebuilds VP8 frames from RTP packets (RFC 7741). A frame is
// released as soon as it is complete: its first packet (S=1, partition 0),
// its last packet (RTP marker) and every sequence number in between.
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
type vp8Assembler struct {
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
	markerSeen bool
}

// assembledFrame is one complete VP8 frame.
type assembledFrame struct {
	Data       []byte
	Key        bool
	Timestamp  uint32
	LostBefore bool // frames before this one were lost
}

// push adds a packet and returns the frames it completed (usually 0 or 1).
func (a *vp8Assembler) push(p *rtp.Packet, now time.Time) []assembledFrame {
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
	var vp codecs.VP8Packet
	body, err := vp.Unmarshal(p.Payload)
	if err != nil {
		return a.release(now)
	}
	f := a.frame(p.Timestamp, now)
	f.payload[p.SequenceNumber] = append([]byte(nil), body...)
	if vp.S == 1 && vp.PID == 0 {
		f.haveStart = true
		f.startSeq = p.SequenceNumber
		f.nonRef = vp.N == 1
		if vp.X == 1 && vp.I == 1 && len(p.Payload) > 2 {
			f.pid = vp.PictureID
			f.pidMod = 128
			if p.Payload[2]&0x80 != 0 {
				f.pidMod = 32768
			}
		}
	}
	if p.Marker {
		f.haveEnd = true
		f.endSeq = p.SequenceNumber
	}
	return a.release(now)
}

// frame finds or inserts the pending frame with timestamp ts.
func (a *vp8Assembler) frame(ts uint32, now time.Time) *asmFrame {
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

func (a *vp8Assembler) release(now time.Time) []assembledFrame {
	var out []assembledFrame
	for len(a.pending) > 0 {
		f := a.pending[0]
		if !f.complete() {
			if len(a.pending) <= asmMaxPending && now.Sub(f.first) < asmMaxAge {
				break
			}
			a.pending = a.pending[1:]
			a.DroppedAsm++
			a.lost = true
			a.emitted, a.lastTS = true, f.ts
			continue
		}
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
		out = append(out, assembledFrame{Data: data, Key: isVP8KeyFrame(data), Timestamp: f.ts, LostBefore: lost})
	}
	return out
}
