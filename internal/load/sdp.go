package load

import (
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// A real pion offer and answer (audio + video, pion's default codec set, no candidates:
// about 4-5 KB each, the size a browser's first offer has), created once per process and
// reused by every signal-only room. Creating them costs two PeerConnections, not one per
// room.
var (
	sdpOnce             sync.Once
	sdpOffer, sdpAnswer string
	sdpErr              error
)

func realisticSDPs() (offer, answer string, err error) {
	sdpOnce.Do(func() { sdpOffer, sdpAnswer, sdpErr = makeSDPs() })
	return sdpOffer, sdpAnswer, sdpErr
}

func makeSDPs() (string, string, error) {
	api := webrtc.NewAPI()
	mk := func() (*webrtc.PeerConnection, error) {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, fmt.Errorf("load: sdp: %w", err)
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := pc.AddTransceiverFromKind(k); err != nil {
				_ = pc.Close()
				return nil, fmt.Errorf("load: sdp: %w", err)
			}
		}
		return pc, nil
	}
	caller, err := mk()
	if err != nil {
		return "", "", err
	}
	defer caller.Close()
	callee, err := mk()
	if err != nil {
		return "", "", err
	}
	defer callee.Close()
	offer, err := caller.CreateOffer(nil)
	if err != nil {
		return "", "", fmt.Errorf("load: sdp: offer: %w", err)
	}
	if err := callee.SetRemoteDescription(offer); err != nil {
		return "", "", fmt.Errorf("load: sdp: set offer: %w", err)
	}
	answer, err := callee.CreateAnswer(nil)
	if err != nil {
		return "", "", fmt.Errorf("load: sdp: answer: %w", err)
	}
	return offer.SDP, answer.SDP, nil
}

// fakeCandidate returns the i-th of a side's candidates: host, srflx and relay candidates
// as a browser gathers them, each unique within the room (its port), in Android format.
func fakeCandidate(side, i int) string {
	port := 50000 + side*1000 + i
	var line string
	switch i % 3 {
	case 0:
		line = fmt.Sprintf("candidate:%d 1 udp 2122260223 192.168.%d.%d %d typ host generation 0 ufrag Ab12 network-id 1 network-cost 10", 1000+i, side, 10+i%200, port)
	case 1:
		line = fmt.Sprintf("candidate:%d 1 udp 1686052607 203.0.113.%d %d typ srflx raddr 192.168.%d.%d rport %d generation 0 ufrag Ab12 network-id 1 network-cost 10", 2000+i, 10+i%200, port, side, 10+i%200, port)
	default:
		line = fmt.Sprintf("candidate:%d 1 udp 41885439 198.51.100.%d %d typ relay raddr 203.0.113.%d rport %d generation 0 ufrag Ab12 network-id 1 network-cost 10", 3000+i, 10+i%200, port, 10+i%200, port)
	}
	return fmt.Sprintf(`{"label":0,"id":"0","candidate":%q}`, line)
}
