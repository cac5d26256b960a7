package media

/*
// libopus is linked into every binary that imports this package: statically
// by github.com/pion/mediadevices/pkg/codec/opus (bundled libopus.a, imported
// by encoder.go) or, with the "dynamic" build tag, from the system libopus.
// mediadevices wraps only the encoder, so the decoder prototypes (stable
// libopus API, opus.h) are declared here.
typedef struct OpusDecoder OpusDecoder;
OpusDecoder *opus_decoder_create(int Fs, int channels, int *error);
int opus_decode(OpusDecoder *st, const unsigned char *data, int len, short *pcm, int frame_size, int decode_fec);
void opus_decoder_destroy(OpusDecoder *st);
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// opusMaxFrame is the largest Opus packet duration: 120 ms at 48 kHz.
const opusMaxFrame = 5760

// opusDecoder decodes Opus packets to mono 48 kHz PCM (stereo streams are
// down-mixed by libopus). Not safe for concurrent use.
type opusDecoder struct {
	st  *C.OpusDecoder
	pcm []int16
}

func newOpusDecoder() (*opusDecoder, error) {
	var e C.int
	st := C.opus_decoder_create(audioRate, 1, &e)
	if e != 0 || st == nil {
		return nil, fmt.Errorf("%w: opus_decoder_create: error %d", ErrDecode, int(e))
	}
	return &opusDecoder{st: st, pcm: make([]int16, opusMaxFrame)}, nil
}

// Decode returns the PCM of one packet; a nil or empty packet asks libopus
// for packet loss concealment of one 20 ms frame. The slice is reused.
func (d *opusDecoder) Decode(pkt []byte) ([]int16, error) {
	if d.st == nil {
		return nil, ErrEncoderStopped
	}
	var data *C.uchar
	frame := opusMaxFrame
	if len(pkt) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&pkt[0]))
	} else {
		frame = audioChunk
	}
	n := C.opus_decode(d.st, data, C.int(len(pkt)), (*C.short)(unsafe.Pointer(&d.pcm[0])), C.int(frame), 0)
	if n < 0 {
		return nil, fmt.Errorf("%w: opus_decode: error %d", ErrDecode, int(n))
	}
	return d.pcm[:int(n)], nil
}

// Close frees the decoder.
func (d *opusDecoder) Close() {
	if d.st != nil {
		C.opus_decoder_destroy(d.st)
		d.st = nil
	}
}
