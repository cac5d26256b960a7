//go:build !nox264

package media

// A small libx264 binding instead of mediadevices' codec/x264: that bridge applies the
// High profile (CABAC, 8x8 transforms) while every WebRTC H264 line, ours included,
// announces constrained baseline (profile-level-id=42e01f); Chromium lists no High
// profile for receiving and OpenH264 decoders (Firefox) cannot decode CABAC. It also
// leaves the frame rate unset (x264 then assumes 25 fps for rate control) and every
// picture's PTS at 0. This one encodes constrained baseline, one slice per frame, at the
// profile's frame rate, and answers ForceKeyFrame with an IDR picture.
//
// Build with -tags nox264 where libx264-dev is missing: H264 is then refused
// (ErrUnsupportedCodec) and everything else works.

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <x264.h>

typedef struct {
	x264_t *h;
	x264_picture_t pic;
	int64_t pts;
} rtcctl_x264;

// rtcctl_x264_open returns NULL on failure with *rc: -1 preset, -2 profile, -3 open,
// -4 out of memory.
static rtcctl_x264 *rtcctl_x264_open(int w, int h, int fps, int kbps, int keyint, int *rc) {
	x264_param_t p;
	if (x264_param_default_preset(&p, "veryfast", "zerolatency") < 0) { *rc = -1; return NULL; }
	p.i_log_level = X264_LOG_NONE;
	p.i_threads = 1;          // one slice per frame; the encoder is shared, not per peer
	p.i_csp = X264_CSP_I420;
	p.i_width = w;
	p.i_height = h;
	p.i_fps_num = fps;
	p.i_fps_den = 1;
	p.i_timebase_num = 1;
	p.i_timebase_den = fps;
	p.b_vfr_input = 0;
	p.i_keyint_max = keyint;
	p.rc.i_rc_method = X264_RC_ABR;
	p.rc.i_bitrate = kbps;
	p.rc.i_vbv_max_bitrate = kbps;
	p.rc.i_vbv_buffer_size = kbps; // one second
	p.b_repeat_headers = 1;        // SPS/PPS before every IDR: a late joiner can start there
	p.b_annexb = 1;
	p.b_aud = 0;
	if (x264_param_apply_profile(&p, "baseline") < 0) { *rc = -2; return NULL; }
	rtcctl_x264 *e = calloc(1, sizeof(rtcctl_x264));
	if (!e) { *rc = -4; return NULL; }
	e->h = x264_encoder_open(&p);
	if (!e->h) { free(e); *rc = -3; return NULL; }
	x264_picture_init(&e->pic);
	e->pic.img.i_csp = X264_CSP_I420;
	e->pic.img.i_plane = 3;
	return e;
}

// rtcctl_x264_encode encodes one I420 picture; *out points into x264's buffer (valid until
// the next call) and the return value is its size (0: no output, <0: error).
static int rtcctl_x264_encode(rtcctl_x264 *e, uint8_t *y, int ys, uint8_t *u, int us, uint8_t *v, int vs,
                              int idr, uint8_t **out) {
	x264_nal_t *nal;
	int n;
	x264_picture_t pic_out;
	e->pic.img.plane[0] = y; e->pic.img.i_stride[0] = ys;
	e->pic.img.plane[1] = u; e->pic.img.i_stride[1] = us;
	e->pic.img.plane[2] = v; e->pic.img.i_stride[2] = vs;
	e->pic.i_type = idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
	e->pic.i_pts = e->pts++;
	int size = x264_encoder_encode(e->h, &nal, &n, &e->pic, &pic_out);
	// The planes are Go memory: x264 has copied the picture, and cgo forbids C keeping a
	// Go pointer after the call returns.
	e->pic.img.plane[0] = e->pic.img.plane[1] = e->pic.img.plane[2] = NULL;
	if (size > 0) *out = nal[0].p_payload; // the NAL units are contiguous
	return size;
}

static void rtcctl_x264_close(rtcctl_x264 *e) {
	x264_encoder_close(e->h);
	free(e);
}
*/
import "C"

