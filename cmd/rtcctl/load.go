package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/load"
	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/serve"
	"github.com/rtcctl/rtcctl/internal/signal"
	"github.com/rtcctl/rtcctl/internal/stats"
	"github.com/rtcctl/rtcctl/internal/turnserver"
)

// loadOptions are the parsed flags of `rtcctl load`.
type loadOptions struct {
	Config   load.Config
	Embedded bool
	// ICEFromServer fetches the ICE servers (with fresh TURN credentials) from the
	// signaling server's /config before the run (rtcctl serve).
	ICEFromServer bool
	// Call is the media call template (media mode).
	Call peer.CallConfig
	// DecodeSample N > 1: only every Nth call decodes its received video (--decode sample:N).
	DecodeSample int
	JSON         bool
	JUnit        string
	// Output, when set, also receives the JSON report (for report merge).
	Output string
	// Verbose forwards per-room failure lines to stderr.
	Verbose bool
}

const loadDescription = `Runs many calls (or, with --signal-only, many signaling exchanges) against a deployment
at once and reports success rate, connect-time percentiles, media quality across calls,
failures grouped by diagnosis verdict, and the tester's own CPU and memory (a warning says
when the tester, not the server, was the bottleneck). Thresholds decide the exit code.

Media mode: every room is one verified call with both peers in this process (real
PeerConnections; one shared encoder per profile, so N calls cost packetisation and SRTP,
not N encoders). Rooms start at --ramp per second; each measures --duration of media.
A room succeeds when its call passes the checks rtcctl call makes: connected, media
verdict ok, and per direction --call-min-fps (default half the sent rate, at most 15),
--call-max-loss (5%) and --call-max-latency (500ms, on decoded video). Decoding every
received frame is then the tester's main cost: --decode sample:N decodes every Nth call,
--decode none checks RTP, loss and assembled frames only, and lets one tester run several
times more calls.

Signal-only mode: every room is two websockets that join, exchange a real-size offer/answer
(~4-5 KB, made by pion once) and --candidates candidates each way, stay --duration, and
leave. It measures join -> resp-join, per-message relay latency and leave -> peer-leave.

Sharding: --shard i/n runs the rooms j of --rooms with j % n == i (ids disjoint from other
shards). Write each shard's --json to a file and combine them with
'rtcctl report merge': percentiles are recomputed from the merged samples.

Examples:
   # 50 relay-only calls against the embedded server and TURN, all on loopback
   rtcctl load --embedded --relay-only --rooms 50 --ramp 5 --duration 10s

   # an rtcctl serve --turn elsewhere: TURN credentials from its /config
   rtcctl load --server ws://10.0.0.5:8099/ws --ice-from-server --relay-only --rooms 20

   # a deployment: 200 calls through its TURN, CI thresholds, JUnit for the CI page
   # (the TURN password from the environment keeps it out of ps and shell history)
   export RTCCTL_ICE_PASS=...
   rtcctl load --server wss://rtc.example.com:8098/ws --ice-server turn:rtc.example.com:3478 \
       --ice-user demo --relay-only --rooms 200 --ramp 10 \
       --min-success 99 --max-p95-connect 2s --max-loss 2 --min-fps 20 --junit load.xml

   # 5,000 signaling rooms (10,000 websockets) at 500 rooms/s
   rtcctl load --server ws://10.0.0.5:8099/ws --signal-only --rooms 5000 --ramp 500 --json > sig.json

   # shard 2 of 4 of a 1,000-call run (text on stdout, JSON to a file), then merge
   rtcctl load --server wss://... --rooms 1000 --shard 2/4 --room-prefix nightly- -o shard-2.json
   rtcctl report merge shard-*.json`

// loadCommand builds `rtcctl load`.
func loadCommand(s *report.Streams) *cli.Command { return newLoadCommand(s, runLoad) }

