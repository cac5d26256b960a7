package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sync/errgroup"
)

// Deadlines of the STUN probe. TestSTUNDeadlinesConsistent checks they fit the total.
const (
	// STUNReportTimeout bounds the whole STUN probe.
	STUNReportTimeout = 12 * time.Second
	// STUNServerTimeout bounds the binding requests to one server (all servers in parallel).
	STUNServerTimeout = 3 * time.Second
	// STUNBehaviorTimeout bounds each RFC 5780 test (two mapping tests, then a binding from
	// a fresh socket and two filtering tests, one after the other). A filtering test that
	// gets no answer takes all of it.
	STUNBehaviorTimeout = 1500 * time.Millisecond
	// stunRequestTimeout bounds one binding request (retransmits inside).
	stunRequestTimeout = 1500 * time.Millisecond
)

// DefaultSTUNCount is how many binding requests go to each server when STUNOptions.Count is 0.
const DefaultSTUNCount = 5

// NAT behaviours (RFC 4787 terms) and verdicts as they appear in STUNReport.
const (
	BehaviorNoNAT         = "no-nat"
	BehaviorIndependent   = "endpoint-independent"
	BehaviorAddrDependent = "address-dependent"
	BehaviorAddrPortDep   = "address-and-port-dependent"
	BehaviorEndpointDep   = "endpoint-dependent"
	BehaviorInconclusive  = "inconclusive"
	VerdictDirect         = "direct P2P likely"
	VerdictTURN           = "TURN needed"
	VerdictInconclusive   = "inconclusive"
)

// STUNOptions configure a STUN probe. Zero values say what they mean.
type STUNOptions struct {
	// URLs are stun: (or turn:, whose host:port is used) URIs; UDP only.
	URLs []string
	// Net is the network to use; nil means the real one. Tests pass a pion vnet.
	Net transport.Net
	// Count is how many binding requests go to each server (DefaultSTUNCount when 0).
	Count int
	// Timeout bounds the probe (STUNReportTimeout when zero).
	Timeout time.Duration
	// Logf receives debug lines (nil discards them).
	Logf func(format string, args ...any)
}

// STUNReport is the result of a STUN probe. All requests leave from ONE socket, so the
// mapped addresses can be compared.
type STUNReport struct {
	Started time.Time `json:"started"`
	Elapsed Millis    `json:"elapsed_ms"`
	// LocalAddr is the socket's local address.
	LocalAddr string `json:"local_addr"`
	// Servers holds one row per URL, in the order given.
	Servers []*STUNServerResult `json:"servers"`
	// Mapping is the NAT mapping behaviour: no-nat, endpoint-independent,
	// address-dependent, address-and-port-dependent, endpoint-dependent (one of the
	// last two, not told apart) or inconclusive. MappingBasis says how it was found.
	Mapping      string `json:"mapping"`
	MappingBasis string `json:"mapping_basis"`
	// Filtering is the NAT filtering behaviour (RFC 5780 4.4), or inconclusive.
	Filtering      string `json:"filtering"`
	FilteringBasis string `json:"filtering_basis"`
	// Verdict is "direct P2P likely", "TURN needed" or "inconclusive"; Reasons say why.
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons,omitempty"`
	// Checks are the pass/fail rows (one per server).
	Checks []Check `json:"checks"`
	// Interrupted is true when the caller cancelled the probe (Ctrl-C) before it finished:
	// failed rows may only have been cut short.
	Interrupted bool `json:"interrupted,omitempty"`
	// OK is true when every server answered.
	OK bool `json:"ok"`
}

// STUNServerResult is what one STUN server showed.
type STUNServerResult struct {
	URL     string `json:"url"`
	Address string `json:"address,omitempty"`
	// Sent and Received count binding requests and answers.
	Sent     int      `json:"sent"`
	Received int      `json:"received"`
	RTT      RTTStats `json:"rtt"`
	// Mapped is our address as this server saw it.
	Mapped string `json:"mapped,omitempty"`
	// MappedChanged is true when the mapped address changed between requests.
	MappedChanged bool `json:"mapped_changed,omitempty"`
	// OtherAddress is the RFC 5780 OTHER-ADDRESS, when the server sent one.
	OtherAddress   string `json:"other_address,omitempty"`
	ResponseOrigin string `json:"response_origin,omitempty"`
	Software       string `json:"software,omitempty"`
	Error          string `json:"error,omitempty"`
}

