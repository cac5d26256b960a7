package media

import (
	"encoding/binary"
	"image"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzVP8Assembler feeds arbitrary packets (sequence number, timestamp,
// marker and payload taken from the input) to the frame assembler: it must
// never panic, and every frame it releases must be non-empty.
func FuzzVP8Assembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1, 4, 0x10, 0x00, 0x9d, 0x01})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 3, 0x90, 0x80, 0x05, 0, 2, 0, 0, 0, 1, 1, 2, 0x00, 0xAA})
	f.Fuzz(func(t *testing.T, in []byte) {
		var a frameAssembler
		fuzzPackets(in, func(p *rtp.Packet, now time.Time) {
			for _, fr := range a.push(p, now) {
				if len(fr.Data) == 0 && fr.Key {
					t.Fatalf("empty frame flagged as keyframe")
				}
			}
			if len(a.pending) > asmMaxPending+1 {
				t.Fatalf("%d frames pending", len(a.pending))
			}
		})
	})
}

// FuzzReadStamp reads stamps from arbitrary luma: no panic, and a stamp is
// only accepted with a valid checksum (re-drawing it reproduces the read).
func FuzzReadStamp(f *testing.F) {
	f.Add([]byte{0xff, 0x00, 0x80}, uint16(320), uint16(240))
	f.Fuzz(func(t *testing.T, seed []byte, w, h uint16) {
		W, H := int(w%700)+1, int(h%500)+1
		img := image.NewYCbCr(image.Rect(0, 0, W, H), image.YCbCrSubsampleRatio420)
		for i := range img.Y {
			if len(seed) > 0 {
				img.Y[i] = seed[i%len(seed)]
			}
		}
		s, ok := ReadStamp(img)
		if !ok {
			return
		}
		again := image.NewYCbCr(img.Rect, image.YCbCrSubsampleRatio420)
		DrawStamp(again, s)
		if s2, ok := ReadStamp(again); !ok || s2 != s {
			t.Fatalf("accepted stamp %+v does not round-trip", s)
		}
	})
}

// FuzzH264Assembler is FuzzVP8Assembler for H264 payloads, plus the keyframe and SPS
// readers on every released access unit: no panic, a bounded queue, and a size read from
// an SPS is within H.264's limits.
func FuzzH264Assembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1, 10, 0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xe8, 0x40, 0x00})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 4, 0x7c, 0x85, 0x88, 0x84, 0, 2, 0, 0, 0, 1, 1, 3, 0x7c, 0x45, 0xAA})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1, 9, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0x65, 0x88})
	f.Fuzz(func(t *testing.T, in []byte) {
		a := newH264Assembler()
		fuzzPackets(in, func(p *rtp.Packet, now time.Time) {
			for _, fr := range a.push(p, now) {
				if w, h, _, ok := h264SPSInfo(fr.Data); ok && (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
					t.Fatalf("SPS size %dx%d accepted", w, h)
				}
			}
			if len(a.pending) > asmMaxPending+1 {
				t.Fatalf("%d frames pending", len(a.pending))
			}
		})
	})
}

// fuzzPackets cuts fuzz input into RTP packets: per packet 2 bytes sequence number, 4
// bytes timestamp, 1 byte marker (low bit), 1 byte payload length, then the payload. Each
// goes to push with an arrival time 10 ms after the previous one.
func fuzzPackets(in []byte, push func(p *rtp.Packet, now time.Time)) {
	now := time.Unix(0, 0)
	for len(in) >= 8 {
		seq := binary.BigEndian.Uint16(in[0:2])
		ts := binary.BigEndian.Uint32(in[2:6])
		marker := in[6]&1 == 1
		n := int(in[7])
		in = in[8:]
		if n > len(in) {
			n = len(in)
		}
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: in[:n]}
		in = in[n:]
		now = now.Add(10 * time.Millisecond)
		push(p, now)
	}
}
