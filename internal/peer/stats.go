package peer

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// parseCandidateLine reads type, protocol, address and port from a candidate line
// ("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host ..."). Unknown parts stay empty.
func parseCandidateLine(line string) Candidate {
	c := Candidate{Raw: line, Type: "unknown"}
	f := strings.Fields(strings.TrimPrefix(line, "a="))
	if len(f) >= 8 {
		c.Protocol = strings.ToLower(f[2])
		c.Address = f[4]
		if p, err := strconv.Atoi(f[5]); err == nil {
			c.Port = p
		}
		for i := 6; i+1 < len(f); i++ {
			if f[i] == "typ" {
				c.Type = f[i+1]
			}
		}
	}
	return c
}

// iceTransport finds the (bundled) ICE transport of a PeerConnection.
func iceTransport(pc *webrtc.PeerConnection) *webrtc.ICETransport {
	for _, tr := range pc.GetTransceivers() {
		if s := tr.Sender(); s != nil && s.Transport() != nil {
			return s.Transport().ICETransport()
		}
		if r := tr.Receiver(); r != nil && r.Transport() != nil {
			return r.Transport().ICETransport()
		}
	}
	return nil
}

// selectedPair describes the selected candidate pair, with the relay protocol from the
// candidate stats and the TURN URL inferred from the relay address and transport.
func selectedPair(pc *webrtc.PeerConnection, stats webrtc.StatsReport, servers []webrtc.ICEServer) *Pair {
	it := iceTransport(pc)
	if it == nil {
		return nil
	}
	cp, err := it.GetSelectedCandidatePair()
	if err != nil || cp == nil || cp.Local == nil || cp.Remote == nil {
		return nil
	}
	p := &Pair{
		LocalType:  cp.Local.Typ.String(),
		RemoteType: cp.Remote.Typ.String(),
		Protocol:   cp.Local.Protocol.String(),
		Local:      net.JoinHostPort(cp.Local.Address, strconv.Itoa(int(cp.Local.Port))),
		Remote:     net.JoinHostPort(cp.Remote.Address, strconv.Itoa(int(cp.Remote.Port))),
	}
	for _, st := range stats {
		switch s := st.(type) {
		case webrtc.ICECandidateStats:
			if s.Type == webrtc.StatsTypeLocalCandidate && s.CandidateType == webrtc.ICECandidateTypeRelay &&
				s.IP == cp.Local.Address && int(s.Port) == int(cp.Local.Port) {
				p.RelayProtocol = s.RelayProtocol
			}
		case webrtc.ICECandidatePairStats:
			if s.Nominated && s.CurrentRoundTripTime > 0 {
				p.RTTMs = s.CurrentRoundTripTime * 1000
			}
		}
	}
	if p.LocalType == "relay" {
		if p.RelayProtocol == "" {
			p.RelayProtocol = "udp"
		}
		p.RelayServer = guessRelayServer(cp.Local.Address, p.RelayProtocol, servers)
	}
	return p
}

// guessRelayServer picks the TURN URL that most likely produced a relay candidate: same
// transport and, when possible, the same host as the relayed address.
func guessRelayServer(relayIP, proto string, servers []webrtc.ICEServer) string {
	best := ""
	for _, s := range servers {
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "turn") {
				continue
			}
			tr := "udp"
			if strings.Contains(u, "transport=tcp") || strings.HasPrefix(u, "turns:") {
				tr = "tcp"
			}
			if tr != proto {
				continue
			}
			if iceURLHost(u) == relayIP {
				return u
			}
			if best == "" {
				best = u
			}
		}
	}
	return best
}

// fillFeedbackStats copies the NACK count the receive side sent (the NACK generator
// interceptor sends them, so only the stats see them).
func fillFeedbackStats(rx map[string]*rxTrack, stats webrtc.StatsReport) {
	for _, st := range stats {
		s, ok := st.(webrtc.InboundRTPStreamStats)
		if !ok {
			continue
		}
		if t := rx[s.Kind]; t != nil {
			if int(s.NACKCount) > t.rec.NACKSent {
				t.rec.NACKSent = int(s.NACKCount)
			}
			if int(s.FIRCount) > t.rec.FIRSent {
				t.rec.FIRSent = int(s.FIRCount)
			}
		}
	}
}

// pairString is "relay/relay udp 127.0.0.1:50000 -> 127.0.0.1:50002".
func (p *Pair) String() string {
	if p == nil {
		return "none"
	}
	s := fmt.Sprintf("%s/%s %s %s -> %s", p.LocalType, p.RemoteType, p.Protocol, p.Local, p.Remote)
	if p.RelayServer != "" {
		s += " via " + p.RelayServer
	}
	return s
}
