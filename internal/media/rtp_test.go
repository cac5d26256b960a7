package media

import (
	"context"
	"errors"
	"image"
	"io"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

func TestRTPCounterLossWrapJitter(t *testing.T) {
	t.Parallel()
	c := newRTPCounter(90000)
	t0 := time.Unix(1764000000, 0)
	// 200 packets, one per 10 ms (900 ticks), sequence numbers wrapping,
	// every 10th missing, constant transit: zero jitter.
	sent := 0
	for i := 0; i < 200; i++ {
		if i%10 == 5 {
			continue
		}
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(65500 + i), Timestamp: uint32(4294967000 + 900*i)}, Payload: make([]byte, 100)}
		c.add(p, t0.Add(time.Duration(i)*10*time.Millisecond))
		sent++
	}
	if c.expected() != 200 || c.lost() != 20 {
		t.Fatalf("expected %d lost %d, want 200 and 20", c.expected(), c.lost())
	}
	if c.lossPct() < 9.9 || c.lossPct() > 10.1 {
		t.Fatalf("loss %.2f%%", c.lossPct())
	}
	if c.jitterMs() > 0.01 {
		t.Fatalf("jitter %.3f ms for constant transit", c.jitterMs())
	}
	// Alternating +-5 ms arrival noise converges near 10 ms * 15/16 ... > 5 ms.
	j := newRTPCounter(90000)
	for i := 0; i < 500; i++ {
		noise := time.Duration(0)
		if i%2 == 1 {
			noise = 5 * time.Millisecond
		}
		j.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(900 * i)}}, t0.Add(time.Duration(i)*10*time.Millisecond+noise))
	}
	if j.jitterMs() < 4 || j.jitterMs() > 6 {
		t.Fatalf("jitter %.2f ms, want ~5", j.jitterMs())
	}
	// A duplicate and a reordered old packet do not inflate loss.
	d := newRTPCounter(48000)
	for _, s := range []uint16{1, 2, 3, 3, 5, 4, 6} {
		d.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, t0)
	}
	if d.expected() != 6 || d.lost() != -1 {
		t.Fatalf("dup/reorder: expected %d lost %d", d.expected(), d.lost())
	}
}

// packetize splits a VP8 frame into RTP packets as pion's sender does.
func packetize(t *testing.T, p rtp.Packetizer, frame []byte) []*rtp.Packet {
	t.Helper()
	pkts := p.Packetize(frame, 3000)
	if len(pkts) < 2 {
		t.Fatalf("frame of %d bytes gave %d packets", len(frame), len(pkts))
	}
	return pkts
}

func TestVP8AssemblerOrderLossAndLate(t *testing.T) {
	t.Parallel()
	pz := rtp.NewPacketizer(400, 96, 1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	mk := func(key bool, n int, fill byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = fill
		}
		b[0] = 0x01 // inter frame
		if key {
			b[0] = 0x00
		}
		return b
	}
	frames := [][]byte{mk(true, 1500, 1), mk(false, 900, 2), mk(false, 1000, 3), mk(false, 800, 4), mk(true, 1200, 5)}
	var all [][]*rtp.Packet
	for _, f := range frames {
		all = append(all, packetize(t, pz, f))
	}
	var asm frameAssembler
	now := time.Unix(1764000000, 0)
	var got []assembledFrame
	push := func(p *rtp.Packet) { got = append(got, asm.push(p, now)...) }

	// Frame 0 in reverse order: released once complete, not before.
	for i := len(all[0]) - 1; i >= 0; i-- {
		push(all[0][i])
		if i > 0 && len(got) != 0 {
			t.Fatalf("frame released before its first packet arrived")
		}
	}
	if len(got) != 1 || !got[0].Key || string(got[0].Data) != string(frames[0]) || got[0].LostBefore {
		t.Fatalf("frame 0: %d frames, key=%v", len(got), len(got) > 0 && got[0].Key)
	}
	// Frame 1 loses its middle packet; frames 2 and 3 arrive; frame 1 waits
	// (head of line) until it is too old, then is dropped.
	for i, p := range all[1] {
		if i != 1 {
			push(p)
		}
	}
	for _, p := range all[2] {
		push(p)
	}
	if len(got) != 1 {
		t.Fatalf("frame 2 released before frame 1 gave up")
	}
	now = now.Add(asmMaxAge)
	for _, p := range all[3] {
		push(p)
	}
	if len(got) != 3 || asm.DroppedAsm != 1 {
		t.Fatalf("after timeout: %d frames released, %d dropped", len(got), asm.DroppedAsm)
	}
	if !got[1].LostBefore || string(got[1].Data) != string(frames[2]) || got[2].LostBefore {
		t.Fatalf("loss not flagged on the frame after the dropped one")
	}
	// The late middle packet of frame 1 is ignored.
	push(all[1][1])
	if asm.LatePackets != 1 || len(got) != 3 {
		t.Fatalf("late packet: %d late, %d frames", asm.LatePackets, len(got))
	}
	// Frame 4 (key) complete.
	for _, p := range all[4] {
		push(p)
	}
	if len(got) != 4 || !got[3].Key || got[3].LostBefore {
		t.Fatalf("frame 4: %+v", got[len(got)-1].Key)
	}
}

