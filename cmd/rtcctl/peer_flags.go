package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// defaultServer is where the course's signaling server listens (nginx proxies /ws to it).
const defaultServer = "ws://127.0.0.1:8099"

// mediaOptions are the ICE and media flags shared by join and call.
type mediaOptions struct {
	ICEServers      []webrtc.ICEServer
	ICEFromServer   bool
	RelayOnly       bool
	CandidateFormat signal.CandidateFormat
	Send            peer.Media
	Video           media.VideoProfile
	Audio           media.AudioProfile
	CAFile          string
	Insecure        bool
	Keepalive       time.Duration
	JSON            bool
	Snapshot        string
	RecordDir       string
}

// mediaFlags are the flags of mediaOptions.
func mediaFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "ice-server", Usage: "STUN/TURN `URL` (repeatable): stun:HOST:3478, turn:HOST:3478?transport=tcp"},
		&cli.StringFlag{Name: "ice-user", Usage: "TURN `USER` for the --ice-server turn: URLs"},
		&cli.StringFlag{Name: "ice-pass", EnvVars: []string{"RTCCTL_ICE_PASS"}, Usage: "TURN `PASSWORD` (prefer the env var: flags show in ps)"},
		&cli.StringFlag{Name: "ice-config", Usage: "ICE servers from a JSON `FILE` in the browser's format ({\"iceServers\":[...]})"},
		&cli.BoolFlag{Name: "ice-from-server", Usage: "GET the ICE servers from the signaling server's /config (rtcctl serve)"},
		&cli.BoolFlag{Name: "relay-only", Usage: "iceTransportPolicy relay: only TURN relay candidates"},
		&cli.StringFlag{Name: "candidate-format", Value: "android", Usage: "candidate JSON sent: android ({label,id,candidate}) or web (RTCIceCandidate); both are accepted"},
		&cli.StringFlag{Name: "send", Value: "audio,video", Usage: "what to send: audio,video | audio | video | none"},
		&cli.StringFlag{Name: "resolution", Value: "640x480", Usage: "synthetic video `WxH`"},
		&cli.IntFlag{Name: "fps", Value: media.DefaultFPS, Usage: "synthetic video frame rate"},
		&cli.StringFlag{Name: "bitrate", Value: "1000k", Usage: "video bitrate (`RATE`: 1000k, 2M, 800000)"},
		&cli.StringFlag{Name: "codec", Value: media.CodecVP8, Usage: "video codec sent: vp8 or h264 (x264, constrained baseline; VP8 is still accepted on receive; received H264 is analysed at RTP level only, not decoded)"},
		&cli.StringFlag{Name: "ca-file", Usage: "trust this PEM CA `FILE` for wss:// (self-signed servers)"},
		&cli.BoolFlag{Name: "insecure", Usage: "do not verify the wss:// certificate"},
		&cli.DurationFlag{Name: "keepalive", Value: peer.DefaultKeepalive, Usage: "websocket keepalive interval (0: off; nginx cuts idle websockets after 60 s)"},
		&cli.BoolFlag{Name: "json", Usage: "print only the JSON report on stdout"},
		&cli.StringFlag{Name: "snapshot", Usage: "write the last received video frame to this PNG `FILE`"},
		&cli.StringFlag{Name: "record", Usage: "record received media (IVF/Ogg) into `DIR`"},
	}
}

// parseMediaFlags reads the shared flags; errors are usage errors.
func parseMediaFlags(c *cli.Context) (mediaOptions, error) {
	o := mediaOptions{
		ICEFromServer: c.Bool("ice-from-server"),
		RelayOnly:     c.Bool("relay-only"),
		CAFile:        c.String("ca-file"),
		Insecure:      c.Bool("insecure"),
		Keepalive:     c.Duration("keepalive"),
		JSON:          c.Bool("json"),
		Snapshot:      c.String("snapshot"),
		RecordDir:     c.String("record"),
	}
	if o.Keepalive < 0 {
		return o, usagef("--keepalive must not be negative (0 turns it off)")
	}
	if o.Keepalive == 0 {
		o.Keepalive = -1 // peer: negative is off
	}
	f, err := signal.ParseCandidateFormat(c.String("candidate-format"))
	if err != nil {
		return o, usagef("--candidate-format %q: want android or web", c.String("candidate-format"))
	}
	o.CandidateFormat = f
	if o.Send, err = parseSend(c.String("send")); err != nil {
		return o, err
	}
	w, h, err := parseResolution(c.String("resolution"))
	if err != nil {
		return o, err
	}
	kbps, err := parseBitrate(c.String("bitrate"))
	if err != nil {
		return o, err
	}
	codec := strings.ToLower(c.String("codec"))
	if codec != media.CodecVP8 && codec != media.CodecH264 {
		return o, usagef("--codec %q: want vp8 or h264", c.String("codec"))
	}
	o.Video = media.VideoProfile{Width: w, Height: h, FPS: c.Int("fps"), BitrateKbps: kbps, Codec: codec}
	if err := o.Video.Validate(); err != nil {
		return o, usagef("video profile: %v", err)
	}
	ice, fileRelayOnly, err := parseICEFlags(c)
	if err != nil {
		return o, err
	}
	o.ICEServers = append(o.ICEServers, ice...)
	o.RelayOnly = o.RelayOnly || fileRelayOnly
	return o, nil
}

