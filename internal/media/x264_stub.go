//go:build nox264

package media

import (
	"fmt"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
)

// H264Available says this build can encode H264: not when built with -tags nox264.
const H264Available = false

func newH264Encoder(p VideoProfile, _ video.Reader) (codec.ReadCloser, error) {
	return nil, fmt.Errorf("%w: h264 (this rtcctl was built with -tags nox264; install libx264-dev and rebuild)", ErrUnsupportedCodec)
}