// chanReader is an RTPReader over a channel (edge-case tests only).
type chanReader struct {
	ch       chan *rtp.Packet
	mu       sync.Mutex
	deadline chan struct{}
}

func newChanReader() *chanReader {
	return &chanReader{ch: make(chan *rtp.Packet, 64), deadline: make(chan struct{})}
}

func (r *chanReader) ReadRTP() (*rtp.Packet, interceptor.Attributes, error) {
	select {
	case p, ok := <-r.ch:
		if !ok {
			return nil, nil, io.EOF
		}
		return p, nil, nil
	case <-r.deadline:
		return nil, nil, context.DeadlineExceeded
	}
}

func (r *chanReader) SetReadDeadline(time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.deadline:
	default:
		close(r.deadline)
	}
	return nil
}

func TestAnalyzersSurviveGarbage(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(1))
	vr, ar := newChanReader(), newChanReader()
	va, aa := NewVideoAnalyzer(AnalyzerConfig{}), NewAudioAnalyzer(AnalyzerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() {
		errs <- va.ConsumeRTP(ctx, vr, webrtc.RTPCodecParameters{RTPCodecCapability: VP8Capability, PayloadType: 96}, nil)
	}()
	go func() {
		errs <- aa.ConsumeRTP(ctx, ar, webrtc.RTPCodecParameters{RTPCodecCapability: OpusCapability, PayloadType: 111})
	}()
	for i := 0; i < 2000; i++ {
		payload := make([]byte, rng.Intn(300))
		rng.Read(payload)
		if i%7 == 0 && len(payload) > 3 {
			payload[0] = 0x10 // S=1, PID 0: a "frame start" of random bytes
			payload[1] &^= 0x01
		}
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(rng.Intn(65536)), Timestamp: rng.Uint32(), Marker: rng.Intn(3) == 0}, Payload: payload}
		q := *p
		vr.ch <- p
		ar.ch <- &q
	}
	close(vr.ch)
	close(ar.ch)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("consume: %v", err)
		}
	}
	if st := va.Stats(); st.Packets != 2000 {
		t.Fatalf("video packets %d", st.Packets)
	}
	if st := aa.Stats(); st.Packets != 2000 {
		t.Fatalf("audio packets %d", st.Packets)
	}
	// Consume twice is an error, not a second reader.
	if err := va.ConsumeRTP(ctx, vr, webrtc.RTPCodecParameters{}, nil); !errors.Is(err, ErrAlreadyConsumed) {
		t.Fatal("second Consume accepted")
	}
}