// newLoadCommand builds the command with an injectable run function.
func newLoadCommand(s *report.Streams, runF func(context.Context, *report.Streams, *loadOptions) error) *cli.Command {
	return &cli.Command{
		Name:        "load",
		Usage:       "many concurrent calls (or signaling exchanges) against a deployment, with percentiles and thresholds",
		UsageText:   "rtcctl load (--server URL | --embedded) [flags]",
		Description: loadDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "signaling websocket `URL` (ws:// or wss://)"},
			&cli.BoolFlag{Name: "embedded", Usage: "start the signaling server and TURN in this process, on loopback"},
			&cli.StringFlag{Name: "ca-file", Usage: "trust this PEM `FILE` for wss"},
			&cli.BoolFlag{Name: "insecure", Usage: "skip TLS verification for wss"},
			&cli.IntFlag{Name: "rooms", Aliases: []string{"n"}, Value: load.DefaultRooms, Usage: "total rooms (calls) over all shards"},
			&cli.Float64Flag{Name: "ramp", Value: load.DefaultRamp, Usage: "rooms started per second by this process (0: all at once)"},
			&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Usage: "media time per call (default 10s), or hold time per room with --signal-only (default 0)"},
			&cli.BoolFlag{Name: "signal-only", Usage: "signaling only: join, offer/answer, candidates, leave; no media"},
			&cli.StringFlag{Name: "shard", Value: "0/1", Usage: "run shard `I/N` of the rooms"},
			&cli.StringFlag{Name: "room-prefix", Usage: "room id `PREFIX` (default: load-<random>-)"},
			&cli.IntFlag{Name: "candidates", Value: load.DefaultCandidates, Usage: "candidates per side (--signal-only)"},
			&cli.StringSliceFlag{Name: "ice-server", Usage: "STUN/TURN `URL` (repeatable), e.g. turn:host:3478?transport=udp"},
			&cli.StringFlag{Name: "ice-user", Usage: "TURN user `NAME`"},
			&cli.StringFlag{Name: "ice-pass", EnvVars: []string{"RTCCTL_ICE_PASS"}, Usage: "TURN `PASSWORD` (prefer the env var: flags show in ps)"},
			&cli.StringFlag{Name: "ice-config", Usage: "ICE servers from a JSON `FILE` in the browser's format ({\"iceServers\":[...]})"},
			&cli.BoolFlag{Name: "ice-from-server", Usage: "GET the ICE servers (fresh TURN credentials) from the signaling server's /config once, before the run (rtcctl serve)"},
			&cli.BoolFlag{Name: "relay-only", Usage: "iceTransportPolicy relay: every call must go through TURN"},
			&cli.StringFlag{Name: "resolution", Value: "640x480", Usage: "video `WxH`"},
			&cli.IntFlag{Name: "fps", Value: media.DefaultFPS, Usage: "video frame rate"},
			&cli.StringFlag{Name: "bitrate", Value: "500k", Usage: "video bitrate (`RATE`: 500k, 1M, 800000 bit/s), as rtcctl call"},
			&cli.StringFlag{Name: "codec", Value: media.CodecVP8, Usage: "video codec sent: vp8 or h264 (x264 constrained baseline; received H264 is checked at the RTP and frame level, not decoded)"},
			&cli.StringFlag{Name: "send", Value: "audio,video", Usage: "what each peer sends: audio,video | audio | video"},
			&cli.StringFlag{Name: "candidate-format", Value: "android", Usage: "candidate JSON sent: android ({label,id,candidate}) or web (RTCIceCandidate); both are accepted"},
			&cli.StringFlag{Name: "decode", Value: "all", Usage: "received video: decode `all` calls' frames (black, frozen, latency checks); sample:N decodes every Nth call and checks the rest at the RTP and frame level (CPU stays bounded as calls grow); none checks RTP and frame assembly only"},
			&cli.Float64Flag{Name: "call-min-fps", Usage: "per call: lowest acceptable received frame rate of each direction (0: not checked); unset, half the --fps, at most 15, as rtcctl call"},
			&cli.Float64Flag{Name: "call-max-loss", Value: 5, Usage: "per call: highest acceptable packet loss of each direction, in percent (0: not checked)"},
			&cli.DurationFlag{Name: "call-max-latency", Value: 500 * time.Millisecond, Usage: "per call: highest acceptable p95 video latency, checked on calls that decode (0: not checked)"},
			&cli.Float64Flag{Name: "min-success", Value: load.DefaultMinSuccessPct, Usage: "lowest acceptable share of rooms that succeed, in `PERCENT`"},
			&cli.DurationFlag{Name: "max-p95-connect", Usage: "highest acceptable p95 time to first frame (signal-only: join -> resp-join)"},
			&cli.StringFlag{Name: "max-loss", Usage: "highest acceptable p95 across calls of packet loss, in `PERCENT`"},
			&cli.Float64Flag{Name: "min-fps", Usage: "lowest acceptable 5th percentile across calls of received fps"},
			&cli.DurationFlag{Name: "max-p95-latency", Usage: "highest acceptable p95 across calls of video latency, capture to decode (needs decoded video: --decode all or sample:N)"},
			&cli.DurationFlag{Name: "max-p99-message", Usage: "highest acceptable p99 signaling relay latency (--signal-only)"},
			&cli.BoolFlag{Name: "json", Usage: "print the versioned JSON report (mergeable) instead of text"},
			&cli.StringFlag{Name: "junit", Usage: "also write a JUnit XML `FILE` (one case per threshold)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "also write the JSON report to `FILE` (input of report merge)"},
			&cli.DurationFlag{Name: "timeout", Usage: "bound the whole run (default: ramp time + duration + per-room deadlines + 30s)"},
			&cli.DurationFlag{Name: "room-timeout", Value: load.DefaultRoomTimeout, Usage: "per-room deadline of the signaling exchange (--signal-only)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("load takes no arguments, got %q", c.Args().First())
			}
			o, err := parseLoadFlags(c)
			if err != nil {
				return err
			}
			o.Verbose = c.Bool("verbose")
			return runF(c.Context, s, o)
		},
	}
}