// STUN sends binding requests to every server from one socket, compares the mapped
// addresses, runs the RFC 5780 behaviour tests when a server supports them, and gives a
// verdict on whether direct peer-to-peer connections are likely.
func STUN(ctx context.Context, opts STUNOptions) *STUNReport {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = STUNReportTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if opts.Count <= 0 {
		opts.Count = DefaultSTUNCount
	}
	rep := &STUNReport{Started: time.Now(), Mapping: BehaviorInconclusive, Filtering: BehaviorInconclusive, Verdict: VerdictInconclusive}
	defer func() {
		rep.Elapsed = Millis(time.Since(rep.Started))
		markInterrupted(parent, &rep.Interrupted, &rep.OK, &rep.Reasons, rep.Elapsed)
	}()
	if len(opts.URLs) == 0 {
		rep.Reasons = append(rep.Reasons, ErrNoURLs.Error())
		return rep
	}
	n := opts.Net
	if n == nil {
		sn, err := stdnet.NewNet()
		if err != nil {
			rep.Reasons = append(rep.Reasons, "cannot open the network: "+err.Error())
			return rep
		}
		n = sn
	}
	pc, err := n.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		rep.Reasons = append(rep.Reasons, "cannot open a UDP socket: "+err.Error())
		rep.Checks = append(rep.Checks, Check{Name: "socket", Detail: err.Error()})
		return rep
	}
	cl := newPacketClient(pc)
	defer cl.Close()
	rep.LocalAddr = pc.LocalAddr().String()

	rep.Servers = make([]*STUNServerResult, len(opts.URLs))
	addrs := make([]*net.UDPAddr, len(opts.URLs))
	var g errgroup.Group
	for i, raw := range opts.URLs {
		g.Go(func() error {
			rep.Servers[i], addrs[i] = probeSTUNServer(ctx, n, cl, raw, opts.Count)
			return nil
		})
	}
	_ = g.Wait()
	for _, s := range rep.Servers {
		c := Check{Name: "binding " + s.URL, OK: s.Received > 0, Elapsed: s.RTT.P50}
		if c.OK {
			c.Detail = fmt.Sprintf("%d/%d answered, mapped %s, RTT p50 %s", s.Received, s.Sent, s.Mapped, s.RTT.P50)
		} else {
			c.Detail = "no answer: " + s.Error
			c.Fix = "check the URL; if no STUN server answers at all, outgoing UDP is blocked here: calls need TURN over TCP/TLS (port 443)"
			if strings.HasPrefix(s.Error, errSTUNIPv6.Error()) {
				c.Detail = "not probed: " + s.Error
				c.Fix = "give the server's IPv4 address or a name with an A record"
			}
		}
		rep.Checks = append(rep.Checks, c)
	}
	rep.OK = allOK(rep.Checks)
	classify(ctx, n, cl, rep, addrs)
	return rep
}

func probeSTUNServer(ctx context.Context, n transport.Net, cl *packetClient, raw string, count int) (*STUNServerResult, *net.UDPAddr) {
	res := &STUNServerResult{URL: raw}
	u, err := ParseServerURL(raw)
	if err == nil && u.Transport != "udp" {
		err = fmt.Errorf("%w: %q: the STUN probe uses UDP", ErrBadURL, raw)
	}
	if err != nil {
		res.Error = err.Error()
		return res, nil
	}
	if ip := net.ParseIP(u.Host); ip != nil && ip.To4() == nil {
		res.Error = errSTUNIPv6.Error()
		return res, nil
	}
	addr, err := n.ResolveUDPAddr("udp4", u.Addr())
	if err != nil {
		res.Error = "resolve: " + err.Error()
		if v6, lerr := net.DefaultResolver.LookupIP(ctx, "ip6", u.Host); lerr == nil && len(v6) > 0 {
			res.Error = errSTUNIPv6.Error() + " (" + u.Host + " has only IPv6 addresses)"
		}
		return res, nil
	}
	res.Address = addr.String()
	sctx, cancel := context.WithTimeout(ctx, STUNServerTimeout)
	defer cancel()
	var rtts []time.Duration
	for i := 0; i < count && sctx.Err() == nil; i++ {
		res.Sent++
		b, err := cl.binding(sctx, addr, nil)
		if err != nil {
			res.Error = err.Error()
			continue
		}
		res.Received++
		rtts = append(rtts, b.rtt)
		if res.Mapped != "" && res.Mapped != b.mapped.String() {
			res.MappedChanged = true
		}
		res.Mapped = b.mapped.String()
		if b.other != nil {
			res.OtherAddress = b.other.String()
		}
		if b.origin != nil {
			res.ResponseOrigin = b.origin.String()
		}
		res.Software = b.software
	}
	if res.Received > 0 {
		res.Error = ""
	}
	res.RTT = rttStats(rtts)
	return res, addr
}

