package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/media"
	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// defaultMinFPS is --min-fps unset at the default 30 fps.
const defaultMinFPS = 15

// callOptions are the parsed flags of `rtcctl call`.
type callOptions struct {
	Config peer.CallConfig
	Media  mediaOptions
	JUnit  string
}

const callDescription = `Runs a complete call inside this process, as a CI smoke test: two headless peers join
the same room through the signaling server (or an embedded rtcctl serve with TURN on
loopback), negotiate exactly like the course clients, send synthetic video and audio both
ways, and check what arrives against the thresholds. The report has, per direction, the
selected candidate pair, frame rate, loss, latency (from the frame stamps), the timeline
and a verdict with the fix when something failed.

Exit codes:
   0  every check passed
   1  the call ran and a check failed (the report and --junit say which)
   2  usage error
   3  could not run: signaling server unreachable, embedded server failed, bad media source

Examples:
   # everything local: embedded signaling + TURN, relay-only, verified both ways
   rtcctl call --embedded --relay-only --require-relay

   # smoke-test a deployment from CI, relay through its coturn, JUnit for the CI system
   RTCCTL_ICE_PASS=secret rtcctl call --server wss://HOST:8098/ws \
       --ice-server turn:HOST:3478 --ice-user demo --relay-only --require-relay \
       --junit call.xml --json > call.json

   # against rtcctl serve with its own ICE servers
   rtcctl call --server ws://127.0.0.1:8099/ws --ice-from-server --min-fps 20

   # H264 both ways (x264): checked at RTP level (frames, keyframes, fps, loss); this
   # build has no H264 decoder, so black/frozen/latency are not checked and the report
   # says so
   rtcctl call --embedded --codec h264`

// callCommand builds `rtcctl call`.
func callCommand(s *report.Streams) *cli.Command { return newCallCommand(s, runCall) }

// newCallCommand builds the command with an injectable run function.
func newCallCommand(s *report.Streams, runF func(context.Context, *report.Streams, *callOptions) error) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "server", EnvVars: []string{"RTCCTL_SERVER"}, Usage: "signaling websocket `URL` (ws:// or wss://)"},
		&cli.BoolFlag{Name: "embedded", Usage: "start rtcctl serve (signaling + TURN) in process on loopback and call through it"},
		&cli.StringFlag{Name: "room", Usage: "room `ID` (default: a fresh random room)"},
		&cli.BoolFlag{Name: "room-number", Usage: "send the room id as a JSON number"},
		&cli.Float64Flag{Name: "min-fps", Value: defaultMinFPS, Usage: "lowest acceptable received frame rate (0: not checked); unset, half the --fps when that is below 30"},
		&cli.Float64Flag{Name: "max-loss", Value: 5, Usage: "highest acceptable packet loss in percent (0: not checked)"},
		&cli.DurationFlag{Name: "max-latency", Value: 500 * time.Millisecond, Usage: "highest acceptable p95 video latency (0: not checked; not checked with --codec h264, which is not decoded)"},
		&cli.BoolFlag{Name: "require-relay", Usage: "fail unless the selected pair is relay/relay"},
		&cli.DurationFlag{Name: "timeout", Value: peer.DefaultCallTimeout, Usage: "bound for the whole call"},
		&cli.DurationFlag{Name: "duration", Value: peer.DefaultCallDuration, Usage: "how long media is measured once it flows both ways"},
		&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML `FILE` with one case per check"},
	}
	flags = append(flags, mediaFlags()...)
	return &cli.Command{
		Name:        "call",
		Usage:       "run a verified two-peer call through a signaling server (CI smoke test)",
		UsageText:   "rtcctl call (--server URL | --embedded) [flags]",
		Description: callDescription,
		Flags:       flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("call takes no arguments, got %q", c.Args().First())
			}
			o, err := parseCallFlags(c)
			if err != nil {
				return err
			}
			return runF(c.Context, s, o)
		},
	}
}

