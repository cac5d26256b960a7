package peer

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal/signaltest"
)

// natLab is two LANs, each behind an address-and-port-dependent ("symmetric") NAT, joined by
// a WAN router that also hosts a pion TURN server. Everything is virtual (pion vnet): no
// packet leaves the process. Signaling stays on real loopback websockets.
type natLab struct {
	wan        *vnet.Router
	netA, netB *vnet.Net
	turn       *turn.Server
}

const (
	labTURNIP   = "1.2.3.4"
	labTURNPort = 3478
	labUser     = "natlab"
	labPass     = "natlab-pass"
)

// labMu serialises building labs: vnet's MAC address counter is a global without a lock
// (pion/transport v5.1.4 vnet/net.go newMACAddress), a data race between parallel tests.
var labMu sync.Mutex

func startNATLab(t *testing.T) *natLab {
	t.Helper()
	labMu.Lock()
	defer labMu.Unlock()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	quiet := &pionLogs{logf: func(string, ...any) {}}
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: quiet})
	must(err)
	wanNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{labTURNIP}})
	must(err)
	must(wan.AddNet(wanNet))
	symmetric := &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	lan := func(global, local string) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{StaticIPs: []string{global}, CIDR: local + "/24", NATType: symmetric, LoggerFactory: quiet})
		must(err)
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{local}})
		must(err)
		must(r.AddNet(n))
		must(wan.AddRouter(r))
		return n
	}
	lab := &natLab{wan: wan, netA: lan("27.1.1.1", "192.168.0.2"), netB: lan("28.1.1.1", "10.2.0.2")}
	must(wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })

	pc, err := wanNet.ListenPacket("udp", fmt.Sprintf("%s:%d", labTURNIP, labTURNPort))
	must(err)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         "natlab",
		LoggerFactory: quiet,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			if ra.Username != labUser {
				return "", nil, false
			}
			return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, labPass), true
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.ParseIP(labTURNIP), Address: "0.0.0.0", Net: wanNet}}},
	})
	must(err)
	lab.turn = srv
	t.Cleanup(func() { _ = srv.Close() })
	return lab
}

// side puts side a on LAN A and side b on LAN B.
func (l *natLab) side(iceTimeout time.Duration) func(string, *Config) {
	return func(side string, c *Config) {
		n := l.netA
		if side == "b" {
			n = l.netB
		}
		c.Network = NetworkAll
		c.ICETimeout = iceTimeout
		c.SettingEngine = func(se *webrtc.SettingEngine) {
			se.SetNet(n)
			se.SetIncludeLoopbackCandidate(false)
			se.SetIPFilter(nil)
		}
	}
}

// natProfile keeps the virtual network's load small; the NAT is what is tested here.
var natProfile = media.VideoProfile{Width: 320, Height: 240, FPS: 15, BitrateKbps: 300}

func TestNATSymmetricWithoutTURNFails(t *testing.T) {
	t.Parallel()
	lab := startNATLab(t)
	srv := signaltest.StartLegacy(t)
	rep := quickCall(t, CallConfig{Server: srv.URL(), VideoProfile: natProfile, Send: &Media{Video: true},
		ICEServers: []webrtc.ICEServer{{URLs: []string{fmt.Sprintf("stun:%s:%d", labTURNIP, labTURNPort)}}},
		Side:       lab.side(3 * time.Second)})
	if rep.Passed {
		t.Fatal("a call between two symmetric NATs without TURN passed")
	}
	for _, d := range rep.Directions {
		v := d.Verdict
		if v.Code != "ice-failed" || !strings.Contains(v.Finding, "NAT") || !strings.Contains(v.Fix, "TURN") {
			t.Errorf("%s: verdict %s: %q fix %q; want ice-failed naming NAT and TURN (evidence %q)", d.Name, v.Code, v.Finding, v.Fix, v.Evidence)
		}
	}
	// The peers did learn their NAT mappings (srflx), so STUN worked: it is the NAT type
	// that needs a relay.
	a := rep.Peers[0].Calls[0]
	if a.LocalCandidates.Counts["srflx"] == 0 {
		t.Errorf("no srflx candidate gathered: %v", a.LocalCandidates.Counts)
	}
}

func TestNATSymmetricThroughTURN(t *testing.T) {
	t.Parallel()
	lab := startNATLab(t)
	srv := signaltest.StartLegacy(t)
	rep := quickCall(t, CallConfig{Server: srv.URL(), VideoProfile: natProfile, Send: &Media{Video: true},
		ICEServers: []webrtc.ICEServer{{URLs: []string{fmt.Sprintf("turn:%s:%d?transport=udp", labTURNIP, labTURNPort)},
			Username: labUser, Credential: labPass}},
		Thresholds: Thresholds{MinFPS: 8},
		Side:       lab.side(8 * time.Second)})
	for _, d := range rep.Directions {
		if !d.Passed {
			t.Errorf("%s failed: %s: %s (evidence %q)", d.Name, d.Verdict.Code, d.Verdict.Finding, d.Verdict.Evidence)
		}
		if d.Selected == nil || (d.Selected.LocalType != "relay" && d.Selected.RemoteType != "relay") {
			t.Errorf("%s: selected pair %v, want a relay pair", d.Name, d.Selected)
		}
	}
}
