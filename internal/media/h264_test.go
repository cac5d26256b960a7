package media

import (
	"bytes"
	"context"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// nalTypes lists the NAL unit types of an Annex B access unit.
func nalTypes(au []byte) []byte {
	var ts []byte
	annexBNALs(au, func(nal []byte) bool {
		if len(nal) > 0 {
			ts = append(ts, nal[0]&0x1f)
		}
		return true
	})
	return ts
}

// TestH264EncoderConstrainedBaseline: the shared x264 encoder starts a new subscriber at
// an IDR with SPS and PPS in front, the SPS says constrained baseline at the profile's
// size, and a forced keyframe comes within a few frames.
func TestH264EncoderConstrainedBaseline(t *testing.T) {
	enc := sharedH264Encoder(t)
	if enc.Codec().MimeType != webrtc.MimeTypeH264 || enc.Codec().SDPFmtpLine != H264Capability.SDPFmtpLine {
		t.Fatalf("codec %+v", enc.Codec())
	}
	sink := newSink(40)
	detach := enc.AttachWriter(sink)
	defer detach()
	time.Sleep(400 * time.Millisecond) // past KeyFrameMinInterval of the attach keyframe
	enc.ForceKeyFrame()
	samples := sink.wait(t, 20*time.Second)

	first := samples[0].Data
	if got := nalTypes(first); !bytes.HasPrefix(got, []byte{naluSPS, naluPPS}) || !bytes.Contains(got, []byte{naluIDR}) {
		t.Fatalf("first access unit NAL types %v, want SPS, PPS, ..., IDR", got)
	}
	w, h, pl, ok := h264SPSInfo(first)
	if !ok || w != 320 || h != 240 {
		t.Fatalf("SPS size %dx%d ok=%v, want 320x240", w, h, ok)
	}
	// 42 = baseline; constraint_set1 (0x40) makes it constrained baseline, which is
	// what 42e01f announces and what Chromium and OpenH264 decode.
	if len(pl) != 6 || pl[:2] != "42" || pl[2] < 'c' {
		t.Fatalf("profile-level-id %q, want constrained baseline 42c0xx/42e0xx", pl)
	}
	keys := 0
	for i, s := range samples {
		types := nalTypes(s.Data)
		if len(types) == 0 {
			t.Fatalf("sample %d is not Annex B", i)
		}
		for _, nt := range types {
			if nt != naluSPS && nt != naluPPS && nt != naluIDR && nt != naluSlice && nt != naluSEI {
				t.Errorf("sample %d has NAL type %d", i, nt)
			}
		}
		if h264IsKeyFrame(s.Data) {
			keys++
		}
	}
	// The attach keyframe, the forced one (keyint is 2 s, so no other within 40 frames).
	if keys < 2 {
		t.Errorf("%d keyframes in %d frames, want the attach one and the forced one", keys, len(samples))
	}
	st := enc.Stats()
	if st.ForcedKeyFrames < 2 || st.KeyFrames < 2 {
		t.Errorf("encoder stats: %d forced, %d keyframes", st.ForcedKeyFrames, st.KeyFrames)
	}
}

// TestH264DepacketizeModes: single NAL, STAP-A and FU-A payloads rebuild the access unit
// byte for byte; the first packet of a picture starts it; IDR inside STAP-A or FU-A is a
// keyframe.
func TestH264DepacketizeModes(t *testing.T) {
	t.Parallel()
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab}, 3000)...)
	inter := []byte{0x41, 0x9a, 0x01, 0x02, 0x03}
	au := func(nals ...[]byte) []byte {
		var b []byte
		for _, n := range nals {
			b = append(append(b, annexBStart...), n...)
		}
		return b
	}
	// STAP-A(SPS, PPS) + FU-A(IDR), then a single-NAL inter frame: pion's payloader.
	pz := rtp.NewPacketizer(1200, 102, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	key := au(sps, pps, idr)
	pk := pz.Packetize(key, 3000)
	pi := pz.Packetize(au(inter), 3000)
	if pk[0].Payload[0]&0x1f != naluSTAPA || pk[1].Payload[0]&0x1f != naluFUA || len(pi) != 1 {
		t.Fatalf("payloader did not produce STAP-A, FU-A..., single NAL: %d %d %d", pk[0].Payload[0]&0x1f, pk[1].Payload[0]&0x1f, len(pi))
	}
	asm := newH264Assembler()
	now := time.Unix(1764000000, 0)
	var got []assembledFrame
	// The FU-A fragments in reverse order, then the STAP-A: nothing is released before
	// the access unit's first packet (the STAP-A, not the IDR's first fragment) arrives.
	for i := len(pk) - 1; i >= 0; i-- {
		if i == 0 && len(got) > 0 {
			t.Fatal("access unit released before its first packet")
		}
		got = append(got, asm.push(pk[i], now)...)
	}
	got = append(got, asm.push(pi[0], now)...)
	if len(got) != 2 {
		t.Fatalf("%d frames assembled, want 2", len(got))
	}
	if !bytes.Equal(got[0].Data, key) || !got[0].Key {
		t.Errorf("keyframe rebuilt wrong (key=%v, %d bytes, want %d)", got[0].Key, len(got[0].Data), len(key))
	}
	if !bytes.Equal(got[1].Data, au(inter)) || got[1].Key || got[1].LostBefore {
		t.Errorf("inter frame rebuilt wrong: %x key=%v lost=%v", got[1].Data, got[1].Key, got[1].LostBefore)
	}
	// A whole frame lost: the next one starts with a slice (a weak start), so it waits for
	// earlier packets of its own until a later frame begins, then is released marked
	// LostBefore; the later frame follows on at once.
	_ = pz.Packetize(au(inter), 3000)
	afterLoss := pz.Packetize(au(inter), 3000)
	third := pz.Packetize(au(inter), 3000)
	got = got[:0]
	got = append(got, asm.push(afterLoss[0], now)...)
	if len(got) != 0 {
		t.Fatal("the frame after a loss was released before its wait")
	}
	got = append(got, asm.push(third[0], now)...)
	if len(got) != 2 || !got[0].LostBefore || got[1].LostBefore || asm.DroppedAsm != 0 {
		t.Fatalf("after the wait: %d frames (want 2, the first LostBefore), %d dropped", len(got), asm.DroppedAsm)
	}
	// A lone FU-A middle fragment never starts a frame; an IDR in a STAP-A is a keyframe.
	if d, err := h264Depacketize(pk[2].Payload); err != nil || d.start {
		t.Errorf("FU-A middle: start=%v err=%v", d.start, err)
	}
	stap := []byte{naluSTAPA | 0x60, 0, byte(len(sps))}
	stap = append(append(stap, sps...), 0, 6)
	stap = append(stap, 0x65, 0x88, 1, 2, 3, 4)
	d, err := h264Depacketize(stap)
	if err != nil || !d.start || !h264IsKeyFrame(d.body) {
		t.Errorf("STAP-A with IDR: start=%v key=%v err=%v", d.start, h264IsKeyFrame(d.body), err)
	}
	for _, bad := range [][]byte{{}, {naluFUA}, {naluSTAPA, 0, 9, 1}, {25, 0}} {
		if _, err := h264Depacketize(bad); err == nil {
			t.Errorf("payload %x accepted", bad)
		}
	}
	if _, _, _, ok := h264SPSInfo(au([]byte{0x67, 0x42})); ok {
		t.Error("truncated SPS parsed")
	}
}

