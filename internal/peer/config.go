package peer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// Stage deadlines. Each stage of a session has its own named deadline so a report can say
// which stage ran out of time; TestStageConstantsConsistent checks they fit together.
const (
	// DefaultDialTimeout bounds the websocket dial (TCP, TLS, upgrade).
	DefaultDialTimeout = 5 * time.Second
	// DefaultJoinTimeout bounds dial plus join (the original server never replies to a
	// first joiner, so a silent join is not an error: it only waits this long for a
	// refusal such as "full").
	DefaultJoinTimeout = 5 * time.Second
	// DefaultPeerTimeout bounds the wait, after joining, for a peer (new-peer or
	// resp-join). A lone `rtcctl join` waits this long before reporting "no peer".
	DefaultPeerTimeout = 30 * time.Second
	// DefaultNegotiateTimeout bounds the wait, once the peer is known, for the offer (callee)
	// or the answer (caller).
	DefaultNegotiateTimeout = 5 * time.Second
	// DefaultICETimeout bounds ICE plus DTLS, from the remote description to the
	// PeerConnection state "connected".
	DefaultICETimeout = 10 * time.Second
	// DefaultMediaTimeout bounds the wait, once connected, for the first decoded frame of
	// every expected track.
	DefaultMediaTimeout = 5 * time.Second
	// DefaultCallDuration is how long RunCall measures media after the first frames.
	DefaultCallDuration = 5 * time.Second
	// DefaultCallTimeout bounds a whole RunCall; it covers join, negotiation, ICE, first
	// media and DefaultCallDuration.
	DefaultCallTimeout = 30 * time.Second
	// DefaultKeepalive is the application keepalive interval (the course's later lessons
	// use 5 s so an nginx proxy_read_timeout of 60 s never cuts an idle call).
	DefaultKeepalive = 5 * time.Second
	// minPongWait is the shortest silence after which the signaling server counts as gone.
	minPongWait = 5 * time.Second
	// statusInterval is how often OnStatus is called while a call runs (at most 4 per s).
	statusInterval = 250 * time.Millisecond
	// relayWaitDefault is pion's built-in wait before it accepts a relay pair; the peer
	// sets it to 0 (see newAPI).
	relayWaitDefault = 2 * time.Second
)

// Media says which kinds a peer sends or expects to receive.
type Media struct {
	Audio bool `json:"audio"`
	Video bool `json:"video"`
}

// Thresholds are the pass/fail limits of a call's checks. Zero means "not checked".
type Thresholds struct {
	// MinFPS is the lowest acceptable received video frame rate.
	MinFPS float64 `json:"min_fps,omitempty"`
	// MaxLossPct is the highest acceptable RTP packet loss, in percent.
	MaxLossPct float64 `json:"max_loss_pct,omitempty"`
	// MaxLatency is the highest acceptable p95 capture-to-decode latency (video).
	MaxLatency time.Duration `json:"max_latency_ns,omitempty"`
	// RequireRelay fails the call unless the selected pair is relay on both ends.
	RequireRelay bool `json:"require_relay,omitempty"`
}

// NetworkMode says which local interfaces ICE may use.
type NetworkMode string

const (
	// NetworkAuto uses every interface, and adds loopback candidates when the signaling
	// server or an ICE server is on loopback (the other peer may be on this machine).
	NetworkAuto NetworkMode = ""
	// NetworkLoopback uses loopback addresses only.
	NetworkLoopback NetworkMode = "loopback"
	// NetworkAll uses every interface, loopback included.
	NetworkAll NetworkMode = "all"
)

