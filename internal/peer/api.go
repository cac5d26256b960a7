package peer

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// videoCodecs are the video codecs a peer can register, by name.
var videoCodecs = map[string]webrtc.RTPCodecParameters{
	"vp8": {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
	"vp9": {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFeedback}, PayloadType: 98},
	"h264": {RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}, PayloadType: 102},
}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
	PayloadType:        111,
}

// newAPI builds the pion API of one session: codecs, the default interceptors (NACK, RTCP
// reports, TWCC, stats) and the SettingEngine choices every rtcctl peer makes.
func newAPI(cfg Config, logs *pionLogs) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, name := range cfg.VideoCodecs {
		if err := me.RegisterCodec(videoCodecs[strings.ToLower(name)], webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("peer: register %s: %w", name, err)
		}
	}
	if err := me.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("peer: register opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("peer: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	// Relay pairs are accepted at once: pion waits 2 s by default, which dominates a
	// relay-only connect on a fast path (FACTS: 2.0 s -> 3-5 ms on loopback).
	se.SetRelayAcceptanceMinWait(0)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// The peer closes its PeerConnection itself (peer-leave, end of session). Letting
	// pion close it on the remote's DTLS close_notify races with GetStats in
	// finalize (pion v4.2.26: PeerConnection.close writes state GetStats reads).
	se.DisableCloseByDTLS(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	switch {
	case cfg.Network == NetworkLoopback:
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	case cfg.Network == NetworkAll, anyLoopback(cfg.Server, cfg.ICEServers):
		se.SetIncludeLoopbackCandidate(true)
	}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// localCodecNames lists the registered codec names by kind, for the report and diagnosis.
func localCodecNames(cfg Config) map[string][]string {
	m := map[string][]string{"audio": {"opus"}}
	for _, n := range cfg.VideoCodecs {
		m["video"] = append(m["video"], strings.ToLower(n))
	}
	return m
}

// pionLogs is the LoggerFactory of a session: pion's own logs go to Logf when verbose,
// and TURN/STUN gathering failures are always kept (secrets redacted) for the diagnosis.
type pionLogs struct {
	logf    func(string, ...any)
	verbose bool

	mu       sync.Mutex
	gatherEv []string
}

func (p *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{p: p, scope: scope}
}

// gatherErrors returns (and keeps) the gathering errors seen so far.
func (p *pionLogs) gatherErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.gatherEv...)
}

var gatherFailure = regexp.MustCompile(`(?i)(allocate|turn|relay|srflx|server reflexive|stun)`)

// secretish hides anything that looks like credentials in a URL or key=value text.
var secretish = regexp.MustCompile(`(?i)(password|pass|credential|secret)[=: ]+\S+`)

func (p *pionLogs) record(scope, level, msg string) {
	if level == "warn" || level == "error" {
		if (scope == "ice" || strings.HasPrefix(scope, "turn")) && gatherFailure.MatchString(msg) {
			msg = secretish.ReplaceAllString(msg, "$1=***")
			p.mu.Lock()
			if len(p.gatherEv) < 20 {
				p.gatherEv = append(p.gatherEv, msg)
			}
			p.mu.Unlock()
		}
	}
	if p.verbose || level == "error" {
		p.logf("pion %s %s: %s", scope, level, msg)
	}
}

type pionLogger struct {
	p     *pionLogs
	scope string
}

func (l *pionLogger) Trace(string)              {}
func (l *pionLogger) Tracef(string, ...any)     {}
func (l *pionLogger) Debug(m string)            { l.log("debug", m) }
func (l *pionLogger) Debugf(f string, a ...any) { l.log("debug", fmt.Sprintf(f, a...)) }
func (l *pionLogger) Info(m string)             { l.log("info", m) }
func (l *pionLogger) Infof(f string, a ...any)  { l.log("info", fmt.Sprintf(f, a...)) }
func (l *pionLogger) Warn(m string)             { l.log("warn", m) }
func (l *pionLogger) Warnf(f string, a ...any)  { l.log("warn", fmt.Sprintf(f, a...)) }
func (l *pionLogger) Error(m string)            { l.log("error", m) }
func (l *pionLogger) Errorf(f string, a ...any) { l.log("error", fmt.Sprintf(f, a...)) }
func (l *pionLogger) log(level, msg string) {
	if level == "debug" && !l.p.verbose {
		return
	}
	l.p.record(l.scope, level, msg)
}
