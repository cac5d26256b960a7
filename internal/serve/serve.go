// Package serve composes `rtcctl serve`: the hardened room signaling server
// (internal/signal), an optional embedded TURN server (internal/turnserver), the call page
// and its /config and /healthz endpoints, on one HTTP(S) listener. Other code starts it in
// process (`rtcctl call --embedded`, tests) with Start and stops it with Close.
//
// The package prints nothing: one line per event goes through Config.Logf, and TURN
// passwords and REST secrets never appear in it.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/loggate"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/turncred"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// Defaults for Config fields left zero.
const (
	DefaultAddr       = "127.0.0.1:8099"
	DefaultICECredTTL = 24 * time.Hour
	// shutdownGrace bounds each stage of Close (HTTP, signaling) so Close always returns.
	shutdownGrace = 5 * time.Second
	// restUser prefixes the user part of REST usernames handed out by /config.
	restUser = "rtcctl"
)

// Config configures the server. The zero value serves plain HTTP/WS on DefaultAddr
// without TURN.
type Config struct {
	// Addr is the HTTP/WebSocket listen address; empty means DefaultAddr. Port 0 picks a
	// free port (tests). 0.0.0.0:8099 exposes the server to the network.
	Addr string
	// TLSCert and TLSKey are PEM files; set both to serve https/wss.
	TLSCert, TLSKey string
	// TLSSelfSigned generates an in-memory certificate for localhost, 127.0.0.1 and ::1
	// (valid 24 h); CACertPEM returns it for clients to trust. Excludes TLSCert/TLSKey.
	TLSSelfSigned bool
	// Signal configures the signaling server; its Logf defaults to Config.Logf.
	Signal signal.ServerConfig
	// TURN starts the embedded TURN server.
	TURN bool
	// TURNConfig configures it (zero: 127.0.0.1, a free port). With neither Users nor
	// Secret, a random REST secret is generated and kept in memory: clients get
	// time-limited credentials from /config. Its Logf defaults to Config.Logf.
	TURNConfig turnserver.Config
	// TURNPublicHost is the host put in TURN/STUN URLs handed to clients; empty means the
	// TURN server's own address.
	TURNPublicHost string
	// ICECredTTL is the lifetime of REST credentials from /config; zero means
	// DefaultICECredTTL.
	ICECredTTL time.Duration
	// Logf receives one line per event; nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock used for credentials and the certificate (test hook; nil: time.Now).
	Now func() time.Time
}

// Info describes a running server for banners and reports. It holds no secret.
type Info struct {
	HTTPURL   string   `json:"httpUrl"`
	SignalURL string   `json:"signalUrl"`
	TURNURLs  []string `json:"turnUrls,omitempty"`
	TURNRealm string   `json:"turnRealm,omitempty"`
	// TURNUsers are the static TURN user names (passwords are never exposed here).
	TURNUsers []string `json:"turnUsers,omitempty"`
	// TURNREST says a REST secret is configured: /config hands out time-limited creds.
	TURNREST bool `json:"turnRest,omitempty"`
	// TURNSecretGenerated says the REST secret was generated in memory by Start.
	TURNSecretGenerated bool `json:"turnSecretGenerated,omitempty"`
	TLS                 bool `json:"tls"`
	SelfSigned          bool `json:"selfSigned,omitempty"`
}

// Server is a running rtcctl serve instance.
type Server struct {
	cfg       Config
	ln        net.Listener
	httpSrv   *http.Server
	sig       *signal.Server
	turn      *turnserver.Server
	secret    string // REST secret (configured or generated); never logged
	generated bool
	tls       bool
	caPEM     []byte
	started   time.Time
	gate      *loggate.Gate

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when Close starts
	served    chan struct{} // closed when the HTTP serve loop has returned
}

