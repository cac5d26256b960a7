package media

import (
	"encoding/binary"
	"hash/crc32"
	"image"
	"time"
)

// The frame stamp is a block barcode in the top band of a video frame:
// stampCols x stampRows square cells, each fully black (luma 16) or fully
// white (luma 235). The cell size is width/stampCols, so the barcode scales
// with the picture (16 px at 640 wide, 8 px at 320) and a receiver that gets
// a rescaled picture still finds the cells at the same relative places.
// Cells are read at their centre half, which keeps the read clear of the
// ringing that VP8 adds at block edges.
//
// The 120 cells carry, in row-major order:
//
//	8 bits  sync pattern 10110010 (rejects frames without a stamp)
//	32 bits frame number
//	48 bits send time, unix milliseconds
//	32 bits CRC-32 (IEEE) of the 10 payload bytes
const (
	stampCols    = 40
	stampRows    = 3
	stampBits    = stampCols * stampRows
	stampSync    = 0xB2
	stampBlack   = 16
	stampWhite   = 235
	stampPayload = 10 // bytes: 4 frame number + 6 send time
)

// Stamp is the information carried by every synthetic video frame.
type Stamp struct {
	Frame  uint32    // frame number, counting from 0 at encoder start
	SentAt time.Time // when the frame was rendered, millisecond precision
}

// stampCell returns the pixel rectangle of cell (col, row) in a frame of width w.
func stampCell(w, col, row int) image.Rectangle {
	x0 := col * w / stampCols
	x1 := (col + 1) * w / stampCols
	cell := w / stampCols
	return image.Rect(x0, row*cell, x1, (row+1)*cell)
}

// StampBandHeight is the height in pixels of the barcode band for width w.
func StampBandHeight(w int) int { return stampRows * (w / stampCols) }

func stampBitsOf(s Stamp) [stampBits]bool {
	var payload [stampPayload + 4]byte
	binary.BigEndian.PutUint32(payload[0:4], s.Frame)
	ms := uint64(s.SentAt.UnixMilli()) & (1<<48 - 1)
	for i := 0; i < 6; i++ {
		payload[4+i] = byte(ms >> (8 * (5 - i)))
	}
	binary.BigEndian.PutUint32(payload[stampPayload:], crc32.ChecksumIEEE(payload[:stampPayload]))
	var bits [stampBits]bool
	for i := 0; i < 8; i++ {
		bits[i] = stampSync&(0x80>>i) != 0
	}
	for i := 0; i < len(payload)*8; i++ {
		bits[8+i] = payload[i/8]&(0x80>>(i%8)) != 0
	}
	return bits
}

// DrawStamp paints s into the top band of img (luma cells, neutral chroma).
func DrawStamp(img *image.YCbCr, s Stamp) {
	bits := stampBitsOf(s)
	b := img.Rect
	w := b.Dx()
	for i, bit := range bits {
		r := stampCell(w, i%stampCols, i/stampCols)
		v := uint8(stampBlack)
		if bit {
			v = stampWhite
		}
		fillLuma(img, r.Min.X, r.Min.Y, r.Dx(), r.Dy(), v)
	}
	// Neutral chroma under the band so colour bleed does not shift luma decisions.
	band := StampBandHeight(w)
	grey := solidRow(128, (w+1)/2)
	for y := 0; y < (band+1)/2 && y < b.Dy()/2; y++ {
		copy(img.Cb[y*img.CStride:], grey)
		copy(img.Cr[y*img.CStride:], grey)
	}
}

// ReadStamp decodes the barcode from a frame. ok is false when the frame has
// no stamp (no sync pattern) or the checksum does not match.
func ReadStamp(img image.Image) (s Stamp, ok bool) {
	y, ok := img.(*image.YCbCr)
	if !ok {
		return Stamp{}, false
	}
	w, h := y.Rect.Dx(), y.Rect.Dy()
	if y.Rect.Min != (image.Point{}) ||
		w < stampCols*2 || StampBandHeight(w) > h || len(y.Y) < (h-1)*y.YStride+w {
		return Stamp{}, false
	}
	var bits [stampBits]bool
	for i := range bits {
		r := stampCell(w, i%stampCols, i/stampCols)
		// centre half of the cell
		dx, dy := r.Dx()/4, r.Dy()/4
		inner := image.Rect(r.Min.X+dx, r.Min.Y+dy, r.Max.X-dx, r.Max.Y-dy)
		if inner.Empty() {
			inner = r
		}
		sum, n := 0, 0
		for yy := inner.Min.Y; yy < inner.Max.Y; yy++ {
			row := y.Y[yy*y.YStride:]
			for xx := inner.Min.X; xx < inner.Max.X; xx++ {
				sum += int(row[xx])
				n++
			}
		}
		if n == 0 {
			return Stamp{}, false
		}
		bits[i] = sum/n > (stampBlack+stampWhite)/2
	}
	var sync byte
	for i := 0; i < 8; i++ {
		if bits[i] {
			sync |= 0x80 >> i
		}
	}
	if sync != stampSync {
		return Stamp{}, false
	}
	var payload [stampPayload + 4]byte
	for i := 0; i < len(payload)*8; i++ {
		if bits[8+i] {
			payload[i/8] |= 0x80 >> (i % 8)
		}
	}
	if crc32.ChecksumIEEE(payload[:stampPayload]) != binary.BigEndian.Uint32(payload[stampPayload:]) {
		return Stamp{}, false
	}
	var ms uint64
	for i := 0; i < 6; i++ {
		ms = ms<<8 | uint64(payload[4+i])
	}
	return Stamp{
		Frame:  binary.BigEndian.Uint32(payload[0:4]),
		SentAt: time.UnixMilli(int64(ms)),
	}, true
}
