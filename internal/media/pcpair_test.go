package media

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// loopbackAPI builds a pion API whose ICE uses only UDP4 on loopback, so
// test traffic never leaves 127.0.0.0/8.
func loopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

// callPair is a sender PC with tracks fed by shared encoders and a
// receiver PC that runs analyzers on what it gets, connected on loopback.
type callPair struct {
	send, recv *webrtc.PeerConnection
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu    sync.Mutex
	video []*VideoAnalyzer
	audio []*AudioAnalyzer
	byID  map[string]any // track ID -> *VideoAnalyzer or *AudioAnalyzer
	errs  []error
}

// newCallPair sends one track per encoder from the sender to the receiver.
func newCallPair(t testing.TB, cfg AnalyzerConfig, encs ...*Encoder) *callPair {
	t.Helper()
	api := loopbackAPI(t)
	send, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		_ = send.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &callPair{send: send, recv: recv, cancel: cancel, byID: map[string]any{}}
	t.Cleanup(cp.close)

	for i, enc := range encs {
		kind := "video"
		if enc.Codec().MimeType == webrtc.MimeTypeOpus {
			kind = "audio"
		}
		track, err := webrtc.NewTrackLocalStaticSample(enc.Codec(), trackID(kind, i), "rtcctl-test")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := send.AddTrack(track)
		if err != nil {
			t.Fatal(err)
		}
		detach := enc.Attach(track)
		cp.wg.Add(1)
		go func() { // answer PLI/FIR with a keyframe
			defer cp.wg.Done()
			defer detach()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						enc.ForceKeyFrame()
					}
				}
			}
		}()
	}

	recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		cp.wg.Add(1)
		go func() {
			defer cp.wg.Done()
			var err error
			cfg := cfg
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				if cfg.RecordPath != "" {
					cfg.RecordPath += "-" + tr.ID() + ".ivf"
				}
				a := NewVideoAnalyzer(cfg)
				cp.mu.Lock()
				cp.video = append(cp.video, a)
				cp.byID[tr.ID()] = a
				cp.mu.Unlock()
				err = a.Consume(ctx, tr, func() {
					_ = recv.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
				})
			} else {
				if cfg.RecordPath != "" {
					cfg.RecordPath += "-" + tr.ID() + ".ogg"
				}
				a := NewAudioAnalyzer(cfg)
				cp.mu.Lock()
				cp.audio = append(cp.audio, a)
				cp.byID[tr.ID()] = a
				cp.mu.Unlock()
				err = a.Consume(ctx, tr, nil)
			}
			if err != nil {
				cp.mu.Lock()
				cp.errs = append(cp.errs, err)
				cp.mu.Unlock()
			}
		}()
	})

	offer, err := send.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather := webrtc.GatheringCompletePromise(send)
	if err := send.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, gather, 10*time.Second, "sender ICE gathering")
	if err := recv.SetRemoteDescription(*send.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := recv.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather = webrtc.GatheringCompletePromise(recv)
	if err := recv.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, gather, 10*time.Second, "receiver ICE gathering")
	if err := send.SetRemoteDescription(*recv.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	return cp
}

func waitOrFail(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: no result in %v", what, d)
	}
}

// analyzers waits until nv video and na audio analyzers exist.
func (cp *callPair) analyzers(t testing.TB, nv, na int, d time.Duration) ([]*VideoAnalyzer, []*AudioAnalyzer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		cp.mu.Lock()
		v, a := append([]*VideoAnalyzer(nil), cp.video...), append([]*AudioAnalyzer(nil), cp.audio...)
		cp.mu.Unlock()
		if len(v) >= nv && len(a) >= na {
			return v, a
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d video and %d audio tracks in %v, want %d and %d", len(v), len(a), d, nv, na)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trackID is the ID newCallPair gives the track of the i-th encoder.
func trackID(kind string, i int) string { return kind + string(rune('a'+i)) }

// videoByID returns the analyzer of a received video track.
func (cp *callPair) videoByID(t testing.TB, id string) *VideoAnalyzer {
	t.Helper()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	a, ok := cp.byID[id].(*VideoAnalyzer)
	if !ok {
		t.Fatalf("no video track %q received", id)
	}
	return a
}

func (cp *callPair) audioByID(t testing.TB, id string) *AudioAnalyzer {
	t.Helper()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	a, ok := cp.byID[id].(*AudioAnalyzer)
	if !ok {
		t.Fatalf("no audio track %q received", id)
	}
	return a
}

func (cp *callPair) close() {
	cp.cancel()
	_ = cp.send.Close()
	_ = cp.recv.Close()
	cp.wg.Wait()
}