// Start opens the listeners and returns once the server accepts connections. It stops
// when Close is called or ctx ends. Errors wrap ErrConfig, ErrAddrInUse, ErrListen, ErrTLS
// or ErrTURN.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("serve: start: %w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.ICECredTTL <= 0 {
		cfg.ICECredTTL = DefaultICECredTTL
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	gate := loggate.New(cfg.Logf)
	cfg.Logf = gate.Logf
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Signal.Logf == nil {
		cfg.Signal.Logf = cfg.Logf
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %w", ErrConfig, cfg.Addr, err)
	}
	if cfg.TLSSelfSigned && (cfg.TLSCert != "" || cfg.TLSKey != "") {
		return nil, fmt.Errorf("%w: a self-signed certificate and certificate files are exclusive", ErrConfig)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, fmt.Errorf("%w: TLS needs both a certificate and a key file", ErrConfig)
	}

	s := &Server{cfg: cfg, gate: gate, done: make(chan struct{}), served: make(chan struct{}), started: cfg.Now()}

	var tlsCfg *tls.Config
	switch {
	case cfg.TLSSelfSigned:
		cert, pemBytes, err := selfSigned(cfg.Now())
		if err != nil {
			return nil, err
		}
		tlsCfg, s.caPEM = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, pemBytes
	case cfg.TLSCert != "":
		cert, pemBytes, err := loadKeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		tlsCfg, s.caPEM = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, pemBytes
	}
	s.tls = tlsCfg != nil

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %w", ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrListen, cfg.Addr, err)
	}
	s.ln = ln

	if cfg.TURN {
		tc := cfg.TURNConfig
		if tc.Logf == nil {
			tc.Logf = cfg.Logf
		}
		if tc.Now == nil {
			tc.Now = cfg.Now
		}
		if len(tc.Users) == 0 && tc.Secret == "" {
			secret, err := randomSecret()
			if err != nil {
				_ = ln.Close()
				return nil, fmt.Errorf("%w: generate REST secret: %w", ErrTURN, err)
			}
			tc.Secret, s.generated = secret, true
		}
		s.secret = tc.Secret
		ts, err := turnserver.Start(tc)
		if err != nil {
			_ = ln.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: TURN: %w", ErrAddrInUse, err)
			}
			return nil, fmt.Errorf("%w: %w", ErrTURN, err)
		}
		s.turn = ts
		s.cfg.TURNConfig = tc
	}

	s.sig = signal.NewServer(cfg.Signal)
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          log.New(logWriter{cfg.Logf}, "http: ", 0),
		TLSConfig:         tlsCfg,
	}
	serveLn := ln
	if tlsCfg != nil {
		serveLn = tls.NewListener(ln, tlsCfg)
	}
	go func() {
		defer close(s.served)
		_ = s.httpSrv.Serve(serveLn) // returns http.ErrServerClosed after Shutdown
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	cfg.Logf("serve: listening on %s (page %s, signaling %s)", ln.Addr(), s.HTTPURL(), s.SignalURL())
	return s, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// logWriter turns net/http's error log into Logf lines.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	n := len(p)
	for n > 0 && p[n-1] == '\n' {
		n--
	}
	w.logf("%s", p[:n])
	return len(p), nil
}

// Addr returns the HTTP/WebSocket listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// urlHost is host:port for URLs: an unspecified listen IP becomes loopback.
func (s *Server) urlHost() string {
	a := s.ln.Addr().(*net.TCPAddr)
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		// 0.0.0.0 and [::] (dual stack) both answer on IPv4 loopback.
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}

// SignalURL returns the WebSocket URL clients join with: ws://HOST:PORT/ws (wss with TLS).
func (s *Server) SignalURL() string {
	if s.tls {
		return "wss://" + s.urlHost() + "/ws"
	}
	return "ws://" + s.urlHost() + "/ws"
}

// HTTPURL returns the call page URL: http://HOST:PORT/ (https with TLS).
func (s *Server) HTTPURL() string {
	if s.tls {
		return "https://" + s.urlHost() + "/"
	}
	return "http://" + s.urlHost() + "/"
}