func TestConsumeStopsOnContext(t *testing.T) {
	t.Parallel()
	r := newChanReader()
	a := NewVideoAnalyzer(AnalyzerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.ConsumeRTP(ctx, r, webrtc.RTPCodecParameters{RTPCodecCapability: VP8Capability}, nil)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Consume after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Consume did not return after cancel")
	}
}

func TestFreezeWhenFramesStop(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1764000000, 0)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	a := NewVideoAnalyzer(AnalyzerConfig{Now: now})
	src := newVideoSource(VideoProfile{Width: 320, Height: 240})
	// Drive the picture path directly with raw frames.
	for i := 0; i < 10; i++ {
		a.onPicture(src.Render(uint32(i), now()), now())
		advance(33 * time.Millisecond)
	}
	if st := a.Stats(); st.Frozen || st.FramesDecoded != 10 {
		t.Fatalf("live stream: %+v", st)
	}
	advance(1100 * time.Millisecond) // stall
	st := a.Stats()
	if !st.Frozen || st.Freezes != 1 || st.LongestFreezeMs < 1100 {
		t.Fatalf("stalled stream: frozen=%v freezes=%d longest=%.0f", st.Frozen, st.Freezes, st.LongestFreezeMs)
	}
	a.onPicture(src.Render(10, now()), now()) // resumes
	if st := a.Stats(); st.Frozen || st.Freezes != 1 || st.StampGapFrames != 0 {
		t.Fatalf("resumed: %+v", st)
	}
	a.onPicture(src.Render(15, now()), now()) // 4 frames never arrived
	if st := a.Stats(); st.StampGapFrames != 4 {
		t.Fatalf("gap: %d", st.StampGapFrames)
	}
}