// parseICEFlags reads the ICE flags join, call and load share: --ice-server URLs (checked
// as RFC 7064/7065 URIs; turn: ones get --ice-user/--ice-pass) and an iceServers JSON file
// (--ice-config), whose iceTransportPolicy "relay" comes back as relayOnly.
func parseICEFlags(c *cli.Context) (servers []webrtc.ICEServer, relayOnly bool, err error) {
	urls := c.StringSlice("ice-server")
	user, pass := c.String("ice-user"), c.String("ice-pass")
	if (user != "" || pass != "") && len(urls) == 0 {
		return nil, false, usagef("--ice-user/--ice-pass need --ice-server turn:HOST:PORT")
	}
	var stun, turn []string
	for _, u := range urls {
		if err := peer.CheckICEURL(u); err != nil {
			return nil, false, usagef("--ice-server: %v", err)
		}
		if strings.HasPrefix(u, "turn") {
			turn = append(turn, u)
		} else {
			stun = append(stun, u)
		}
	}
	if len(stun) > 0 {
		servers = append(servers, webrtc.ICEServer{URLs: stun})
	}
	if len(turn) > 0 {
		if user == "" || pass == "" {
			return nil, false, usagef("turn: URLs need --ice-user and --ice-pass (or RTCCTL_ICE_PASS)")
		}
		servers = append(servers, webrtc.ICEServer{URLs: turn, Username: user, Credential: pass,
			CredentialType: webrtc.ICECredentialTypePassword})
	}
	if file := c.String("ice-config"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, false, usagef("--ice-config: %v", err)
		}
		ic, err := peer.ParseICEConfig(b)
		if err != nil {
			return nil, false, usagef("--ice-config %s: %v", file, err)
		}
		servers = append(servers, ic.Servers...)
		relayOnly = ic.RelayOnly
	}
	return servers, relayOnly, nil
}

// resolveICE fetches the server's ICE config when --ice-from-server is set (exit 3 when
// it cannot be fetched).
func (o *mediaOptions) resolveICE(ctx context.Context, server string) error {
	if !o.ICEFromServer {
		return nil
	}
	ic, err := peer.FetchICEConfig(ctx, server, o.CAFile, o.Insecure)
	if err != nil {
		return cannotRun(err, "--ice-from-server needs an rtcctl serve instance (GET /config); use --ice-server otherwise")
	}
	o.ICEServers = append(o.ICEServers, ic.Servers...)
	return nil
}

func parseSend(s string) (peer.Media, error) {
	var m peer.Media
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "none" || s == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "audio":
			m.Audio = true
		case "video":
			m.Video = true
		default:
			return m, usagef("--send %q: want audio,video | audio | video | none", s)
		}
	}
	return m, nil
}

func parseResolution(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, usagef("--resolution %q: want WIDTHxHEIGHT, e.g. 640x480", s)
	}
	return w, h, nil
}

// parseBitrate reads "1000k", "2M", "800000" (bit/s) into kbit/s.
func parseBitrate(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 0.001
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1000, strings.TrimSuffix(t, "m")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, usagef("--bitrate %q: want e.g. 1000k, 2M or 800000", s)
	}
	return int(f * mult), nil
}

// isWSURL reports whether s is a ws:// or wss:// URL with a host.
func isWSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "ws" || u.Scheme == "wss") && u.Host != ""
}

// ensureRecordDir creates the --record directory.
func ensureRecordDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cannotRun(fmt.Errorf("--record: %w", err), "")
	}
	return nil
}