import (
	"fmt"
	"image"
	"io"
	"unsafe"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
)

// H264Available says this build can encode H264 (false when built with -tags nox264).
const H264Available = true

// x264Encoder is a codec.ReadCloser over libx264. It is used by one goroutine (the shared
// encoder's), so ForceKeyFrame needs no lock.
type x264Encoder struct {
	e      *C.rtcctl_x264
	in     video.Reader
	w, h   int
	idr    bool
	closed bool
}

// newH264Encoder starts libx264 for p (normalized) reading pictures from in.
func newH264Encoder(p VideoProfile, in video.Reader) (codec.ReadCloser, error) {
	var rc C.int
	e := C.rtcctl_x264_open(C.int(p.Width), C.int(p.Height), C.int(p.FPS), C.int(p.BitrateKbps), C.int(2*p.FPS), &rc)
	if e == nil {
		return nil, fmt.Errorf("x264: open %dx%d@%d failed (code %d)", p.Width, p.Height, p.FPS, int(rc))
	}
	return &x264Encoder{e: e, in: in, w: p.Width, h: p.Height}, nil
}

// Read encodes the next picture into one Annex B access unit (SPS and PPS before IDRs).
func (x *x264Encoder) Read() ([]byte, func(), error) {
	if x.closed {
		return nil, func() {}, io.EOF
	}
	img, release, err := x.in.Read()
	if err != nil {
		return nil, func() {}, err
	}
	defer release()
	yc, ok := img.(*image.YCbCr)
	if !ok || yc.SubsampleRatio != image.YCbCrSubsampleRatio420 || yc.Rect.Dx() != x.w || yc.Rect.Dy() != x.h {
		return nil, func() {}, fmt.Errorf("x264: want a %dx%d 4:2:0 picture, got %T %v", x.w, x.h, img, img.Bounds())
	}
	// x264 reads h rows of w bytes (chroma: h/2 of w/2) from the planes: short slices
	// or strides would be read past their end in C.
	last := image.Pt(yc.Rect.Max.X-1, yc.Rect.Max.Y-1)
	if yc.YStride < x.w || yc.CStride < x.w/2 || yc.YOffset(last.X, last.Y) >= len(yc.Y) ||
		yc.COffset(last.X, last.Y) >= min(len(yc.Cb), len(yc.Cr)) {
		return nil, func() {}, fmt.Errorf("x264: %dx%d picture with strides %d/%d has planes of %d/%d/%d bytes",
			x.w, x.h, yc.YStride, yc.CStride, len(yc.Y), len(yc.Cb), len(yc.Cr))
	}
	idr := 0
	if x.idr {
		idr = 1
		x.idr = false
	}
	var out *C.uint8_t
	n := C.rtcctl_x264_encode(x.e,
		(*C.uint8_t)(unsafe.Pointer(&yc.Y[0])), C.int(yc.YStride),
		(*C.uint8_t)(unsafe.Pointer(&yc.Cb[0])), C.int(yc.CStride),
		(*C.uint8_t)(unsafe.Pointer(&yc.Cr[0])), C.int(yc.CStride),
		C.int(idr), &out)
	if n < 0 {
		return nil, func() {}, fmt.Errorf("x264: encode failed (%d)", int(n))
	}
	if n == 0 {
		return nil, func() {}, nil
	}
	return C.GoBytes(unsafe.Pointer(out), n), func() {}, nil
}

// ForceKeyFrame makes the next picture an IDR (with SPS and PPS in front).
func (x *x264Encoder) ForceKeyFrame() error {
	x.idr = true
	return nil
}

// Controller exposes ForceKeyFrame (codec.KeyFrameController).
func (x *x264Encoder) Controller() codec.EncoderController { return x }

// Close frees the encoder.
func (x *x264Encoder) Close() error {
	if !x.closed {
		x.closed = true
		C.rtcctl_x264_close(x.e)
	}
	return nil
}
