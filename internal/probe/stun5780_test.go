package probe

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
)

// rfc5780Server is a minimal RFC 5780 STUN server for the vnet tests: four sockets on two
// IPs x two ports; it answers from the socket CHANGE-REQUEST asks for and names the
// alternate address in OTHER-ADDRESS. (pion's server does not do RFC 5780, and coturn
// cannot run inside vnet.)
type rfc5780Server struct {
	conns map[string]net.PacketConn // "ip:port" -> socket
	ips   [2]string
	ports [2]int
	wg    sync.WaitGroup
}

func startRFC5780Server(t *testing.T, n *vnet.Net, ips [2]string, ports [2]int) {
	t.Helper()
	s := &rfc5780Server{conns: map[string]net.PacketConn{}, ips: ips, ports: ports}
	for _, ip := range ips {
		for _, p := range ports {
			addr := net.JoinHostPort(ip, strconv.Itoa(p))
			pc, err := n.ListenPacket("udp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			s.conns[addr] = pc
		}
	}
	for i := range ips {
		for j := range ports {
			pc := s.conns[net.JoinHostPort(ips[i], strconv.Itoa(ports[j]))]
			s.wg.Add(1)
			go s.serve(pc, i, j)
		}
	}
	t.Cleanup(func() {
		for _, pc := range s.conns {
			_ = pc.Close()
		}
		s.wg.Wait()
	})
}

func (s *rfc5780Server) serve(pc net.PacketConn, ipIdx, portIdx int) {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		ri, rj := ipIdx, portIdx
		if v, err := req.Get(stun.AttrChangeRequest); err == nil && len(v) == 4 {
			if v[3]&0x04 != 0 {
				ri = 1 - ri
			}
			if v[3]&0x02 != 0 {
				rj = 1 - rj
			}
		}
		reply := s.conns[net.JoinHostPort(s.ips[ri], strconv.Itoa(s.ports[rj]))]
		src := from.(*net.UDPAddr)
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: src.IP, Port: src.Port},
			&stun.OtherAddress{IP: net.ParseIP(s.ips[1-ipIdx]), Port: s.ports[1-portIdx]},
			&stun.ResponseOrigin{IP: net.ParseIP(s.ips[ri]), Port: s.ports[rj]},
			stun.Fingerprint)
		if err != nil {
			continue
		}
		_, _ = reply.WriteTo(res.Raw, from)
	}
}

func TestSTUNRFC5780BehaviourInVNet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                       string
		mapping, filtering         vnet.EndpointDependencyType
		wantMapping, wantFiltering string
		wantVerdict                string
	}{
		{"full cone", vnet.EndpointIndependent, vnet.EndpointIndependent, BehaviorIndependent, BehaviorIndependent, VerdictDirect},
		{"restricted cone", vnet.EndpointIndependent, vnet.EndpointAddrDependent, BehaviorIndependent, BehaviorAddrDependent, VerdictDirect},
		{"port restricted cone", vnet.EndpointIndependent, vnet.EndpointAddrPortDependent, BehaviorIndependent, BehaviorAddrPortDep, VerdictDirect},
		{"address-dependent mapping", vnet.EndpointAddrDependent, vnet.EndpointAddrPortDependent, BehaviorAddrDependent, BehaviorAddrPortDep, VerdictTURN},
		{"symmetric", vnet.EndpointAddrPortDependent, vnet.EndpointAddrPortDependent, BehaviorAddrPortDep, BehaviorAddrPortDep, VerdictTURN},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lf := logging.NewDefaultLoggerFactory()
			lf.DefaultLogLevel = logging.LogLevelDisabled
			wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: lf})
			if err != nil {
				t.Fatal(err)
			}
			srvNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "1.2.3.5"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := wan.AddNet(srvNet); err != nil {
				t.Fatal(err)
			}
			lanRouter, err := vnet.NewRouter(&vnet.RouterConfig{StaticIPs: []string{"27.1.1.1"}, CIDR: "192.168.0.0/24",
				NATType: &vnet.NATType{MappingBehavior: tc.mapping, FilteringBehavior: tc.filtering}, LoggerFactory: lf})
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
			startRFC5780Server(t, srvNet, [2]string{"1.2.3.4", "1.2.3.5"}, [2]int{3478, 3479})

			rep := STUN(context.Background(), STUNOptions{URLs: []string{"stun:1.2.3.4:3478"}, Net: lan, Count: 2})
			if !rep.OK || rep.Servers[0].OtherAddress != "1.2.3.5:3479" {
				t.Fatalf("%s", dump(rep))
			}
			if rep.Mapping != tc.wantMapping || rep.Filtering != tc.wantFiltering || rep.Verdict != tc.wantVerdict {
				t.Errorf("mapping %q filtering %q verdict %q; want %q %q %q\n%s\n%s", rep.Mapping, rep.Filtering, rep.Verdict,
					tc.wantMapping, tc.wantFiltering, tc.wantVerdict, rep.MappingBasis, rep.FilteringBasis)
			}
		})
	}
}