// errSTUNIPv6: the STUN probe classifies IPv4 NAT behaviour from one IPv4 socket.
var errSTUNIPv6 = errors.New("an IPv6 STUN server: this probe measures IPv4 NAT behaviour from one IPv4 socket")

// classify works out mapping and filtering behaviour and the verdict.
func classify(ctx context.Context, n transport.Net, cl *packetClient, rep *STUNReport, addrs []*net.UDPAddr) {
	type answered struct {
		addr   *net.UDPAddr
		mapped string
		other  string
	}
	var ok []answered
	for i, s := range rep.Servers {
		if s.Received > 0 && addrs[i] != nil {
			ok = append(ok, answered{addrs[i], s.Mapped, s.OtherAddress})
		}
	}
	if len(ok) == 0 {
		rep.Reasons = append(rep.Reasons, "no STUN server answered over UDP: outgoing UDP may be blocked here (then only TURN over TCP/TLS on 443 works) or the servers are down")
		return
	}
	// Does any answer show the socket's own address? Then there is no NAT.
	if isLocalMapping(n, rep.LocalAddr, ok[0].mapped) {
		rep.Mapping, rep.MappingBasis = BehaviorNoNAT, fmt.Sprintf("the mapped address %s is this machine's own address", ok[0].mapped)
	}
	// Compare mapped addresses across distinct servers.
	distinct := map[string]string{}
	for _, a := range ok {
		distinct[a.addr.String()] = a.mapped
	}
	if rep.Mapping != BehaviorNoNAT && len(distinct) >= 2 {
		same := true
		for _, m := range distinct {
			if m != ok[0].mapped {
				same = false
			}
		}
		if same {
			rep.Mapping = BehaviorIndependent
			rep.MappingBasis = fmt.Sprintf("%d servers saw the same mapped address %s", len(distinct), ok[0].mapped)
		} else {
			rep.Mapping = BehaviorEndpointDep
			rep.MappingBasis = "servers saw different mapped addresses from one socket: " + mappedList(distinct)
		}
	}
	// RFC 5780 refines both when a server gives OTHER-ADDRESS.
	var primary *answered
	for i := range ok {
		if ok[i].other != "" {
			primary = &ok[i]
			break
		}
	}
	if primary == nil {
		rep.FilteringBasis = "no server supports RFC 5780 (no OTHER-ADDRESS), so filtering cannot be tested"
		if rep.Mapping == BehaviorInconclusive {
			rep.MappingBasis = "one server without RFC 5780 cannot show whether the mapping depends on the destination: give two STUN servers on different IPs"
		}
	} else {
		other, err := net.ResolveUDPAddr("udp4", primary.other)
		if err == nil {
			rfc5780(ctx, n, cl, rep, primary.addr, other, primary.mapped)
		}
	}
	verdict(rep)
}

func mappedList(m map[string]string) string {
	var parts []string
	for server, mapped := range m {
		parts = append(parts, server+" saw "+mapped)
	}
	sortStrings(parts)
	return strings.Join(parts, ", ")
}