// TestH264AnalyzerRTPOnly: an x264 stream through pion's payloader into the analyzer:
// frames and keyframes counted, size from the SPS, fps from assembled frames, nothing
// decoded and the reason said; the recording is an H264 byte stream that starts at a
// keyframe.
func TestH264AnalyzerRTPOnly(t *testing.T) {
	enc := sharedH264Encoder(t)
	sink := newSink(60)
	detach := enc.AttachWriter(sink)
	samples := sink.wait(t, 20*time.Second)
	detach()

	rec := filepath.Join(t.TempDir(), "rx.ivf")
	a := NewVideoAnalyzer(AnalyzerConfig{RecordPath: rec})
	src := newChanReader()
	src.ch = make(chan *rtp.Packet, 4096)
	pz := rtp.NewPacketizer(1200, 102, 7, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	n := 0
	for _, s := range samples {
		for _, pkt := range pz.Packetize(s.Data, 3000) {
			src.ch <- pkt
			n++
		}
	}
	close(src.ch)
	pls := 0
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: H264Capability, PayloadType: 102}
	if err := a.ConsumeRTP(context.Background(), src, codec, func() { pls++ }); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if st.Packets != uint64(n) || st.FramesAssembled != len(samples) || st.FramesIncomplete != 0 {
		t.Errorf("%d packets (want %d), %d frames assembled (want %d), %d incomplete", st.Packets, n, st.FramesAssembled, len(samples), st.FramesIncomplete)
	}
	if st.KeyFrames < 1 || st.Width != 320 || st.Height != 240 || st.ProfileLevelID[:2] != "42" {
		t.Errorf("keyframes %d, size %dx%d, profile-level-id %q", st.KeyFrames, st.Width, st.Height, st.ProfileLevelID)
	}
	if st.FramesDecoded != 0 || st.NotDecoded != H264NotDecoded || st.Black || st.Frozen || st.LatencyP50Ms != 0 {
		t.Errorf("decode-side fields set for undecoded H264: %+v", st)
	}
	if pls != 1 {
		t.Errorf("%d keyframe requests, want the one at the start", pls)
	}
	want := rec[:len(rec)-len(".ivf")] + ".h264"
	if st.Recording != want || st.RecordError != "" {
		t.Fatalf("recording %q (error %q), want %q", st.Recording, st.RecordError, want)
	}
	f, err := os.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	nal, err := r.NextNAL()
	if err != nil || nal.UnitType != h264reader.NalUnitTypeSPS {
		t.Fatalf("recording starts with %v (err %v), want an SPS", nal, err)
	}
}

