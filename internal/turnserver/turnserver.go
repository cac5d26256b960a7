// Package turnserver runs an embedded TURN server (pion/turn v5) on one port for UDP and
// TCP, with static long-term users and/or TURN REST (shared secret) credentials. It is the
// TURN half of `rtcctl serve` and a real TURN server for tests.
//
// The package prints nothing: events go through Config.Logf, and passwords, keys and the
// shared secret never appear in them.
package turnserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"

	"github.com/rtcctl/rtcctl/internal/loggate"
	"github.com/rtcctl/rtcctl/internal/turncred"
)

// Sentinel errors of the turnserver package.
var (
	// ErrConfig means the Config is unusable (bad IP, port, relay range, no credentials).
	ErrConfig = errors.New("turnserver: bad config")
	// ErrListen means the UDP or TCP port could not be opened (often: already in use).
	ErrListen = errors.New("turnserver: cannot listen")
)

// DefaultRealm is the realm used when Config.Realm is empty.
const DefaultRealm = "rtcctl"

// freePortTries bounds the search for a port free for both UDP and TCP when Port is 0.
const freePortTries = 50

// Config configures the server. The zero value of each field says what it means.
type Config struct {
	// ListenIP is the address to listen on; empty means 127.0.0.1.
	ListenIP string
	// Port is used for both UDP and TCP; 0 picks a port free for both.
	Port int
	// RelayIP is the address given out as the relayed address; empty means ListenIP
	// (required when ListenIP is unspecified, e.g. 0.0.0.0).
	RelayIP string
	// Realm is the long-term credential realm; empty means DefaultRealm.
	Realm string
	// Users are static long-term users, name to password.
	Users map[string]string
	// Secret is the TURN REST shared secret: usernames "<expiry>:<user>" with password
	// base64(HMAC-SHA1(Secret, username)) are accepted until their expiry. May be combined
	// with Users. At least one of Users and Secret must be set.
	Secret string
	// LoopbackPeers decides whether clients may relay to loopback peers; the zero value
	// allows them only when ListenIP is loopback.
	LoopbackPeers LoopbackPolicy
	// MinRelayPort and MaxRelayPort restrict relayed ports; both 0 means any port.
	MinRelayPort, MaxRelayPort int
	// Logf receives one line per event (allocations, auth failures); nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock used for REST expiry; nil means time.Now.
	Now func() time.Time
}

// Stats counts what the server has done since Start.
type Stats struct {
	// Allocations is the number of live allocations.
	Allocations int `json:"allocations"`
	// AllocationsTotal counts allocations created.
	AllocationsTotal uint64 `json:"allocations_total"`
	// AuthOK counts requests whose credentials were accepted.
	AuthOK uint64 `json:"auth_ok"`
	// AuthFailures counts rejected credentials: unknown user, expired REST username, or a
	// wrong password (message integrity mismatch).
	AuthFailures uint64 `json:"auth_failures"`
	// Expired counts REST usernames refused because their expiry had passed.
	Expired uint64 `json:"expired"`
	// Permissions counts permissions created.
	Permissions uint64 `json:"permissions"`
	// Channels counts channel bindings created.
	Channels uint64 `json:"channels"`
	// PeersDenied counts permissions refused by the peer policy (loopback, link-local...).
	PeersDenied uint64 `json:"peers_denied"`
}

// Server is a running TURN server. Close stops it.
type Server struct {
	cfg    Config
	srv    *turn.Server
	port   int
	host   string // host used in URLs
	tcp    *trackingListener
	gate   *loggate.Gate
	authLg authLogLimiter
	closed sync.Once
	cerr   error

	allocTotal, authOK, authFail, expired, perms, chans, peersDenied atomic.Uint64
}