// rfc5780 runs the behaviour discovery tests of RFC 5780 section 4.3 and 4.4.
func rfc5780(ctx context.Context, n transport.Net, cl *packetClient, rep *STUNReport, primary, other *net.UDPAddr, mapped1 string) {
	test := func(cl *packetClient, to *net.UDPAddr, change []byte) (*bindingResult, error) {
		tctx, cancel := context.WithTimeout(ctx, STUNBehaviorTimeout)
		defer cancel()
		return cl.binding(tctx, to, change)
	}
	if rep.Mapping != BehaviorNoNAT {
		// Mapping test II: the other IP, the primary port.
		altIP := &net.UDPAddr{IP: other.IP, Port: primary.Port}
		b2, err := test(cl, altIP, nil)
		switch {
		case err != nil:
			rep.MappingBasis += "; RFC 5780 mapping test II got no answer from " + altIP.String()
		case b2.mapped.String() == mapped1:
			rep.Mapping = BehaviorIndependent
			rep.MappingBasis = "RFC 5780: the same mapping towards " + primary.String() + " and " + altIP.String()
		default:
			b3, err := test(cl, other, nil)
			switch {
			case err != nil:
				rep.Mapping = BehaviorEndpointDep
				rep.MappingBasis = "RFC 5780: the mapping changed towards another IP; test III got no answer"
			case b3.mapped.String() == b2.mapped.String():
				rep.Mapping = BehaviorAddrDependent
				rep.MappingBasis = "RFC 5780: the mapping changes with the destination IP only"
			default:
				rep.Mapping = BehaviorAddrPortDep
				rep.MappingBasis = "RFC 5780: the mapping changes with the destination IP and port"
			}
		}
	}
	// The filtering tests need a fresh socket: the mapping tests above opened the NAT's
	// filter towards the other address, which would let every answer through.
	pc, err := n.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		rep.FilteringBasis = "cannot open a second socket: " + err.Error()
		return
	}
	fresh := newPacketClient(pc)
	defer fresh.Close()
	if _, err := test(fresh, primary, nil); err != nil {
		rep.FilteringBasis = "a fresh socket got no answer from " + primary.String()
		return
	}
	// Filtering test II: ask for an answer from the other IP and port.
	if b, err := test(fresh, primary, []byte{0, 0, 0, 0x06}); err == nil {
		if b.from != nil && b.from.String() == primary.String() {
			rep.FilteringBasis = "the server ignored CHANGE-REQUEST (answered from its primary address)"
			return
		}
		rep.Filtering = BehaviorIndependent
		rep.FilteringBasis = "RFC 5780: an answer from the other IP and port came through"
		return
	}
	// Filtering test III: ask for an answer from the other port only.
	if b, err := test(fresh, primary, []byte{0, 0, 0, 0x02}); err == nil {
		if b.from != nil && b.from.String() == primary.String() {
			rep.FilteringBasis = "the server ignored CHANGE-REQUEST (answered from its primary address)"
			return
		}
		rep.Filtering = BehaviorAddrDependent
		rep.FilteringBasis = "RFC 5780: answers from another IP were dropped, from another port of the same IP came through"
		return
	}
	rep.Filtering = BehaviorAddrPortDep
	rep.FilteringBasis = "RFC 5780: answers from any other IP or port were dropped"
}

func verdict(rep *STUNReport) {
	switch rep.Mapping {
	case BehaviorNoNAT:
		rep.Verdict = VerdictDirect
		rep.Reasons = append(rep.Reasons, "no NAT between this machine and the STUN servers: peers can reach it directly (unless a firewall filters)")
	case BehaviorIndependent:
		rep.Verdict = VerdictDirect
		rep.Reasons = append(rep.Reasons, "endpoint-independent mapping: the address a STUN server sees is the one peers can use, so hole punching works")
	case BehaviorAddrDependent, BehaviorAddrPortDep, BehaviorEndpointDep:
		rep.Verdict = VerdictTURN
		rep.Reasons = append(rep.Reasons, "the NAT gives each destination a different mapping (symmetric NAT): the address STUN reports is useless to peers, so calls need a TURN relay")
	default:
		rep.Verdict = VerdictInconclusive
		rep.Reasons = append(rep.Reasons, rep.MappingBasis)
	}
	if rep.Filtering == BehaviorAddrPortDep && rep.Verdict == VerdictDirect && rep.Mapping != BehaviorNoNAT {
		rep.Reasons = append(rep.Reasons, "filtering is address-and-port-dependent: direct connections need both sides to send first (ICE does this), and fail against another symmetric NAT")
	}
}

// isLocalMapping reports whether mapped is the socket's own address (an interface IP and
// the socket's port).
func isLocalMapping(n transport.Net, local, mapped string) bool {
	_, lport, err := net.SplitHostPort(local)
	if err != nil {
		return false
	}
	mhost, mport, err := net.SplitHostPort(mapped)
	if err != nil || mport != lport {
		return false
	}
	ifs, err := n.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip != nil && ip.String() == mhost {
				return true
			}
		}
	}
	return false
}

