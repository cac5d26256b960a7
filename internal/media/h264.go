package media

import (
	"encoding/hex"
	"errors"
)

// H264 NAL unit types this package looks at (ITU-T H.264 table 7-1, RFC 6184 section 5.2).
const (
	naluSlice = 1
	naluIDR   = 5
	naluSEI   = 6
	naluSPS   = 7
	naluPPS   = 8
	naluAUD   = 9
	naluSTAPA = 24
	naluFUA   = 28
)

// H264NotDecoded is the VideoStats.NotDecoded text for H264: this build has no H264
// decoder, so only RTP-level analysis is done.
const H264NotDecoded = "no H264 decoder in this build; black/frozen/latency not checked"

var annexBStart = []byte{0, 0, 0, 1}

// annexBNALs calls fn with each NAL unit of an Annex B byte stream (start codes of 3 or 4
// bytes), in order, until fn returns false.
func annexBNALs(b []byte, fn func(nal []byte) bool) {
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 {
					end-- // the leading zero of a 4-byte start code
				}
				if !fn(b[start:end]) {
					return
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		fn(b[start:])
	}
}

// h264IsKeyFrame reports whether an Annex B access unit holds an IDR slice.
func h264IsKeyFrame(au []byte) bool {
	key := false
	annexBNALs(au, func(nal []byte) bool {
		if len(nal) > 0 && nal[0]&0x1f == naluIDR {
			key = true
			return false
		}
		return true
	})
	return key
}

var errH264Packet = errors.New("media: malformed H264 RTP payload")

// h264Depacketize turns one RTP payload (RFC 6184, packetization-mode 0 or 1: single NAL
// unit, STAP-A, FU-A) into its part of the Annex B access unit, without state: the
// payloads of one frame concatenated in sequence order are the access unit. start says
// the packet begins an access unit (an AUD, SEI, SPS or PPS first, or the first slice
// of a picture: first_mb_in_slice 0).
func h264Depacketize(payload []byte) (depacketized, error) {
	if len(payload) < 1 {
		return depacketized{}, errH264Packet
	}
	switch typ := payload[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		out := make([]byte, 0, len(annexBStart)+len(payload))
		out = append(append(out, annexBStart...), payload...)
		return depacketized{body: out, start: nalStartsAU(typ, payload[1:]), weakStart: typ == naluSlice || typ == naluIDR}, nil
	case typ == naluSTAPA:
		var out []byte
		first := true
		start, weak := false, false
		for b := payload[1:]; len(b) > 0; {
			if len(b) < 2 {
				return depacketized{}, errH264Packet
			}
			n := int(b[0])<<8 | int(b[1])
			b = b[2:]
			if n == 0 || n > len(b) {
				return depacketized{}, errH264Packet
			}
			if first {
				start = nalStartsAU(b[0]&0x1f, b[1:n])
				weak = b[0]&0x1f == naluSlice || b[0]&0x1f == naluIDR
				first = false
			}
			out = append(append(out, annexBStart...), b[:n]...)
			b = b[n:]
		}
		return depacketized{body: out, start: start, weakStart: weak}, nil
	case typ == naluFUA:
		if len(payload) < 2 {
			return depacketized{}, errH264Packet
		}
		fuHeader := payload[1]
		inner := fuHeader & 0x1f
		if fuHeader&0x80 != 0 { // S: first fragment, rebuild the NAL header
			out := make([]byte, 0, len(annexBStart)+len(payload)-1)
			out = append(append(out, annexBStart...), payload[0]&0xe0|inner)
			out = append(out, payload[2:]...)
			return depacketized{body: out, start: nalStartsAU(inner, payload[2:]), weakStart: true}, nil
		}
		return depacketized{body: append([]byte(nil), payload[2:]...)}, nil
	default:
		return depacketized{}, errH264Packet // STAP-B, MTAP, FU-B: not in packetization-mode 1
	}
}

// nalStartsAU: a NAL that can only come first in an access unit, or the first slice of
// a picture (first_mb_in_slice is ue(v) 0: the first bit after the NAL header is 1).
func nalStartsAU(typ byte, rest []byte) bool {
	switch typ {
	case naluAUD, naluSEI, naluSPS, naluPPS:
		return true
	case naluSlice, naluIDR:
		return len(rest) > 0 && rest[0]&0x80 != 0
	}
	return false
}

// h264SPSInfo reads the picture size and the profile-level-id (6 hex digits, as in SDP)
// from the first SPS of an Annex B access unit.
func h264SPSInfo(au []byte) (w, h int, profileLevelID string, ok bool) {
	annexBNALs(au, func(nal []byte) bool {
		if len(nal) < 4 || nal[0]&0x1f != naluSPS {
			return true
		}
		profileLevelID = hex.EncodeToString(nal[1:4])
		w, h, ok = parseSPSSize(unescapeRBSP(nal[1:]))
		return false
	})
	return w, h, profileLevelID, ok
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 -> 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// bitReader reads an RBSP bit by bit; reads past the end set err.
type bitReader struct {
	b   []byte
	pos int
	err bool
}

func (r *bitReader) bit() uint {
	if r.pos >= 8*len(r.b) {
		r.err = true
		return 0
	}
	v := uint(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *bitReader) bits(n int) uint {
	var v uint
	for i := 0; i < n; i++ {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb code.
func (r *bitReader) ue() uint {
	zeros := 0
	for r.bit() == 0 {
		if r.err || zeros > 31 {
			r.err = true
			return 0
		}
		zeros++
	}
	return (1<<zeros - 1) + r.bits(zeros)
}

func (r *bitReader) se() int {
	v := r.ue()
	if v&1 == 1 {
		return int(v+1) / 2
	}
	return -int(v / 2)
}

// parseSPSSize reads the cropped picture size from an SPS RBSP (from profile_idc on;
// H.264 section 7.3.2.1.1).
func parseSPSSize(b []byte) (w, h int, ok bool) {
	r := &bitReader{b: b}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level_idc
	r.ue()     // seq_parameter_set_id
	chroma := uint(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			r.bit() // separate_colour_plane_flag
		}
		r.ue()            // bit_depth_luma_minus8
		r.ue()            // bit_depth_chroma_minus8
		r.bit()           // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := 0; i < lists; i++ {
				if r.bit() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := 8, 8
					for j := 0; j < size && next != 0; j++ {
						next = (last + r.se() + 256) % 256
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue()
	case 1:
		r.bit()
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return 0, 0, false
		}
		for i := uint(0); i < n; i++ {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wMbs := int(r.ue()) + 1
	hMapUnits := int(r.ue()) + 1
	frameMbsOnly := int(r.bit())
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	w = wMbs * 16
	h = (2 - frameMbsOnly) * hMapUnits * 16
	if r.bit() == 1 { // frame_cropping_flag
		left, right, top, bottom := int(r.ue()), int(r.ue()), int(r.ue()), int(r.ue())
		cropX, cropY := 1, 2-frameMbsOnly
		if chroma == 1 || chroma == 2 {
			cropX = 2
		}
		if chroma == 1 {
			cropY *= 2
		}
		w -= cropX * (left + right)
		h -= cropY * (top + bottom)
	}
	if r.err || w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return 0, 0, false
	}
	return w, h, true
}