func parseCallFlags(c *cli.Context) (*callOptions, error) {
	mo, err := parseMediaFlags(c)
	if err != nil {
		return nil, err
	}
	cc := peer.CallConfig{
		Server: c.String("server"), Embedded: c.Bool("embedded"),
		CAFile: mo.CAFile, Insecure: mo.Insecure, Keepalive: mo.Keepalive,
		ICEServers: mo.ICEServers, RelayOnly: mo.RelayOnly, CandidateFormat: mo.CandidateFormat,
		VideoProfile: mo.Video, AudioProfile: mo.Audio,
		Thresholds: peer.Thresholds{
			MinFPS: c.Float64("min-fps"), MaxLossPct: c.Float64("max-loss"),
			MaxLatency: c.Duration("max-latency"), RequireRelay: c.Bool("require-relay"),
		},
		Timeout: c.Duration("timeout"), Duration: c.Duration("duration"),
		KeepFrame: mo.Snapshot != "", RecordDir: mo.RecordDir, Verbose: c.Bool("verbose"),
	}
	if !c.IsSet("min-fps") {
		// The default is half the default frame rate: a lower --fps lowers it too, or
		// `--fps 15` would fail on the default against its own send rate (14.9 < 15).
		cc.Thresholds.MinFPS = min(defaultMinFPS, float64(mo.Video.FPS)/2)
	}
	if mo.Video.Codec == media.CodecH264 {
		// Both sides send H264, which this build cannot decode: no latency, no picture.
		if c.IsSet("max-latency") && cc.Thresholds.MaxLatency > 0 {
			return nil, usagef("--max-latency needs decoded video; --codec h264 is analysed at RTP level only (no H264 decoder in this build)")
		}
		cc.Thresholds.MaxLatency = 0
		if mo.Snapshot != "" {
			return nil, usagef("--snapshot needs decoded video; --codec h264 is not decoded (no H264 decoder in this build)")
		}
	}
	send := mo.Send
	cc.Send = &send
	switch {
	case cc.Embedded && cc.Server != "":
		return nil, usagef("--server and --embedded exclude each other")
	case !cc.Embedded && cc.Server == "":
		return nil, usagef("give --server URL (or RTCCTL_SERVER) or --embedded")
	case !cc.Embedded:
		if !isWSURL(cc.Server) {
			return nil, usagef("--server %q: want ws://HOST:PORT/PATH or wss://...", cc.Server)
		}
	}
	if cc.Embedded && mo.ICEFromServer {
		return nil, usagef("--ice-from-server is implied by --embedded")
	}
	if th := cc.Thresholds; th.MinFPS < 0 || th.MaxLossPct < 0 || th.MaxLatency < 0 {
		return nil, usagef("--min-fps, --max-loss and --max-latency must not be negative")
	}
	if cc.Timeout <= 0 || cc.Duration <= 0 {
		return nil, usagef("--timeout and --duration must be positive")
	}
	if cc.Duration >= cc.Timeout {
		return nil, usagef("--duration %v must be shorter than --timeout %v", cc.Duration, cc.Timeout)
	}
	if room := c.String("room"); room != "" {
		rid, err := signal.ParseID(room, c.Bool("room-number"))
		if err != nil {
			return nil, usagef("--room %q: --room-number needs an integer", room)
		}
		cc.Room = rid
	}
	return &callOptions{Config: cc, Media: mo, JUnit: c.String("junit")}, nil
}

// runCall runs the call and renders its report.
func runCall(ctx context.Context, s *report.Streams, o *callOptions) error {
	if !o.Config.Embedded {
		if err := o.Media.resolveICE(ctx, o.Config.Server); err != nil {
			return err
		}
		o.Config.ICEServers = o.Media.ICEServers
	}
	if err := ensureRecordDir(o.Config.RecordDir); err != nil {
		return err
	}
	status := newStatusLine(s)
	o.Config.OnStatus = status.update
	o.Config.Logf = func(f string, a ...any) {
		if o.Config.Verbose {
			status.done()
			s.Progressf(f, a...)
		}
	}
	if !o.Media.JSON {
		where := o.Config.Server
		if o.Config.Embedded {
			where = "an embedded server"
		}
		s.Progressf("calling through %s", where)
	}
	rep, err := peer.RunCall(ctx, o.Config)
	status.done()
	if err != nil {
		hint := "check --server; `rtcctl probe-signal --server URL` shows which step fails"
		switch {
		case errors.Is(err, peer.ErrEmbedded):
			hint = "the embedded server could not start (ports, TURN)"
		case errors.Is(err, peer.ErrMedia):
			hint = "the synthetic media source failed; check --resolution/--fps/--bitrate"
		case errors.Is(err, peer.ErrConfig):
			return usagef("%v", err)
		}
		return cannotRun(err, hint)
	}
	rep.Version = report.SchemaVersion
	for _, p := range rep.Peers {
		p.Version = report.SchemaVersion
	}
	if o.Media.JSON {
		if err := report.WriteJSON(s.Out, rep); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderCallText(s.Out, s.ColorOut, rep)
	}
	if o.JUnit != "" {
		total := time.Duration(rep.DurationMs * float64(time.Millisecond))
		if err := report.WriteJUnit(o.JUnit, "rtcctl call", total, callJUnitCases(rep)); err != nil {
			return cannotRun(err, "check the --junit path")
		}
	}
	if o.Media.Snapshot != "" {
		writeCallSnapshots(s, o.Media.Snapshot, rep)
	}
	if !rep.Passed {
		failed := []string{}
		for _, d := range rep.Directions {
			for _, c := range d.Checks {
				if !c.Passed {
					failed = append(failed, c.Name)
				}
			}
		}
		return checkFailed{summary: fmt.Sprintf("call failed: %s", strings.Join(failed, ", "))}
	}
	return nil
}

// writeCallSnapshots writes the frame each side received: FILE-a.png (b->a) and FILE-b.png
// (a->b).
func writeCallSnapshots(s *report.Streams, path string, rep *peer.CallReport) {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	if ext == "" {
		ext = ".png"
	}
	for i, side := range []string{"a", "b"} {
		if i >= len(rep.Peers) || len(rep.Peers[i].Calls) == 0 {
			continue
		}
		p := base + "-" + side + ext
		ok, err := writeSnapshot(p, rep.Peers[i].Calls[len(rep.Peers[i].Calls)-1])
		switch {
		case err != nil:
			fmt.Fprintf(s.Err, "rtcctl: snapshot: %v\n", err)
		case ok:
			s.Progressf("snapshot of what %s received: %s", side, p)
		}
	}
}