// TestH264EncoderEdgeProfiles drives the x264 binding directly at the edges of what
// Validate accepts for H264 (smallest size and level 3.1's largest, a size that is not a multiple of 16, 1 and
// 120 fps, the lowest bitrate): every picture gives one access unit, the first and every
// forced one an IDR with SPS and PPS in front and the SPS giving the profile's size. Sizes
// x264 cannot encode in 4:2:0 (odd) fail to open with an error; a picture of the wrong
// size, or with a plane too short for its size, is refused before it reaches C; Read after Close is io.EOF and Close twice is safe.
func TestH264EncoderEdgeProfiles(t *testing.T) {
	if !H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Parallel()
	for _, p := range []VideoProfile{
		{Width: 160, Height: 120, FPS: 1, BitrateKbps: 30},
		{Width: 170, Height: 122, FPS: 120, BitrateKbps: 30},
		{Width: 1202, Height: 674, FPS: 30, BitrateKbps: 2000},  // not a multiple of 16
		{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 14000}, // level 3.1's largest
	} {
		p.Codec = CodecH264
		if err := p.Validate(); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		p = p.Normalized()
		src := newVideoSource(p)
		var next *image.YCbCr
		in := video.ReaderFunc(func() (image.Image, func(), error) { return next, func() {}, nil })
		rc, err := newH264Encoder(p, in)
		if err != nil {
			t.Fatalf("%s: %v", p.Key(), err)
		}
		kc := rc.Controller().(codec.KeyFrameController)
		for i := 0; i < 6; i++ {
			next = src.Render(uint32(i), time.Now())
			if i == 4 {
				if err := kc.ForceKeyFrame(); err != nil {
					t.Fatal(err)
				}
			}
			au, release, err := rc.Read()
			if err != nil {
				t.Fatalf("%s frame %d: %v", p.Key(), i, err)
			}
			release()
			types := nalTypes(au)
			if len(au) == 0 || len(types) == 0 {
				t.Fatalf("%s frame %d: no access unit (%d bytes)", p.Key(), i, len(au))
			}
			// The first and the forced picture are IDRs; at 1 fps the keyframe interval
			// (2 s) is 2 pictures, so x264 may put more in.
			wantKey := i == 0 || i == 4
			key := h264IsKeyFrame(au)
			if key != wantKey && (wantKey || p.FPS > 2) {
				t.Errorf("%s frame %d: keyframe %v, want %v (NAL types %v)", p.Key(), i, key, wantKey, types)
			}
			if !key {
				continue
			}
			if !bytes.HasPrefix(types, []byte{naluSPS, naluPPS}) {
				t.Errorf("%s frame %d: NAL types %v, want SPS, PPS first", p.Key(), i, types)
			}
			if w, h, _, ok := h264SPSInfo(au); !ok || w != p.Width || h != p.Height {
				t.Errorf("%s frame %d: SPS size %dx%d ok=%v", p.Key(), i, w, h, ok)
			}
		}
		next = image.NewYCbCr(image.Rect(0, 0, p.Width-2, p.Height), image.YCbCrSubsampleRatio420)
		if _, _, err := rc.Read(); err == nil {
			t.Errorf("%s: a %dx%d picture was encoded", p.Key(), p.Width-2, p.Height)
		}
		short := *src.Render(6, time.Now())
		short.Cr = short.Cr[:len(short.Cr)-1]
		next = &short
		if _, _, err := rc.Read(); err == nil {
			t.Errorf("%s: a picture with a short Cr plane was passed to x264", p.Key())
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rc.Read(); err != io.EOF {
			t.Errorf("%s: Read after Close: %v, want io.EOF", p.Key(), err)
		}
	}
	for _, p := range []VideoProfile{{Width: 1, Height: 1, FPS: 30, BitrateKbps: 10}, {Width: 161, Height: 121, FPS: 30, BitrateKbps: 300}} {
		rc, err := newH264Encoder(p, nil)
		if err == nil {
			rc.Close()
			t.Errorf("%dx%d opened", p.Width, p.Height)
		}
	}
}

// TestH264ProfileWithinAnnouncedLevel: an H264 profile beyond level 3.1 (what the SDP
// announces) is refused; 1280x720@30 and the default 640x480@30 are accepted; VP8 has no
// such limit.
func TestH264ProfileWithinAnnouncedLevel(t *testing.T) {
	if !H264Available {
		t.Skip("built with -tags nox264: h264 profiles are refused for lack of libx264")
	}
	for _, c := range []struct {
		p  VideoProfile
		ok bool
	}{
		{VideoProfile{Codec: CodecH264, Width: 640, Height: 480, FPS: 30}, true},
		{VideoProfile{Codec: CodecH264, Width: 1280, Height: 720, FPS: 30, BitrateKbps: 4000}, true},
		{VideoProfile{Codec: CodecH264, Width: 1280, Height: 720, FPS: 60}, false},
		{VideoProfile{Codec: CodecH264, Width: 1920, Height: 1080, FPS: 30}, false},
		{VideoProfile{Codec: CodecH264, Width: 640, Height: 480, FPS: 30, BitrateKbps: 20000}, false},
		{VideoProfile{Codec: CodecVP8, Width: 1920, Height: 1080, FPS: 60}, true},
	} {
		err := c.p.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", c.p.Key(), err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "level 3.1") {
			t.Errorf("%s: error %q does not name the level", c.p.Key(), err)
		}
	}
}

// sharedH264Encoder skips without libx264, marks the test parallel and acquires the shared
// 320x240@30 300 kbit/s H264 encoder, released when the test ends.
func sharedH264Encoder(t *testing.T) *Encoder {
	t.Helper()
	if !H264Available {
		t.Skip("built with -tags nox264: no libx264 to encode H264")
	}
	t.Parallel()
	enc, err := AcquireVideo(VideoProfile{Codec: CodecH264, Width: 320, Height: 240, FPS: 30, BitrateKbps: 300}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Release)
	return enc
}