// Start opens the UDP and TCP sockets and starts serving. It returns once both listen.
func Start(cfg Config) (*Server, error) {
	if cfg.ListenIP == "" {
		cfg.ListenIP = "127.0.0.1"
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	gate := loggate.New(cfg.Logf)
	cfg.Logf = gate.Logf
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	listenIP := net.ParseIP(cfg.ListenIP)
	if listenIP == nil {
		return nil, fmt.Errorf("%w: listen IP %q is not an IP address", ErrConfig, cfg.ListenIP)
	}
	if cfg.RelayIP == "" {
		if listenIP.IsUnspecified() {
			return nil, fmt.Errorf("%w: listening on %s needs a relay IP (the address peers can reach)", ErrConfig, cfg.ListenIP)
		}
		cfg.RelayIP = cfg.ListenIP
	}
	relayIP := net.ParseIP(cfg.RelayIP)
	if relayIP == nil || relayIP.IsUnspecified() {
		return nil, fmt.Errorf("%w: relay IP %q must be a concrete IP address", ErrConfig, cfg.RelayIP)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range", ErrConfig, cfg.Port)
	}
	if (cfg.MinRelayPort == 0) != (cfg.MaxRelayPort == 0) || cfg.MinRelayPort < 0 ||
		cfg.MaxRelayPort > 65535 || cfg.MinRelayPort > cfg.MaxRelayPort {
		return nil, fmt.Errorf("%w: relay port range %d-%d", ErrConfig, cfg.MinRelayPort, cfg.MaxRelayPort)
	}
	if cfg.LoopbackPeers < LoopbackAuto || cfg.LoopbackPeers > LoopbackDeny {
		return nil, fmt.Errorf("%w: unknown loopback peer policy %d", ErrConfig, cfg.LoopbackPeers)
	}
	if len(cfg.Users) == 0 && cfg.Secret == "" {
		return nil, fmt.Errorf("%w: no static users and no REST secret: nobody could authenticate", ErrConfig)
	}
	for name := range cfg.Users {
		if name == "" {
			return nil, fmt.Errorf("%w: empty user name", ErrConfig)
		}
	}

	udp, tcp, err := listenBoth(listenIP, cfg.Port)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, gate: gate, authLg: authLogLimiter{now: cfg.Now}, tcp: &trackingListener{Listener: tcp, conns: map[net.Conn]struct{}{}}}
	s.port = udp.LocalAddr().(*net.UDPAddr).Port
	s.host = cfg.ListenIP
	if listenIP.IsUnspecified() {
		s.host = cfg.RelayIP
	}

	relayBind := cfg.ListenIP
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.auth,
		EventHandler:  s.events(),
		LoggerFactory: pionLogs{logf: cfg.Logf},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            udp,
			RelayAddressGenerator: relayGen(relayIP, relayBind, cfg),
			PermissionHandler:     s.permit,
		}},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener:              s.tcp,
			RelayAddressGenerator: relayGen(relayIP, relayBind, cfg),
			PermissionHandler:     s.permit,
		}},
	})
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		gate.Close()
		return nil, fmt.Errorf("turnserver: start: %w", err)
	}
	s.srv = srv
	cfg.Logf("turn: listening on %s udp+tcp, relay ip %s, realm %q, %d static user(s), REST secret %s",
		net.JoinHostPort(cfg.ListenIP, strconv.Itoa(s.port)), cfg.RelayIP, cfg.Realm, len(cfg.Users),
		map[bool]string{true: "set", false: "unset"}[cfg.Secret != ""])
	return s, nil
}

func relayGen(relayIP net.IP, bind string, cfg Config) turn.RelayAddressGenerator {
	if cfg.MinRelayPort != 0 {
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: relayIP, Address: bind,
			MinPort: uint16(cfg.MinRelayPort), MaxPort: uint16(cfg.MaxRelayPort),
		}
	}
	return &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: bind}
}

// udpSocketBuffer is the receive/send buffer asked for on the TURN UDP socket.
const udpSocketBuffer = 4 << 20