// Config is one session. Unset fields take the defaults named on each field.
type Config struct {
	// Server is the signaling websocket URL (ws:// or wss://). Required.
	Server string
	// CAFile trusts an extra PEM CA for wss; Insecure skips verification. Unset: system
	// roots.
	CAFile   string
	Insecure bool
	// Origin is sent on the upgrade request. Unset: none.
	Origin string
	// Keepalive is the application ping interval on the websocket. Unset (0) means
	// DefaultKeepalive; negative turns it off.
	Keepalive time.Duration
	// Room is the room id, with its JSON type (signal.StringID by default). Required.
	Room signal.ID
	// UID is this peer's id. Unset: a random "rtcctl-xxxxxx" string.
	UID signal.ID
	// ICEServers are the STUN/TURN servers. Unset: none (host candidates only).
	ICEServers []webrtc.ICEServer
	// RelayOnly sets iceTransportPolicy relay, as the course's browser config can.
	RelayOnly bool
	// CandidateFormat is the format candidates are sent in. Unset: signal.FormatAndroid.
	// Both formats are always accepted on receipt.
	CandidateFormat signal.CandidateFormat
	// Send says what is sent. The zero value sends nothing; DefaultMedia sends both.
	Send Media
	// Receive says what the remote peer is expected to send; a missing expected track is
	// a failed verdict. Unset (nil): the same kinds as Send.
	Receive *Media
	// VideoProfile and AudioProfile describe the synthetic sources. Unset fields take
	// media's defaults (640x480@30 VP8 1 Mbit/s; Opus).
	VideoProfile media.VideoProfile
	AudioProfile media.AudioProfile
	// VideoCodecs lists the video codecs this peer's MediaEngine registers, by name
	// ("vp8", "vp9", "h264"), preferred first. Unset: the send codec (VP8 by default);
	// with H264 also VP8, which is still accepted on receive. Used to reproduce codec
	// mismatches.
	VideoCodecs []string
	// Thresholds, when any is set, turn the last call's receive side into Result.Checks.
	// Unset: no checks (the verdict alone decides).
	Thresholds Thresholds
	// Once stops the session after the first call ends. Unset: stay in the room and wait
	// for the next peer, as the browser client does.
	Once bool
	// Duration bounds the whole session (Run) or the media measurement (RunCall).
	// Unset: until the context ends (Run), DefaultCallDuration (RunCall).
	Duration time.Duration
	// Stage deadlines; unset means the Default* constant of the same name.
	DialTimeout      time.Duration
	JoinTimeout      time.Duration
	PeerTimeout      time.Duration
	NegotiateTimeout time.Duration
	ICETimeout       time.Duration
	MediaTimeout     time.Duration
	// Network selects the interfaces ICE may use. Unset: NetworkAuto.
	Network NetworkMode
	// SettingEngine, when set, is called last on the SettingEngine: tests use it to put
	// the PeerConnection on a vnet (SetNet). The peer has already set relay acceptance
	// wait 0, mDNS off, UDP4+TCP4 and the loopback choice.
	SettingEngine func(*webrtc.SettingEngine)
	// Analysis tunes the receive analyzers (DecodeEvery, NoDecode, black/freeze limits;
	// RecordPath is set from RecordDir). Unset: media's defaults, every frame decoded.
	Analysis media.AnalyzerConfig
	// KeepFrame keeps the last decoded video frame in the Result's call for snapshots.
	KeepFrame bool
	// RecordDir, when set, asks the analyzers to record received media there.
	RecordDir string
	// Logf receives log lines. Unset: discarded.
	Logf func(format string, args ...any)
	// Verbose forwards pion's own debug logs to Logf.
	Verbose bool
	// OnStatus, when set, is called on stage changes and every 250 ms during a call with
	// a live status (for a one-line display). It must not block.
	OnStatus func(Status)
	// Now is the clock. Unset: time.Now.
	Now func() time.Time
}

// DefaultMedia sends or expects both audio and video.
var DefaultMedia = Media{Audio: true, Video: true}

func (c Config) withDefaults() Config {
	if c.UID.IsZero() {
		c.UID = signal.StringID(RandomUID())
	}
	if c.CandidateFormat == "" {
		c.CandidateFormat = signal.FormatAndroid
	}
	if c.Receive == nil {
		r := c.Send
		c.Receive = &r
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.PeerTimeout <= 0 {
		c.PeerTimeout = DefaultPeerTimeout
	}
	if c.NegotiateTimeout <= 0 {
		c.NegotiateTimeout = DefaultNegotiateTimeout
	}
	if c.ICETimeout <= 0 {
		c.ICETimeout = DefaultICETimeout
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.VideoProfile.Codec == "" {
		c.VideoProfile.Codec = "vp8"
	}
	if len(c.VideoCodecs) == 0 {
		c.VideoCodecs = []string{c.VideoProfile.Codec}
		if strings.EqualFold(c.VideoProfile.Codec, media.CodecH264) {
			// H264 is offered first (so a browser answers with it and sends it too),
			// VP8 still received: a VP8-only peer can still send to us.
			c.VideoCodecs = append(c.VideoCodecs, media.CodecVP8)
		}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	if c.Server == "" {
		return fmt.Errorf("%w: no signaling server URL", ErrConfig)
	}
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: server %q is not a ws:// or wss:// URL", ErrConfig, c.Server)
	}
	if c.Room.IsZero() {
		return fmt.Errorf("%w: no room", ErrConfig)
	}
	switch c.CandidateFormat {
	case signal.FormatAndroid, signal.FormatWeb:
	default:
		return fmt.Errorf("%w: candidate format %q", ErrConfig, c.CandidateFormat)
	}
	for _, name := range c.VideoCodecs {
		if _, ok := videoCodecs[strings.ToLower(name)]; !ok {
			return fmt.Errorf("%w: unknown video codec %q (want vp8, vp9 or h264)", ErrConfig, name)
		}
	}
	return nil
}

// RandomUID returns a fresh uid like "rtcctl-3f9a1c".
func RandomUID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "rtcctl-" + hex.EncodeToString(b[:])
}

// onLoopback reports whether the signaling host and every ICE server host are loopback
// addresses or "localhost".
func onLoopback(server string, ice []webrtc.ICEServer) bool {
	u, err := url.Parse(server)
	if err != nil || !isLoopbackHost(u.Hostname()) {
		return false
	}
	for _, s := range ice {
		for _, raw := range s.URLs {
			if !isLoopbackHost(iceURLHost(raw)) {
				return false
			}
		}
	}
	return true
}

// anyLoopback reports whether the signaling host or any ICE server host is loopback.
func anyLoopback(server string, ice []webrtc.ICEServer) bool {
	if u, err := url.Parse(server); err == nil && isLoopbackHost(u.Hostname()) {
		return true
	}
	for _, s := range ice {
		for _, raw := range s.URLs {
			if isLoopbackHost(iceURLHost(raw)) {
				return true
			}
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// iceURLHost extracts the host of a stun:/turn:/turns: URL ("turn:127.0.0.1:3478?transport=tcp").
func iceURLHost(raw string) string {
	s := raw
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimPrefix(s, "//")
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			return s[1:i]
		}
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}
