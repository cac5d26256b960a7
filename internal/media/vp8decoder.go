package media

import (
	"errors"
	"fmt"
	"image"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
)

// errFeedEmpty tells the mediadevices decoder loop that the frame we handed
// it produced no picture; it surfaces from Read and is not a decode error.
var errFeedEmpty = errors.New("media: no more input")

// frameFeed is the io.Reader the libvpx decoder pulls from: one whole VP8
// frame per Read, then errFeedEmpty until the next frame is set.
type frameFeed struct{ next []byte }

func (f *frameFeed) Read(p []byte) (int, error) {
	if f.next == nil {
		return 0, errFeedEmpty
	}
	if len(f.next) > len(p) {
		f.next = nil
		return 0, fmt.Errorf("%w: frame of %d bytes exceeds decoder buffer", ErrDecode, len(f.next))
	}
	n := copy(p, f.next)
	f.next = nil
	return n, nil
}

// vp8Decoder wraps the mediadevices libvpx VP8 decoder. It refuses inter
// frames until it has seen a keyframe (libvpx fails on them with "decode
// failed: 5") and again after any decode error, so the caller knows when
// to ask the sender for a keyframe. Not safe for concurrent use.
type vp8Decoder struct {
	dec      codec.VideoDecoder
	feed     *frameFeed
	needKey  bool
	closed   bool
	Frames   int // pictures produced
	Errors   int // frames libvpx rejected
	Skipped  int // inter frames dropped while waiting for a keyframe
	KeyFrame int // keyframes fed
}

func newVP8Decoder() (*vp8Decoder, error) {
	feed := &frameFeed{}
	dec, err := vpx.NewDecoder(feed, prop.Media{})
	if err != nil {
		return nil, fmt.Errorf("media: vp8 decoder: %w", err)
	}
	return &vp8Decoder{dec: dec, feed: feed, needKey: true}, nil
}

// isVP8KeyFrame reports whether an assembled VP8 frame is a keyframe (bit 0
// of the frame tag is 0 for keyframes, RFC 6386 section 9.1).
func isVP8KeyFrame(frame []byte) bool { return len(frame) >= 3 && frame[0]&0x01 == 0 }

// Decode feeds one complete VP8 frame. It returns the picture (nil if the
// frame produced none), ErrNeedKeyFrame for an inter frame that cannot be
// decoded yet, or an error wrapping ErrDecode.
func (d *vp8Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	if d.closed {
		return nil, ErrEncoderStopped
	}
	if len(frame) == 0 {
		return nil, nil
	}
	key := isVP8KeyFrame(frame)
	if key {
		d.KeyFrame++
		d.needKey = false
	} else if d.needKey {
		d.Skipped++
		return nil, ErrNeedKeyFrame
	}
	d.feed.next = frame
	img, release, err := d.dec.Read()
	d.feed.next = nil
	if err != nil {
		if errors.Is(err, errFeedEmpty) {
			return nil, nil
		}
		d.Errors++
		d.needKey = true
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if release != nil {
		release()
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected picture type %T", ErrDecode, img)
	}
	d.Frames++
	return y, nil
}

// Close frees the libvpx context.
func (d *vp8Decoder) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	return d.dec.Close()
}