// listenBoth opens UDP and TCP on the same port; port 0 searches for one free for both.
func listenBoth(ip net.IP, port int) (net.PacketConn, net.Listener, error) {
	udpNet, tcpNet := "udp4", "tcp4"
	if ip.To4() == nil {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	tries := 1
	if port == 0 {
		tries = freePortTries
	}
	var lastErr error
	for range tries {
		udp, err := net.ListenUDP(udpNet, &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: udp %s: %w", ErrListen, net.JoinHostPort(ip.String(), strconv.Itoa(port)), err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP(tcpNet, &net.TCPAddr{IP: ip, Port: p})
		if err == nil {
			// Every client's packets arrive on this one socket; with many calls whose
			// encoders tick together the kernel's default buffer (~208 KiB) overflows
			// in bursts (measured: 9% loss at 100 relayed calls, 0% with 4 MiB).
			// The kernel caps the request at net.core.rmem_max/wmem_max; errors only
			// mean a smaller buffer, so they are ignored.
			_ = udp.SetReadBuffer(udpSocketBuffer)
			_ = udp.SetWriteBuffer(udpSocketBuffer)
			return udp, tcp, nil
		}
		_ = udp.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("%w: tcp %s: %w", ErrListen, net.JoinHostPort(ip.String(), strconv.Itoa(port)), lastErr)
}

// auth is pion's AuthHandler: static users first, then REST usernames under Secret.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	if pass, ok := s.cfg.Users[ra.Username]; ok {
		return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
	}
	if s.cfg.Secret != "" && turncred.IsRESTUsername(ra.Username) {
		if err := turncred.Valid(ra.Username, s.cfg.Now()); err != nil {
			s.authFail.Add(1)
			s.expired.Add(1)
			if ok, n := s.authLg.allow(ra.SrcAddr); ok {
				s.cfg.Logf("turn: auth refused from %s: REST username %q expired%s", ra.SrcAddr, truncate(ra.Username), authSuffix(n))
			}
			return "", nil, false
		}
		_, user, _ := turncred.Parse(ra.Username)
		if user == "" {
			user = ra.Username
		}
		key := turn.GenerateAuthKey(ra.Username, ra.Realm, turncred.Password(s.cfg.Secret, ra.Username))
		return user, key, true
	}
	s.authFail.Add(1)
	if ok, n := s.authLg.allow(ra.SrcAddr); ok {
		s.cfg.Logf("turn: auth refused from %s: unknown user %q%s", ra.SrcAddr, truncate(ra.Username), authSuffix(n))
	}
	return "", nil, false
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (s *Server) events() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(src, _ net.Addr, proto, username, _ string, method string, verdict bool) {
			if verdict {
				s.authOK.Add(1)
				return
			}
			s.authFail.Add(1)
			if ok, n := s.authLg.allow(src); ok {
				s.cfg.Logf("turn: auth refused from %s/%s: wrong password for %q (%s)%s", src, proto, truncate(username), method, authSuffix(n))
			}
		},
		OnAllocationCreated: func(src, _ net.Addr, proto, userID, _ string, relay net.Addr, _ int) {
			s.allocTotal.Add(1)
			s.cfg.Logf("turn: allocation created for %q from %s/%s, relay %s", userID, src, proto, relay)
		},
		OnAllocationDeleted: func(src, _ net.Addr, proto, userID, _ string) {
			s.cfg.Logf("turn: allocation deleted for %q from %s/%s", userID, src, proto)
		},
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ net.IP) {
			s.perms.Add(1)
		},
		OnChannelCreated: func(_, _ net.Addr, _, _, _ string, _, _ net.Addr, _ uint16) {
			s.chans.Add(1)
		},
	}
}

// Port returns the UDP and TCP port.
func (s *Server) Port() int { return s.port }

// Addr returns host:port as clients should dial it.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Realm returns the realm in use.
func (s *Server) Realm() string { return s.cfg.Realm }

// URLs returns the TURN URLs for UDP and TCP, in the browser's iceServers format.
func (s *Server) URLs() []string {
	return []string{
		"turn:" + s.Addr() + "?transport=udp",
		"turn:" + s.Addr() + "?transport=tcp",
	}
}

// STUNURL returns a stun: URL of the same server (binding requests need no credentials).
func (s *Server) STUNURL() string { return "stun:" + s.Addr() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Allocations:      s.srv.AllocationCount(),
		AllocationsTotal: s.allocTotal.Load(),
		AuthOK:           s.authOK.Load(),
		AuthFailures:     s.authFail.Load(),
		Expired:          s.expired.Load(),
		Permissions:      s.perms.Load(),
		Channels:         s.chans.Load(),
		PeersDenied:      s.peersDenied.Load(),
	}
}

// Close stops the server: its sockets, TCP client connections and allocations. It is
// idempotent.
func (s *Server) Close() error {
	s.closed.Do(func() {
		err := s.srv.Close()
		s.tcp.closeConns()
		if err != nil && !strings.Contains(err.Error(), "use of closed") {
			s.cerr = fmt.Errorf("turnserver: close: %w", err)
		}
		s.cfg.Logf("turn: stopped")
		s.gate.Close()
	})
	return s.cerr
}

// trackingListener remembers accepted connections so Close can cut TURN-over-TCP clients
// (pion's server only closes the listener).
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