// bindingResult is one binding answer.
type bindingResult struct {
	mapped, other, origin *net.UDPAddr
	software              string
	rtt                   time.Duration
	from                  net.Addr // where the answer came from
}

// packetClient runs STUN transactions to many servers over one unconnected socket.
type packetClient struct {
	pc      net.PacketConn
	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan packetIn
	wg      sync.WaitGroup
	closed  chan struct{}
}

type packetIn struct {
	m    *stun.Message
	from net.Addr
}

func newPacketClient(pc net.PacketConn) *packetClient {
	c := &packetClient{pc: pc, pending: map[[stun.TransactionIDSize]byte]chan packetIn{}, closed: make(chan struct{})}
	c.wg.Add(1)
	go c.readLoop()
	return c
}

func (c *packetClient) Close() {
	_ = c.pc.Close()
	c.wg.Wait()
}

func (c *packetClient) readLoop() {
	defer c.wg.Done()
	defer close(c.closed)
	buf := make([]byte, 2048)
	for {
		n, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil {
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[m.TransactionID]
		delete(c.pending, m.TransactionID)
		c.mu.Unlock()
		if ok {
			select {
			case ch <- packetIn{m, from}:
			default: // an answer to another attempt of the same binding came first
			}
		}
	}
}

// binding sends a Binding request to `to` (with CHANGE-REQUEST flags when change is set)
// and waits for the answer, retransmitting, within stunRequestTimeout and ctx.
//
// Each attempt is a new transaction (Binding requests are stateless), so an answer is
// matched to the send it answers and the RTT stays right when a server is further away
// than the retransmission timeout: with one transaction ID, a late answer to the first
// send would be timed from the retransmission and read as far too fast.
func (c *packetClient) binding(ctx context.Context, to *net.UDPAddr, change []byte) (*bindingResult, error) {
	ctx, cancel := context.WithTimeout(ctx, stunRequestTimeout)
	defer cancel()
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if change != nil {
		setters = append(setters, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: change})
	}
	setters = append(setters, stun.Fingerprint)
	ch := make(chan packetIn, 1)
	sentAt := map[[stun.TransactionIDSize]byte]time.Time{}
	defer func() {
		c.mu.Lock()
		for id := range sentAt {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}()
	rto := stunInitialRTO
	for {
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, fmt.Errorf("build binding: %w", err)
		}
		c.mu.Lock()
		c.pending[req.TransactionID] = ch
		c.mu.Unlock()
		sentAt[req.TransactionID] = time.Now()
		if _, err := c.pc.WriteTo(req.Raw, to); err != nil {
			return nil, classifyNetErr(err)
		}
		timer := time.NewTimer(rto)
		select {
		case in := <-ch:
			timer.Stop()
			res, err := parseBinding(in.m, time.Since(sentAt[in.m.TransactionID]))
			if res != nil {
				res.from = in.from
			}
			return res, err
		case <-c.closed:
			timer.Stop()
			return nil, ErrClosed
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%w: binding to %s", ErrTimeout, to)
		case <-timer.C:
			if rto < stunMaxRTO {
				rto *= 2
			}
		}
	}
}

func parseBinding(m *stun.Message, rtt time.Duration) (*bindingResult, error) {
	if se, isErr := errorResponse(m); isErr {
		return nil, se
	}
	res := &bindingResult{rtt: rtt, software: stunSoftware{}.from(m)}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		res.mapped = &net.UDPAddr{IP: xor.IP, Port: xor.Port}
	} else {
		var plain stun.MappedAddress
		if err := plain.GetFrom(m); err != nil {
			return nil, fmt.Errorf("%w: binding answer without a mapped address", ErrProtocol)
		}
		res.mapped = &net.UDPAddr{IP: plain.IP, Port: plain.Port}
	}
	var other stun.OtherAddress
	if other.GetFrom(m) == nil {
		res.other = &net.UDPAddr{IP: other.IP, Port: other.Port}
	}
	var origin stun.ResponseOrigin
	if origin.GetFrom(m) == nil {
		res.origin = &net.UDPAddr{IP: origin.IP, Port: origin.Port}
	}
	return res, nil
}
