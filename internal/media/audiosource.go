package media

import (
	"math"

	"github.com/pion/mediadevices/pkg/wave"
)

// Audio format of the synthetic source: mono 48 kHz, 20 ms per chunk.
const (
	audioRate        = 48000
	audioChunk       = 960 // samples per 20 ms
	toneAmplitude    = 0.25
	toneLowHz        = 440
	toneHighHz       = 880
	tonePeriodSample = audioRate // the pattern repeats every second
)

// ToneLevelDBFS is the RMS level of the tone pattern while it sounds
// (a sine of amplitude 0.25 full scale: 20*log10(0.25/sqrt 2)).
var ToneLevelDBFS = 20 * math.Log10(toneAmplitude/math.Sqrt2)

// audioSource renders the synthetic audio: within every second, 440 Hz for
// 0-500 ms, 880 Hz for 500-800 ms and silence for 800-1000 ms, so a receiver
// can tell the tone from noise and sees both level and silence. Pattern
// "silence" renders zeros.
type audioSource struct {
	silence bool
	pos     uint64 // samples rendered so far
	phase   float64
}

func newAudioSource(p AudioProfile) *audioSource {
	return &audioSource{silence: p.Normalized().Pattern == PatternSilence}
}

// Render returns the next 20 ms chunk.
func (s *audioSource) Render() *wave.Int16Interleaved {
	out := wave.NewInt16Interleaved(wave.ChunkInfo{Len: audioChunk, Channels: 1, SamplingRate: audioRate})
	if s.silence {
		s.pos += audioChunk
		return out
	}
	for i := 0; i < audioChunk; i++ {
		inSecond := (s.pos + uint64(i)) % tonePeriodSample
		var hz float64
		switch {
		case inSecond < audioRate/2:
			hz = toneLowHz
		case inSecond < audioRate*8/10:
			hz = toneHighHz
		}
		if hz == 0 {
			out.Data[i] = 0
			continue
		}
		s.phase += 2 * math.Pi * hz / audioRate
		if s.phase > 2*math.Pi {
			s.phase -= 2 * math.Pi
		}
		out.Data[i] = int16(toneAmplitude * 32767 * math.Sin(s.phase))
	}
	s.pos += audioChunk
	return out
}
