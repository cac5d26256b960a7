package media

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// cpuTime is the CPU time (user+system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU runs fn for a window and returns CPU used as % of one core.
func measureCPU(b *testing.B, window time.Duration, fn func(stop <-chan struct{})) float64 {
	b.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	c0, t0 := cpuTime(b), time.Now()
	go func() { defer close(done); fn(stop) }()
	time.Sleep(window)
	close(stop)
	<-done
	return 100 * float64(cpuTime(b)-c0) / float64(time.Since(t0))
}

// preEncode records n frames of the real shared encoder for p (paced in real
// time, so the rate control sees real frame intervals).
func preEncode(b *testing.B, p VideoProfile, n int) []media.Sample {
	b.Helper()
	enc, err := AcquireVideo(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Release()
	sink := &benchSink{max: n, full: make(chan struct{})}
	defer enc.AttachWriter(sink)()
	select {
	case <-sink.full:
	case <-time.After(time.Duration(n)*time.Second/time.Duration(p.FPS) + 20*time.Second):
		b.Fatalf("pre-encode: %d of %d frames", len(sink.samples), n)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return append([]media.Sample(nil), sink.samples...)
}

type benchSink struct {
	mu      sync.Mutex
	samples []media.Sample
	max     int
	full    chan struct{}
}

func (s *benchSink) WriteSample(m media.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < s.max {
		m.Data = append([]byte(nil), m.Data...)
		s.samples = append(s.samples, m)
		if len(s.samples) == s.max {
			close(s.full)
		}
	}
	return nil
}

// replay packetizes the pre-encoded frames as pion's sender does and hands
// them to deliver at fps, looping (the recording starts with a keyframe, so
// each loop restarts the decoder cleanly), until stop.
func replay(frames []media.Sample, fps int, stop <-chan struct{}, deliver func(*rtp.Packet)) {
	pz := rtp.NewPacketizer(1200, 96, 0x1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	tk := time.NewTicker(time.Second / time.Duration(fps))
	defer tk.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		for _, p := range pz.Packetize(frames[i%len(frames)].Data, uint32(90000/fps)) {
			deliver(p)
		}
	}
}

// BenchmarkAnalyzerCPU measures the receive-side cost of one 640x480@30
// 1 Mbit/s VP8 stream: RTP statistics, frame assembly, libvpx decoding and
// picture analysis, as % of one core over a 5 s window each. The stream is
// pre-encoded once and replayed, so no encoder runs while measuring; the
// replay's own cost (packetizing, delivery) is measured alone and
// subtracted. Modes: every frame analysed; DecodeEvery 10 (all frames still
// decoded); NoDecode (RTP and assembly only).
func BenchmarkAnalyzerCPU(b *testing.B) {
	p := VideoProfile{Width: 640, Height: 480, FPS: 30, BitrateKbps: 1000}
	frames := preEncode(b, p, 90) // 3 s, keyframes at 0 and 60
	const window = 5 * time.Second
	run := func(cfg *AnalyzerConfig) (cpu float64, st VideoStats) {
		cpu = measureCPU(b, window, func(stop <-chan struct{}) {
			if cfg == nil { // replay alone
				replay(frames, p.FPS, stop, func(*rtp.Packet) {})
				return
			}
			r := newChanReader()
			r.ch = make(chan *rtp.Packet, 1024)
			a := NewVideoAnalyzer(*cfg)
			done := make(chan error, 1)
			go func() {
				done <- a.ConsumeRTP(context.Background(), r, webrtc.RTPCodecParameters{RTPCodecCapability: VP8Capability, PayloadType: 96}, nil)
			}()
			replay(frames, p.FPS, stop, func(pk *rtp.Packet) { r.ch <- pk })
			close(r.ch)
			if err := <-done; err != nil {
				b.Error(err)
			}
			st = a.Stats()
		})
		return cpu, st
	}
	for i := 0; i < b.N; i++ {
		base, _ := run(nil)
		full, fs := run(&AnalyzerConfig{})
		sampled, ss := run(&AnalyzerConfig{DecodeEvery: 10})
		nodec, _ := run(&AnalyzerConfig{NoDecode: true})
		if fs.FramesDecoded < 100 || ss.FramesDecoded < 100 || fs.DecodeErrors > 0 {
			b.Fatalf("decoded %d / %d frames, %d errors", fs.FramesDecoded, ss.FramesDecoded, fs.DecodeErrors)
		}
		// On a busy machine the replay may fall below 30 fps; the cost is
		// per frame, so scale to the nominal rate.
		fullRate := float64(fs.FramesDecoded) / window.Seconds()
		sampledRate := float64(ss.FramesDecoded) / window.Seconds()
		b.ReportMetric((full-base)*float64(p.FPS)/fullRate, "cpu%_decode_all")
		b.ReportMetric((sampled-base)*float64(p.FPS)/sampledRate, "cpu%_analyse_1in10")
		b.ReportMetric(nodec-base, "cpu%_rtp_only")
		b.ReportMetric(base, "cpu%_replay_baseline")
		b.ReportMetric(fullRate, "decoded_fps")
		b.ReportMetric(float64(fs.Bytes)*8/1000/window.Seconds(), "stream_kbps")
	}
}

// packetizingSink does per track what pion's TrackLocalStaticSample does
// before SRTP: packetize the frame and marshal every packet.
type packetizingSink struct {
	pz  rtp.Packetizer
	buf []byte
}

func (s *packetizingSink) WriteSample(m media.Sample) error {
	for _, p := range s.pz.Packetize(m.Data, uint32(m.Duration.Seconds()*90000)) {
		n, err := p.MarshalTo(s.buf)
		if err != nil {
			return err
		}
		_ = n
	}
	return nil
}

// BenchmarkEncoderSharing compares N tracks fed by one shared 640x480@30
// 1 Mbit/s VP8 encoder with N tracks fed by N encoders (N = 1, 4, 16), as %
// of one core over a 3 s window. Each track packetizes and marshals RTP as
// pion does before SRTP. With sharing the cost should stay nearly flat;
// separate encoders scale linearly until the CPU saturates (then fps drops).
func BenchmarkEncoderSharing(b *testing.B) {
	const window = 3 * time.Second
	for _, shared := range []bool{true, false} {
		for _, n := range []int{1, 4, 16} {
			name := fmt.Sprintf("separate/N=%d", n)
			if shared {
				name = fmt.Sprintf("shared/N=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					var encs []*Encoder
					var detach []func()
					for k := 0; k < n; k++ {
						p := VideoProfile{Width: 640, Height: 480, FPS: 30, BitrateKbps: 1000}
						if !shared {
							p.BitrateKbps += k // a distinct key: its own encoder
						}
						e, err := AcquireVideo(p, nil)
						if err != nil {
							b.Fatal(err)
						}
						encs = append(encs, e)
						sink := &packetizingSink{
							pz:  rtp.NewPacketizer(1200, 96, uint32(k), &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000),
							buf: make([]byte, 1500),
						}
						detach = append(detach, e.AttachWriter(sink))
					}
					time.Sleep(300 * time.Millisecond) // settle
					distinct := encs
					if shared {
						distinct = encs[:1] // every handle is the same encoder
					}
					var f0 uint64
					for _, e := range distinct {
						f0 += e.Stats().Frames
					}
					cpu := measureCPU(b, window, func(stop <-chan struct{}) { <-stop })
					var f1 uint64
					for _, e := range distinct {
						f1 += e.Stats().Frames
					}
					for k, e := range encs {
						detach[k]()
						e.Release()
					}
					enc := len(distinct)
					fps := float64(f1-f0) / float64(enc) / window.Seconds()
					// A starved machine encodes fewer frames; the cost is per
					// frame, so also report it scaled to the nominal 30 fps.
					full := cpu
					if fps > 0 {
						full = cpu * 30 / fps
					}
					b.ReportMetric(cpu, "cpu%")
					b.ReportMetric(full, "cpu%_at_30fps")
					b.ReportMetric(full/float64(n), "cpu%_per_track_at_30fps")
					b.ReportMetric(fps, "fps_per_encoder")
				}
			})
		}
	}
}
