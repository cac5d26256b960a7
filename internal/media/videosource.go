package media

import (
	"bytes"
	"image"
	"sync"
	"time"
)

// videoSource renders the synthetic pictures of one VideoProfile. It is not
// safe for concurrent use; the encoder goroutine owns it. The returned frame
// is reused by the next Render call.
type videoSource struct {
	p        VideoProfile
	frame    *image.YCbCr
	bgY      []uint8 // background luma, width*height
	bgCb     []uint8 // background chroma, (width/2)*(height/2)
	bgCr     []uint8
	frozen   bool // PatternFrozen: frame already rendered
	rendered bool
}

func newVideoSource(p VideoProfile) *videoSource {
	p = p.Normalized()
	w, h := p.Width, p.Height
	s := &videoSource{
		p:     p,
		frame: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
	}
	switch p.Pattern {
	case PatternBlack:
		// Y=0, U=V=128, the same as libwebrtc's black frames.
		for i := range s.frame.Cb {
			s.frame.Cb[i] = 128
			s.frame.Cr[i] = 128
		}
	default:
		s.bgY = make([]uint8, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				// diagonal ramp 40..200
				s.bgY[y*w+x] = uint8(40 + (x+y)*160/(w+h))
			}
		}
		cw, ch := w/2, h/2
		s.bgCb = make([]uint8, cw*ch)
		s.bgCr = make([]uint8, cw*ch)
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				s.bgCb[y*cw+x] = uint8(96 + x*64/cw)
				s.bgCr[y*cw+x] = uint8(160 - y*64/ch)
			}
		}
	}
	return s
}

// Render returns frame n, stamped with n and t (except PatternBlack, which
// has no stamp). For PatternFrozen every call returns the first frame.
func (s *videoSource) Render(n uint32, t time.Time) *image.YCbCr {
	switch s.p.Pattern {
	case PatternBlack:
		return s.frame
	case PatternFrozen:
		if s.rendered {
			return s.frame
		}
	}
	s.rendered = true
	f := s.frame
	w, h := s.p.Width, s.p.Height
	copy(f.Y, s.bgY) // YStride == w for a fresh NewYCbCr
	copy(f.Cb, s.bgCb)
	copy(f.Cr, s.bgCr)
	band := StampBandHeight(w)
	fps := s.p.FPS

	// Three dark vertical bars sliding right at a quarter width per second.
	barW := w / 16
	speed := w / 4
	off := int(uint64(n) * uint64(speed) / uint64(fps) % uint64(w))
	for b := 0; b < 3; b++ {
		x0 := (off + b*w/3) % w
		fillLuma(f, x0, band, barW, h-band, 24)
	}
	// A white box with a dark core bouncing around the area below the band.
	box := w / 5
	if box > (h-band)/2 {
		box = (h - band) / 2
	}
	bx := bounce(int(n)*w/(2*fps), w-box)
	by := band + bounce(int(n)*h/(3*fps), h-band-box)
	fillLuma(f, bx, by, box, box, 235)
	// Fresh noise inside the box every frame: detail the encoder cannot
	// predict, so the stream uses its bit rate like camera video does
	// instead of idling on flat areas.
	noiseLuma(f, bx+box/4, by+box/4, box/2, box/2, n)

	DrawStamp(f, Stamp{Frame: n, SentAt: t})
	return f
}

// fillLuma paints a clipped rectangle of luma v, a row at a time with copy
// (per-pixel loops are slow under the race detector, which tests use).
func fillLuma(f *image.YCbCr, x0, y0, w, h int, v uint8) {
	W, H := f.Rect.Dx(), f.Rect.Dy()
	xa, xb := max(x0, 0), min(x0+w, W)
	if xa >= xb {
		return
	}
	row := solidRow(v, xb-xa)
	for y := max(y0, 0); y < min(y0+h, H); y++ {
		copy(f.Y[y*f.YStride+xa:y*f.YStride+xb], row)
	}
}

// noiseLuma fills a clipped rectangle with pseudo-random luma 50..177,
// seeded by the frame number (xorshift32).
func noiseLuma(f *image.YCbCr, x0, y0, w, h int, seed uint32) {
	W, H := f.Rect.Dx(), f.Rect.Dy()
	xa, xb := max(x0, 0), min(x0+w, W)
	x := seed*2654435761 | 1
	for y := max(y0, 0); y < min(y0+h, H); y++ {
		row := f.Y[y*f.YStride+xa : y*f.YStride+xb]
		for i := 0; i+4 <= len(row); i += 4 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			row[i] = 50 + uint8(x&0x7F)
			row[i+1] = 50 + uint8(x>>8&0x7F)
			row[i+2] = 50 + uint8(x>>16&0x7F)
			row[i+3] = 50 + uint8(x>>24&0x7F)
		}
	}
}

// solidRows caches rows of one luma value, up to the widest frame.
var solidRows sync.Map // uint8 -> []uint8

func solidRow(v uint8, n int) []uint8 {
	if r, ok := solidRows.Load(v); ok && len(r.([]uint8)) >= n {
		return r.([]uint8)[:n]
	}
	r := bytes.Repeat([]byte{v}, max(n, 3840))
	solidRows.Store(v, r)
	return r[:n]
}

// bounce maps a growing position onto 0..limit and back.
func bounce(pos, limit int) int {
	if limit <= 0 {
		return 0
	}
	p := pos % (2 * limit)
	if p > limit {
		p = 2*limit - p
	}
	return p
}