// turnHost is the host:port put in TURN/STUN URLs.
func (s *Server) turnHost() string {
	if s.cfg.TURNPublicHost != "" {
		return net.JoinHostPort(s.cfg.TURNPublicHost, strconv.Itoa(s.turn.Port()))
	}
	return s.turn.Addr()
}

// TURNURLs returns the embedded TURN server's URLs (UDP, TCP), or nil without TURN.
func (s *Server) TURNURLs() []string {
	if s.turn == nil {
		return nil
	}
	h := s.turnHost()
	return []string{"turn:" + h + "?transport=udp", "turn:" + h + "?transport=tcp"}
}

// TURN returns the embedded TURN server, or nil.
func (s *Server) TURN() *turnserver.Server { return s.turn }

// ICEServers returns what /config hands out: a stun: URL of the embedded TURN server and
// its TURN URLs with credentials: fresh REST credentials (valid ICECredTTL) when a secret
// is set, else the first static user (by name). Nil without TURN.
func (s *Server) ICEServers() []webrtc.ICEServer {
	if s.turn == nil {
		return nil
	}
	user, pass := s.credentials()
	return []webrtc.ICEServer{
		{URLs: []string{"stun:" + s.turnHost()}},
		{URLs: s.TURNURLs(), Username: user, Credential: pass, CredentialType: webrtc.ICECredentialTypePassword},
	}
}

func (s *Server) credentials() (user, pass string) {
	if s.secret != "" {
		// A random suffix makes every hand-out distinct, even within one second.
		var b [4]byte
		_, _ = rand.Read(b[:])
		return turncred.Generate(s.secret, restUser+"-"+hex.EncodeToString(b[:]), s.cfg.ICECredTTL, s.cfg.Now())
	}
	names := s.staticUsers()
	return names[0], s.cfg.TURNConfig.Users[names[0]]
}

func (s *Server) staticUsers() []string {
	names := make([]string, 0, len(s.cfg.TURNConfig.Users))
	for n := range s.cfg.TURNConfig.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CACertPEM returns the served certificate in PEM (the root to trust for a self-signed
// one), or nil without TLS.
func (s *Server) CACertPEM() []byte { return s.caPEM }

// Info describes the running server (no secrets).
func (s *Server) Info() Info {
	in := Info{
		HTTPURL: s.HTTPURL(), SignalURL: s.SignalURL(),
		TLS: s.tls, SelfSigned: s.cfg.TLSSelfSigned,
	}
	if s.turn != nil {
		in.TURNURLs = s.TURNURLs()
		in.TURNRealm = s.turn.Realm()
		in.TURNUsers = s.staticUsers()
		in.TURNREST = s.secret != ""
		in.TURNSecretGenerated = s.generated
	}
	return in
}

// Stats is what /healthz reports.
type Stats struct {
	Status   string             `json:"status"`
	UptimeMS int64              `json:"uptimeMs"`
	Signal   signal.ServerStats `json:"signal"`
	TURN     *turnserver.Stats  `json:"turn,omitempty"`
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{Status: "ok", UptimeMS: s.cfg.Now().Sub(s.started).Milliseconds(), Signal: s.sig.Stats()}
	if s.turn != nil {
		ts := s.turn.Stats()
		st.TURN = &ts
	}
	return st
}

// Close shuts down gracefully: stops accepting, sends close frames to every WebSocket
// (waiting up to a few seconds for them), then stops TURN. It is idempotent and safe to
// call concurrently; every call returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("serve: http shutdown: %w", err))
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), shutdownGrace)
		if err := s.sig.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		<-s.served
		if err := s.closeTURN(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
		s.cfg.Logf("serve: stopped")
		s.gate.Close()
	})
	return s.closeErr
}

func (s *Server) closeTURN() error {
	if s.turn == nil {
		return nil
	}
	return s.turn.Close()
}
