package turnserver

import "net"

// LoopbackPolicy decides whether clients may relay to loopback peers: the TURN host's own
// services. A TURN server reachable from the network that relays to 127.0.0.1 is an open
// door into the host (coturn refuses such peers unless --allow-loopback-peers).
type LoopbackPolicy int

// Loopback policies.
const (
	// LoopbackAuto (the zero value) allows loopback peers only when ListenIP is itself a
	// loopback address: then every client is local anyway, and local calls relay through
	// 127.0.0.1.
	LoopbackAuto LoopbackPolicy = iota
	// LoopbackAllow always allows loopback peers.
	LoopbackAllow
	// LoopbackDeny always refuses them.
	LoopbackDeny
)

// peerRefusal says why a permission to peer must be refused, or "" to allow it.
// Unspecified, multicast and link-local peers (169.254.0.0/16 holds cloud metadata
// services) are always refused; loopback ones per allowLoopback. Private LAN ranges stay
// allowed: calls inside a LAN need them.
func peerRefusal(peer net.IP, allowLoopback bool) string {
	switch {
	case peer == nil || peer.IsUnspecified():
		return "unspecified address"
	case peer.IsMulticast():
		return "multicast address"
	case peer.IsLinkLocalUnicast():
		return "link-local address"
	case peer.IsLoopback() && !allowLoopback:
		return "loopback address"
	}
	return ""
}

func (s *Server) loopbackAllowed() bool {
	switch s.cfg.LoopbackPeers {
	case LoopbackAllow:
		return true
	case LoopbackDeny:
		return false
	default:
		return net.ParseIP(s.cfg.ListenIP).IsLoopback()
	}
}

// permit is pion's PermissionHandler.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	why := peerRefusal(peer, s.loopbackAllowed())
	if why == "" {
		return true
	}
	s.peersDenied.Add(1)
	s.cfg.Logf("turn: permission refused from %s to peer %s (%s)", client, peer, why)
	return false
}