func parseLoadFlags(c *cli.Context) (*loadOptions, error) {
	o := &loadOptions{Embedded: c.Bool("embedded"), JSON: c.Bool("json"), JUnit: c.String("junit"), Output: c.String("output")}
	cfg := load.Config{
		Server: c.String("server"), CAFile: c.String("ca-file"), Insecure: c.Bool("insecure"),
		Mode: load.ModeMedia, Rooms: c.Int("rooms"), Ramp: c.Float64("ramp"),
		Duration: c.Duration("duration"), RoomPrefix: c.String("room-prefix"),
		Candidates: c.Int("candidates"), Timeout: c.Duration("timeout"), RoomTimeout: c.Duration("room-timeout"),
	}
	if c.Bool("signal-only") {
		cfg.Mode = load.ModeSignal
	}
	switch {
	case o.Embedded && cfg.Server != "":
		return nil, usagef("--server and --embedded exclude each other")
	case !o.Embedded && cfg.Server == "":
		return nil, usagef("need --server URL or --embedded")
	}
	if cfg.Server != "" && !strings.HasPrefix(cfg.Server, "ws://") && !strings.HasPrefix(cfg.Server, "wss://") {
		return nil, usagef("--server %q: want a ws:// or wss:// URL", cfg.Server)
	}
	if cfg.Rooms < 1 {
		return nil, usagef("--rooms must be at least 1")
	}
	if cfg.Ramp < 0 {
		return nil, usagef("--ramp must not be negative")
	}
	if cfg.Ramp == 0 {
		cfg.Ramp = -1 // all at once
	}
	if cfg.Duration < 0 || cfg.Timeout < 0 || cfg.RoomTimeout <= 0 {
		return nil, usagef("--duration and --timeout must not be negative, --room-timeout must be positive")
	}
	if !c.IsSet("duration") && cfg.Mode == load.ModeMedia {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Candidates < 1 || cfg.Candidates > 100 {
		return nil, usagef("--candidates must be 1 to 100")
	}
	sh, err := load.ParseShard(c.String("shard"))
	if err != nil {
		return nil, usagef("--shard: %v", err)
	}
	if sh.Count > cfg.Rooms {
		return nil, usagef("--shard %s: more shards than --rooms %d", sh, cfg.Rooms)
	}
	cfg.Shard = sh

	th := load.Thresholds{
		MinSuccessPct:   c.Float64("min-success"),
		MaxP95ConnectMs: loadMs(c.Duration("max-p95-connect")),
		MinFPS:          c.Float64("min-fps"),
		MaxP95LatencyMs: loadMs(c.Duration("max-p95-latency")),
		MaxP99MessageMs: loadMs(c.Duration("max-p99-message")),
	}
	if th.MinSuccessPct <= 0 || th.MinSuccessPct > 100 {
		return nil, usagef("--min-success must be in (0, 100]")
	}
	if v := c.String("max-loss"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || f < 0 || f > 100 {
			return nil, usagef("--max-loss %q: want a percentage, e.g. 2 or 0.5", v)
		}
		th.MaxLossPct = &f
	}
	if th.MinFPS < 0 || th.MaxP95ConnectMs < 0 || th.MaxP99MessageMs < 0 || th.MaxP95LatencyMs < 0 {
		return nil, usagef("thresholds must not be negative")
	}
	cfg.Thresholds = th

	ice, fileRelayOnly, err := parseICEFlags(c)
	if err != nil {
		return nil, err
	}
	relayOnly := c.Bool("relay-only") || fileRelayOnly
	o.ICEFromServer = c.Bool("ice-from-server")
	if o.ICEFromServer && o.Embedded {
		return nil, usagef("--ice-from-server is implied by --embedded")
	}
	w, h, err := parseResolution(c.String("resolution"))
	if err != nil {
		return nil, err
	}
	kbps, err := parseBitrate(c.String("bitrate"))
	if err != nil {
		return nil, err
	}
	o.Call = peer.CallConfig{
		Server: cfg.Server, CAFile: cfg.CAFile, Insecure: cfg.Insecure,
		ICEServers: ice, RelayOnly: relayOnly,
		VideoProfile: media.VideoProfile{Width: w, Height: h, FPS: c.Int("fps"), BitrateKbps: kbps, Codec: strings.ToLower(c.String("codec"))},
		Duration:     cfg.Duration,
	}
	switch dec := c.String("decode"); {
	case dec == "all":
	case dec == "none":
		o.Call.Analysis = media.AnalyzerConfig{NoDecode: true}
		if th.MaxP95LatencyMs > 0 {
			return nil, usagef("--max-p95-latency needs decoded video: use --decode all or sample:N, not none")
		}
	case strings.HasPrefix(dec, "sample:"):
		n, err := strconv.Atoi(strings.TrimPrefix(dec, "sample:"))
		if err != nil || n < 2 {
			return nil, usagef("--decode %q: want sample:N with N >= 2 (every Nth call decodes)", dec)
		}
		o.DecodeSample = n
	default:
		return nil, usagef("--decode %q: want all, none or sample:N", dec)
	}
	if codec := o.Call.VideoProfile.Codec; codec != media.CodecVP8 && codec != media.CodecH264 {
		return nil, usagef("--codec %q: want vp8 or h264", c.String("codec"))
	}
	if o.Call.VideoProfile.Codec == media.CodecH264 && th.MaxP95LatencyMs > 0 {
		return nil, usagef("--max-p95-latency needs decoded video, and received H264 is not decoded: use --codec vp8")
	}
	o.Call.Thresholds = peer.Thresholds{MinFPS: c.Float64("call-min-fps"), MaxLossPct: c.Float64("call-max-loss"),
		MaxLatency: c.Duration("call-max-latency")}
	if !c.IsSet("call-min-fps") {
		o.Call.Thresholds.MinFPS = min(15, float64(o.Call.VideoProfile.FPS)/2)
	}
	if t := o.Call.Thresholds; t.MinFPS < 0 || t.MaxLossPct < 0 || t.MaxLossPct > 100 || t.MaxLatency < 0 {
		return nil, usagef("--call-min-fps, --call-max-loss (0-100) and --call-max-latency must not be negative")
	}
	send, err := parseSend(c.String("send"))
	if err != nil {
		return nil, usagef("--send: %v", err)
	}
	if !send.Audio && !send.Video {
		return nil, usagef("--send none: a load call needs media to verify; send audio, video or both")
	}
	o.Call.Send = &send
	if o.Call.CandidateFormat, err = signal.ParseCandidateFormat(c.String("candidate-format")); err != nil {
		return nil, usagef("--candidate-format %q: want android or web", c.String("candidate-format"))
	}
	if err := o.Call.VideoProfile.Validate(); err != nil {
		return nil, usagef("video profile: %v", err)
	}
	if cfg.Mode == load.ModeSignal && (len(ice) > 0 || relayOnly || o.ICEFromServer) {
		return nil, usagef("--signal-only makes no calls: ICE flags do not apply")
	}
	if relayOnly && len(ice) == 0 && !o.Embedded && !o.ICEFromServer {
		return nil, usagef("--relay-only needs a TURN server: --ice-server turn:HOST:3478 with --ice-user/--ice-pass, --ice-config, --ice-from-server (rtcctl serve), or --embedded")
	}
	o.Config = cfg
	return o, nil
}

// loadICEServers builds the ICE server list; TURN URLs get the user and password.
func loadMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runLoad starts the embedded server if asked, runs the load and renders the report.
func runLoad(ctx context.Context, s *report.Streams, o *loadOptions) error {
	cfg := o.Config
	if o.Embedded {
		srv, err := serve.Start(ctx, serve.Config{
			Addr: "127.0.0.1:0", TURN: cfg.Mode == load.ModeMedia,
			TURNConfig: turnserver.Config{ListenIP: "127.0.0.1"},
			// A load test's own server must not cap or rate-limit the load it is given.
			Signal: signal.ServerConfig{MaxConns: -1, RatePerSec: -1},
		})
		if err != nil {
			return cannotRun(fmt.Errorf("embedded server: %w", err), "is another rtcctl using the port?")
		}
		defer func() { _ = srv.Close() }()
		cfg.Server = srv.SignalURL()
		o.Call.Server = cfg.Server
		if len(o.Call.ICEServers) == 0 {
			o.Call.ICEServers = srv.ICEServers()
		}
		if cfg.Mode == load.ModeMedia {
			s.Progressf("embedded server at %s (signaling, TURN and the calls share this process: its CPU counts all three)", cfg.Server)
		} else {
			s.Progressf("embedded server at %s (the server and the clients share this process: its CPU counts both)", cfg.Server)
		}
	}
	if o.ICEFromServer {
		ic, err := peer.FetchICEConfig(ctx, cfg.Server, cfg.CAFile, cfg.Insecure)
		if err != nil {
			return cannotRun(err, "--ice-from-server needs an rtcctl serve instance (GET /config); use --ice-server or --ice-config otherwise")
		}
		o.Call.ICEServers = append(o.Call.ICEServers, ic.Servers...)
		o.Call.RelayOnly = o.Call.RelayOnly || ic.RelayOnly
	}
	if cfg.Mode == load.ModeMedia {
		cfg.Runner = load.PeerRunner(load.PeerConfig{Call: o.Call, DecodeSample: o.DecodeSample})
	}
	if o.Verbose {
		cfg.Logf = func(f string, a ...any) { s.Progressf(f, a...) }
	}
	if !s.Quiet && s.Err != nil {
		interval := 5 * time.Second
		if s.ErrTTY {
			interval = time.Second
		}
		cfg.ProgressInterval = interval
		cfg.Progress = func(p load.Progress) { drawLoadProgress(s, cfg.Mode, p) }
	}
	rep, err := load.Run(ctx, cfg)
	if s.ErrTTY && !s.Quiet {
		fmt.Fprintln(s.Err)
	}
	if err != nil {
		if errors.Is(err, load.ErrConfig) {
			return usagef("%v", err)
		}
		return cannotRun(err, "")
	}
	unreachable := rep.Calls.Started > 0 &&
		((rep.Signal != nil && rep.Signal.Conns == 0 && rep.Signal.DialFailures == rep.Calls.Started) ||
			(rep.Media != nil && rep.Media.Unreachable == rep.Calls.Started))
	if unreachable {
		// Not one websocket opened: the server is unreachable, not overloaded.
		if o.JSON {
			_ = report.WriteJSON(s.Out, rep)
		}
		ex := ""
		if len(rep.Failures) > 0 {
			ex = rep.Failures[0].Example
		}
		return cannotRun(fmt.Errorf("no websocket could be opened to %s: %s", cfg.Server, ex), unreachableHint(cfg.Server, ex))
	}
	if err := writeLoadJSONFile(o.Output, rep); err != nil {
		return err
	}
	return finishLoadReport(s, rep, o.JSON, o.JUnit)
}

// writeLoadJSONFile writes rep as JSON to path (nothing when path is empty).
func writeLoadJSONFile(path string, rep *load.Report) error {
	if path == "" {
		return nil
	}
	fh, err := os.Create(path)
	if err != nil {
		return cannotRun(fmt.Errorf("write %s: %w", path, err), "")
	}
	werr := report.WriteJSON(fh, rep)
	cerr := fh.Close()
	if werr != nil || cerr != nil {
		return cannotRun(fmt.Errorf("write %s: %w", path, errors.Join(werr, cerr)), "")
	}
	return nil
}

// finishLoadReport renders rep (text or JSON), writes the JUnit file and maps the outcome
// to an exit code. `rtcctl report merge` shares it.
func finishLoadReport(s *report.Streams, rep *load.Report, asJSON bool, junit string) error {
	if asJSON {
		if err := report.WriteJSON(s.Out, rep); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderLoad(s.Out, s.ColorOut, rep)
	}
	if junit != "" {
		if err := report.WriteJUnit(junit, "rtcctl load", time.Duration(rep.ElapsedMs*float64(time.Millisecond)), loadJUnitCases(rep)); err != nil {
			return cannotRun(err, "can the --junit file be written?")
		}
	}
	for _, w := range rep.Tester.Warnings {
		fmt.Fprintln(s.Err, report.Paint(s.ColorErr, "warning: ", report.Warn...)+w)
	}
	if rep.Interrupted {
		return checkFailed{summary: "load: interrupted; the report covers the part that ran"}
	}
	if !rep.Pass {
		return checkFailed{summary: fmt.Sprintf("load: %s failed", strings.Join(rep.FailedChecks(), ", "))}
	}
	return nil
}

func loadJUnitCases(rep *load.Report) []report.JUnitCase {
	var out []report.JUnitCase
	var failures []string
	for _, g := range rep.Failures {
		failures = append(failures, fmt.Sprintf("%d rooms: %s (%s)", g.Count, g.Verdict, g.Example))
	}
	for _, c := range rep.Checks {
		jc := report.JUnitCase{Name: c.Name, ClassName: "load." + string(rep.Mode), Detail: c.Detail}
		if c.Name == "success" && len(failures) > 0 {
			jc.Detail += "\n" + strings.Join(failures, "\n")
		}
		if !c.Pass {
			jc.Failure = c.Detail
		}
		out = append(out, jc)
	}
	return out
}

// drawLoadProgress writes one status line: redrawn in place on a terminal, one line per
// interval otherwise.
func drawLoadProgress(s *report.Streams, mode load.Mode, p load.Progress) {
	line := fmt.Sprintf("[%5.0fs] rooms %d/%d started, %d running", p.Elapsed.Seconds(), p.Started, p.Planned, p.Active)
	if mode == load.ModeMedia {
		line += fmt.Sprintf(" (%d connected, %d connecting)", p.Connected, p.Active-p.Connected)
	}
	line += fmt.Sprintf(", %d ok, %d failed", p.Succeeded, p.Failed)
	if mode == load.ModeMedia {
		line += fmt.Sprintf(" | rx %.1f Mbit/s, loss %.2f%%", p.RxKbps/1000, p.LossPct)
	} else {
		line += fmt.Sprintf(" | %d messages relayed", p.MessagesRelayed)
	}
	if s.ErrTTY {
		fmt.Fprintf(s.Err, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(s.Err, line)
}

// renderLoad writes the human report.
func renderLoad(w io.Writer, color bool, r *load.Report) {
	shards := make([]string, 0, len(r.Shards))
	for _, sh := range r.Shards {
		shards = append(shards, sh.String())
	}
	rooms := fmt.Sprintf("%d rooms", r.Calls.Planned)
	if len(r.Shards) > 1 || (len(r.Shards) == 1 && r.Shards[0].Count > 1) || r.Calls.Planned != r.RoomsTotal {
		rooms = fmt.Sprintf("%d of %d rooms (shards %s)", r.Calls.Planned, r.RoomsTotal, strings.Join(shards, ","))
	}
	fmt.Fprintf(w, "%s %s: %s, %.1fs, server %s\n",
		report.Paint(color, "rtcctl load", report.Head...), r.Mode, rooms, r.ElapsedMs/1000, r.Server)
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %s  %-12s %s\n", report.Mark(color, c.Pass), c.Name, c.Detail)
	}
	fmt.Fprintln(w)
	row := func(name string, d *stats.Dist, unit string) {
		s := d.Summary()
		if s.Count == 0 {
			fmt.Fprintf(w, "  %-22s %8s\n", name, "-")
			return
		}
		fmt.Fprintf(w, "  %-22s %8d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f  %s\n", name, s.Count, s.P5, s.P50, s.P95, s.P99, s.Max, s.Mean, unit)
	}
	header := func(title string) {
		fmt.Fprintf(w, "%s\n", report.Paint(color, fmt.Sprintf("  %-22s %8s %9s %9s %9s %9s %9s %9s", title, "count", "p5", "p50", "p95", "p99", "max", "mean"), report.Head...))
	}
	if sg := r.Signal; sg != nil {
		header("signaling")
		row("join -> resp-join", sg.JoinMs, "ms")
		row("relay (all messages)", sg.RelayMs, "ms")
		row("  offer", sg.OfferMs, "ms")
		row("  answer", sg.AnswerMs, "ms")
		row("  candidate", sg.CandidateMs, "ms")
		row("leave -> peer-leave", sg.LeaveMs, "ms")
		fmt.Fprintf(w, "\n  messages: %d sent, %d relayed (%d missing), %.0f msgs/s; %d websockets (%d open at once), %d dial failures, %.1f MB sent\n",
			sg.MessagesSent, sg.MessagesRelayed, sg.MessagesSent-sg.MessagesRelayed, sg.MessagesPerSec,
			sg.Conns, sg.PeakConns, sg.DialFailures, float64(sg.BytesSent)/1e6)
	}
	if m := r.Media; m != nil {
		header("connect (from start)")
		row("peer known", m.ConnectMs[load.StagePeer], "ms")
		row("ICE connected", m.ConnectMs[load.StageICE], "ms")
		row("first frame", m.ConnectMs[load.StageMedia], "ms")
		header("per direction")
		row("fps", m.FPS, "")
		row("bitrate", m.BitrateKbps, "kbit/s")
		row("loss", m.LossPct, "%")
		row("latency", m.LatencyMs, "ms")
		fmt.Fprintf(w, "\n  pairs: %d relay, %d direct (%.0f%% relay); %d calls running and %d connected at once at most; received bitrates sum to %.1f Mbit/s\n",
			m.Relay, m.Direct, m.RelaySharePct, r.Calls.PeakRunning, m.PeakConnected, m.RxKbpsTotal/1000)
		fmt.Fprintf(w, "  picture checks (decoded video: black, frozen, latency): %d of %d calls; the rest at the RTP and frame level\n",
			m.Decoded, r.Calls.Started)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "\n%s\n", report.Paint(color, "  failures by verdict", report.Head...))
		for _, g := range r.Failures {
			fmt.Fprintf(w, "  %6d  %-20s %s\n", g.Count, g.Verdict, g.Example)
			if len(g.Rooms) > 0 {
				fmt.Fprintf(w, "          rooms: %s\n", strings.Join(g.Rooms, ", "))
			}
			if strings.Contains(g.Example, "too many open files") {
				fmt.Fprintf(w, "          fix: the tester ran out of file descriptors: raise the limit (ulimit -n; LimitNOFILE= for a service), or split the rooms over shards (--shard); with --embedded the server's sockets count against the same limit\n")
			}
		}
	}
	t := r.Tester
	fmt.Fprintf(w, "\n  tester: %.1f CPU-s, %.0f%% of %d cores, peak RSS %.0f MB, ticker lag p95 %.1f ms, start lag p95 %.0f ms, load average %.1f\n",
		t.CPUSeconds, t.CPUPct, t.Cores, t.MaxRSSMB, t.TickLagMs.Quantile(0.95), t.StartLagMs.Quantile(0.95), t.LoadAvg1)
	if t.Saturated {
		fmt.Fprintf(w, "  %s the tester was saturated; see the warnings\n", report.Paint(color, "WARNING", report.Warn...))
	}
	fmt.Fprintf(w, "\n  %s\n", report.Mark(color, r.Pass))
}

// unreachableHint picks the fix to suggest for a server no websocket could be opened to,
// from the first failure's text.
func unreachableHint(server, example string) string {
	switch {
	case strings.Contains(example, "x509:") || strings.Contains(example, "certificate"):
		return "a self-signed or private CA certificate? pass --ca-file FILE (or --insecure for a test server)"
	case strings.HasPrefix(server, "ws://") && strings.Contains(example, "HTTP 400"):
		return "is it a TLS port? use wss:// (a plain request to an https server gets 400)"
	case strings.HasPrefix(server, "wss://") && (strings.Contains(example, "first record does not look like a TLS handshake") ||
		strings.Contains(example, "tls:")):
		return "is it a plain port? use ws://"
	}
	return "is the server up and the URL right?"
}