// A lost packet breaks the VP8 reference chain: the analyzer must drop the
// frames that depend on it (never feed libvpx a broken chain), ask for a
// keyframe, and decode again from the next keyframe.
func TestAnalyzerRecoversFromLoss(t *testing.T) {
	t.Parallel()
	enc, err := AcquireVideo(VideoProfile{Width: 320, Height: 240, FPS: 30, BitrateKbps: 450}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink(75)
	detach := enc.AttachWriter(sink)
	frames := sink.wait(t, 20*time.Second)
	detach()
	enc.Release()

	const lossFrame = 10
	nextKey := -1
	for i := lossFrame + 1; i < len(frames); i++ {
		if isVP8KeyFrame(frames[i].Data) {
			nextKey = i
			break
		}
	}
	if nextKey < 0 {
		t.Fatalf("no keyframe after frame %d in %d frames", lossFrame, len(frames))
	}
	pz := rtp.NewPacketizer(600, 96, 0x55, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	r := newChanReader()
	lostPackets := 0
	var feed [][]*rtp.Packet
	for i, f := range frames {
		pkts := pz.Packetize(f.Data, 3000)
		if i == lossFrame {
			lostPackets++
			pkts = append(pkts[:len(pkts)/2:len(pkts)/2], pkts[len(pkts)/2+1:]...)
		}
		feed = append(feed, pkts)
	}
	go func() { // in real time, as a sender would
		defer close(r.ch)
		tk := time.NewTicker(time.Second / 30)
		defer tk.Stop()
		for _, pkts := range feed {
			<-tk.C
			for _, p := range pkts {
				r.ch <- p
			}
		}
	}()
	var mu sync.Mutex
	requests := 0
	a := NewVideoAnalyzer(AnalyzerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.ConsumeRTP(ctx, r, webrtc.RTPCodecParameters{RTPCodecCapability: VP8Capability, PayloadType: 96}, func() {
		mu.Lock()
		requests++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	t.Logf("%+v", st)
	wantDecoded := lossFrame + len(frames) - nextKey
	if st.FramesDecoded != wantDecoded || st.DecodeErrors != 0 {
		t.Errorf("decoded %d frames (want %d), %d decode errors", st.FramesDecoded, wantDecoded, st.DecodeErrors)
	}
	if st.PacketsLost != int64(lostPackets) || st.FramesIncomplete != 1 {
		t.Errorf("lost %d packets (want %d), %d incomplete frames", st.PacketsLost, lostPackets, st.FramesIncomplete)
	}
	if st.FramesDropped != nextKey-lossFrame-1 {
		t.Errorf("dropped %d frames, want %d (up to the next keyframe)", st.FramesDropped, nextKey-lossFrame-1)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests < 2 || st.KeyFrameRequests != requests {
		t.Errorf("keyframe requests: %d callbacks, stats say %d (want start + loss)", requests, st.KeyFrameRequests)
	}
	if st.StampedFrames != st.FramesDecoded {
		t.Errorf("%d of %d decoded frames stamped", st.StampedFrames, st.FramesDecoded)
	}
}

// Unstamped pictures (a browser's camera) are judged on pixels: a still
// picture freezes, slow motion of a small object does not.
func TestUnstampedChangeDetection(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1764000000, 0)
	a := NewVideoAnalyzer(AnalyzerConfig{Now: func() time.Time { return clock }})
	bg := newVideoSource(VideoProfile{Width: 320, Height: 240, Pattern: PatternFrozen}).Render(0, clock)
	picture := func(boxX int) *image.YCbCr {
		img := image.NewYCbCr(bg.Rect, image.YCbCrSubsampleRatio420)
		copy(img.Y, bg.Y)
		fillLuma(img, 0, 0, 320, StampBandHeight(320), 30) // no stamp
		fillLuma(img, boxX, 120, 40, 40, 240)
		return img
	}
	for i := 0; i < 45; i++ { // 1.5 s of the same picture
		a.onPicture(picture(10), clock)
		clock = clock.Add(33 * time.Millisecond)
	}
	st := a.Stats()
	if !st.Frozen || st.Freezes != 1 || st.StampedFrames != 0 {
		t.Fatalf("still picture: frozen=%v freezes=%d stamped=%d", st.Frozen, st.Freezes, st.StampedFrames)
	}
	for i := 0; i < 90; i++ { // 3 s of a 40 px box moving 2 px per frame
		a.onPicture(picture(10+2*i), clock)
		clock = clock.Add(33 * time.Millisecond)
	}
	st = a.Stats()
	if st.Frozen || st.Freezes != 1 || st.Black {
		t.Fatalf("slow motion: frozen=%v freezes=%d black=%v", st.Frozen, st.Freezes, st.Black)
	}
	if st.LongestFreezeMs < 1400 || st.LongestFreezeMs > 1600 {
		t.Fatalf("longest freeze %.0f ms, want ~1500", st.LongestFreezeMs)
	}
}

// A dark picture with structure (Chrome's fake camera: mean luma 10-35) is
// not black; a flat near-black one is.
func TestBlackNeedsDarkAndFlat(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1764000000, 0)
	dark := NewVideoAnalyzer(AnalyzerConfig{Now: func() time.Time { return clock }})
	flat := NewVideoAnalyzer(AnalyzerConfig{Now: func() time.Time { return clock }})
	for i := 0; i < 10; i++ {
		img := image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420)
		fillLuma(img, 0, 0, 320, 240, 12)
		fillLuma(img, 100+3*i, 80, 60, 60, 120) // a moving shape
		dark.onPicture(img, clock)
		nb := image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420)
		fillLuma(nb, 0, 0, 320, 240, 16)
		flat.onPicture(nb, clock)
		clock = clock.Add(33 * time.Millisecond)
	}
	if st := dark.Stats(); st.Black || st.BlackFrames != 0 || st.MeanLuma > 35 {
		t.Fatalf("dark structured picture: black=%v frames=%d mean=%.1f var=%.1f", st.Black, st.BlackFrames, st.MeanLuma, st.LumaVariance)
	}
	if st := flat.Stats(); !st.Black || st.BlackFrames != 10 {
		t.Fatalf("flat black picture: black=%v frames=%d mean=%.1f", st.Black, st.BlackFrames, st.MeanLuma)
	}
}
