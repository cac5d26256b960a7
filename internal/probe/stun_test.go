package probe

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/testenv"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

func TestSTUNDeadlinesConsistent(t *testing.T) {
	if total := STUNServerTimeout + 5*STUNBehaviorTimeout; total > STUNReportTimeout {
		t.Errorf("binding %s + 5 behaviour tests %s = %s > STUNReportTimeout %s", STUNServerTimeout, STUNBehaviorTimeout, total, STUNReportTimeout)
	}
	if stunRequestTimeout > STUNServerTimeout || stunRequestTimeout > STUNBehaviorTimeout {
		t.Errorf("one request (%s) must fit a stage", stunRequestTimeout)
	}
}

// natLab is a virtual WAN with two STUN servers on different IPs and one LAN behind a
// NAT of the given type.
type natLab struct {
	lan *vnet.Net
}

func newNATLab(t *testing.T, nat vnet.NATType) *natLab {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"1.2.3.4", "1.2.3.5"} {
		sn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddNet(sn); err != nil {
			t.Fatal(err)
		}
		pc, err := sn.ListenPacket("udp4", ip+":3478")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := turn.NewServer(turn.ServerConfig{
			Realm:         "lab",
			AuthHandler:   func(*turn.RequestAttributes) (string, []byte, bool) { return "", nil, false },
			LoggerFactory: lf,
			PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP(ip), Address: "0.0.0.0", Net: sn}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
	}
	lanRouter, err := vnet.NewRouter(&vnet.RouterConfig{
		StaticIPs: []string{"27.1.1.1"}, CIDR: "192.168.0.0/24", NATType: &nat, LoggerFactory: lf,
	})
	if err != nil {
		t.Fatal(err)
	}
	lan, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"192.168.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lanRouter.AddNet(lan); err != nil {
		t.Fatal(err)
	}
	if err := wan.AddRouter(lanRouter); err != nil {
		t.Fatal(err)
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })
	return &natLab{lan: lan}
}

func TestSTUNTellsNATMappingApartInVNet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		nat         vnet.NATType
		wantMapping string
		wantVerdict string
	}{
		{"endpoint-independent", vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
			BehaviorIndependent, VerdictDirect},
		{"address-and-port-dependent", vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
			BehaviorEndpointDep, VerdictTURN},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := newNATLab(t, tc.nat)
			rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:1.2.3.4:3478", "stun:1.2.3.5:3478"}, Net: lab.lan, Count: 3})
			if !rep.OK {
				t.Fatalf("servers did not answer: %s", dump(rep))
			}
			for _, s := range rep.Servers {
				if !strings.HasPrefix(s.Mapped, "27.1.1.1:") || s.Received != 3 {
					t.Errorf("%s: mapped %q received %d, want the NAT's address", s.URL, s.Mapped, s.Received)
				}
			}
			if rep.Mapping != tc.wantMapping || rep.Verdict != tc.wantVerdict {
				t.Errorf("mapping %q verdict %q, want %q %q\n%s", rep.Mapping, rep.Verdict, tc.wantMapping, tc.wantVerdict, dump(rep))
			}
			if rep.Filtering != BehaviorInconclusive || !strings.Contains(rep.FilteringBasis, "RFC 5780") {
				t.Errorf("pion servers do not support RFC 5780; filtering %q (%s)", rep.Filtering, rep.FilteringBasis)
			}
		})
	}
}

func TestSTUNOneServerWithoutRFC5780IsInconclusive(t *testing.T) {
	t.Parallel()
	lab := newNATLab(t, vnet.NATType{MappingBehavior: vnet.EndpointIndependent})
	rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:1.2.3.4:3478"}, Net: lab.lan, Count: 2})
	if rep.Verdict != VerdictInconclusive || !strings.Contains(strings.Join(rep.Reasons, " "), "two STUN servers") {
		t.Errorf("verdict %q reasons %v", rep.Verdict, rep.Reasons)
	}
}

func TestSTUNLoopbackPionServersNoNAT(t *testing.T) {
	t.Parallel()
	a := startPion(t, turnserver.Config{Users: map[string]string{"u": "p"}})
	b := startPion(t, turnserver.Config{Users: map[string]string{"u": "p"}})
	rep := STUN(context.Background(), STUNOptions{URLs: []string{a.STUNURL(), b.STUNURL()}})
	if !rep.OK || rep.Mapping != BehaviorNoNAT || rep.Verdict != VerdictDirect {
		t.Fatalf("%s", dump(rep))
	}
	if rep.Servers[0].Mapped != rep.Servers[1].Mapped || rep.Servers[0].RTT.Count != DefaultSTUNCount {
		t.Errorf("one socket must show one mapping: %s", dump(rep.Servers))
	}
}

func TestSTUNCoturnRFC5780(t *testing.T) {
	t.Parallel()
	ct := testenv.StartCoturn(t, testenv.CoturnOptions{RFC5780: true})
	rep := STUN(context.Background(), STUNOptions{URLs: []string{ct.STUNURL()}})
	s := rep.Servers[0]
	if !strings.HasPrefix(s.OtherAddress, "127.0.0.2:") {
		t.Fatalf("no OTHER-ADDRESS from coturn with two IPs: %s\n%s", dump(rep), ct.Logs())
	}
	if rep.Filtering != BehaviorIndependent || rep.Mapping != BehaviorNoNAT || rep.Verdict != VerdictDirect {
		t.Errorf("loopback has no NAT and no filter: %s", dump(rep))
	}
}

func TestSTUNSilentServer(t *testing.T) {
	t.Parallel()
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	start := time.Now()
	rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:" + hole.LocalAddr().String()}, Count: 2})
	if rep.OK || rep.Verdict != VerdictInconclusive || !strings.Contains(rep.Checks[0].Fix, "UDP is blocked") {
		t.Errorf("%s", dump(rep))
	}
	if el := time.Since(start); el > STUNServerTimeout+2*time.Second {
		t.Errorf("took %s", el)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSTUNRTTOfAServerFurtherThanTheRetransmitTimeout: a server answering after 350 ms
// (more than the 200 ms first retransmission timeout) must be reported at about 350 ms,
// not timed from the retransmission (about 150 ms).
func TestSTUNRTTOfAServerFurtherThanTheRetransmitTimeout(t *testing.T) {
	t.Parallel()
	const delay = 350 * time.Millisecond
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil {
				continue
			}
			ua := from.(*net.UDPAddr)
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
			if err != nil {
				continue
			}
			time.AfterFunc(delay, func() { _, _ = pc.WriteTo(resp.Raw, from) })
		}
	}()
	rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:" + pc.LocalAddr().String()}, Count: 3})
	s := rep.Servers[0]
	if s.Received == 0 || s.RTT.Min.D() < delay-10*time.Millisecond || s.RTT.Max.D() > delay+time.Second {
		t.Fatalf("RTT %+v for a server %s away: %s", s.RTT, delay, dump(rep))
	}
}

// TestSTUNIPv6ServerSaidPlainly: an IPv6 STUN server is not probed (the probe classifies
// IPv4 NAT behaviour from one IPv4 socket) and the row says so, instead of an address
// error read as "outgoing UDP is blocked".
func TestSTUNIPv6ServerSaidPlainly(t *testing.T) {
	t.Parallel()
	rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:[::1]:3478"}, Count: 1})
	c := rep.Checks[0]
	if c.OK || !strings.Contains(c.Detail, "IPv6") || strings.Contains(c.Fix, "blocked") {
		t.Errorf("%+v", c)
	}
}
