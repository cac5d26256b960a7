package peer

import (
	"context"
	"image"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// TEMPORARY stand-in until media's analyzers land: counts RTP and marker-bit frames.
type countAnalyzer struct {
	mu sync.Mutex
	st rxStats
}

func newAnalyzer(kind string, cfg Config) analyzer { return &countAnalyzer{} }

func (a *countAnalyzer) consume(ctx context.Context, t *webrtc.TrackRemote, req func()) error {
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return nil
		}
		a.mu.Lock()
		now := time.Now()
		if a.st.Packets == 0 {
			a.st.FirstRTPAt = now
		}
		a.st.Packets++
		a.st.Bytes += uint64(len(p.Payload))
		if p.Marker {
			a.st.Frames++
			a.st.FramesDecoded++
			a.st.KeyFrames = 1
			if a.st.FirstDecodedAt.IsZero() {
				a.st.FirstDecodedAt = now
				a.st.FirstKeyFrameAt = now
			}
		}
		a.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
	}
}
func (a *countAnalyzer) stats() rxStats         { a.mu.Lock(); defer a.mu.Unlock(); return a.st }
func (a *countAnalyzer) lastFrame() image.Image { return nil }
