package peer

import (
	"context"
	"fmt"
	"image"
	"path/filepath"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
)

// newAnalyzer builds the media package's analyzer for a received track kind.
func newAnalyzer(kind string, cfg Config) analyzer {
	acfg := cfg.Analysis
	acfg.RecordPath = ""
	if acfg.Logf == nil {
		acfg.Logf = cfg.Logf
	}
	if kind == "video" {
		if cfg.RecordDir != "" {
			acfg.RecordPath = filepath.Join(cfg.RecordDir, fmt.Sprintf("%s-from-remote.ivf", cfg.UID.String()))
		}
		return &videoAn{a: media.NewVideoAnalyzer(acfg)}
	}
	if cfg.RecordDir != "" {
		acfg.RecordPath = filepath.Join(cfg.RecordDir, fmt.Sprintf("%s-from-remote.ogg", cfg.UID.String()))
	}
	return &audioAn{a: media.NewAudioAnalyzer(acfg)}
}

type videoAn struct{ a *media.VideoAnalyzer }

func (v *videoAn) consume(ctx context.Context, t *webrtc.TrackRemote, req func()) error {
	return v.a.Consume(ctx, t, req)
}

func (v *videoAn) lastFrame() image.Image { return v.a.LastFrame() }

func (v *videoAn) stats() rxStats {
	s := v.a.Stats()
	return rxStats{
		Packets: s.Packets, Bytes: s.Bytes, BitrateKbps: s.BitrateKbps, LossPct: s.LossPct,
		JitterMs: s.JitterMs, PacketsLost: s.PacketsLost,
		Frames: uint64(s.FramesAssembled), FramesDecoded: uint64(s.FramesDecoded),
		KeyFrames: uint64(s.KeyFrames), DecodeErrors: uint64(s.DecodeErrors),
		Width: s.Width, Height: s.Height, FPS: s.FPS,
		FirstRTPAt: s.FirstRTPAt, FirstKeyFrameAt: s.FirstKeyFrameAt, FirstDecodedAt: s.FirstDecodedAt,
		Black: s.Black, Frozen: s.Frozen, Freezes: s.Freezes,
		LatencyP50Ms: s.LatencyP50Ms, LatencyP95Ms: s.LatencyP95Ms,
		Recording: s.Recording, NotDecoded: s.NotDecoded, ProfileLevelID: s.ProfileLevelID,
	}
}

type audioAn struct{ a *media.AudioAnalyzer }

func (v *audioAn) consume(ctx context.Context, t *webrtc.TrackRemote, req func()) error {
	return v.a.Consume(ctx, t, req)
}

func (v *audioAn) lastFrame() image.Image { return nil }

func (v *audioAn) stats() rxStats {
	s := v.a.Stats()
	return rxStats{
		Packets: s.Packets, Bytes: s.Bytes, BitrateKbps: s.BitrateKbps, LossPct: s.LossPct,
		JitterMs: s.JitterMs, PacketsLost: s.PacketsLost, FirstRTPAt: s.FirstRTPAt,
		Frames: uint64(s.DecodedFrames), FramesDecoded: uint64(s.DecodedFrames), DecodeErrors: uint64(s.DecodeErrors),
		LevelDBFS: s.LevelDBFS, Silent: s.Silent, Recording: s.Recording,
		SoundMs: s.SoundMs, SilenceMs: s.SilenceMs,
	}
}
