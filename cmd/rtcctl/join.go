package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/peer"
	"github.com/rtcctl/rtcctl/internal/report"
	"github.com/rtcctl/rtcctl/internal/signal"
)

// joinOptions are the parsed flags of `rtcctl join`.
type joinOptions struct {
	Config peer.Config
	Media  mediaOptions
}

const joinDescription = `Joins a room as a headless peer that behaves like the course's browser client: the
first member of a room waits (the original server says nothing to a first joiner), the
member that gets "new-peer" sends the offer, the one that gets "resp-join" answers. It
sends synthetic video (moving pattern with a frame stamp) and a tone, analyses what the
other side sends, and prints a report: timeline, candidates, the selected pair, per-track
statistics and a verdict that names the failed stage with its likely causes and the fix.

It runs until --duration passes, Ctrl-C, or (with --once) the first call ends. Without a
peer within --peer-timeout the verdict is "no-peer" (room empty, room full on the original
server, or a room id type mismatch: browsers send "100" as a string; --room-number sends
a JSON number).

Exit codes: 0 media flowed (and every --min-fps/--max-loss/--max-latency/--require-relay
check passed), 1 the verdict or a check failed, 2 usage error, 3 could not run (server
unreachable, TLS, bad media source).

Examples:
   # meet a browser in room 100 of the course deployment, relay-only through its coturn
   RTCCTL_ICE_PASS=secret rtcctl join --server wss://HOST:8098/ws --room 100 \
       --ice-server turn:HOST:3478 --ice-user demo --relay-only

   # against rtcctl serve, ICE servers from its /config, stop after one call
   rtcctl join --server ws://127.0.0.1:8099/ws --room 100 --ice-from-server --once --json`

// joinCommand builds `rtcctl join`.
func joinCommand(s *report.Streams) *cli.Command { return newJoinCommand(s, runJoin) }

// newJoinCommand builds the command with an injectable run function.
func newJoinCommand(s *report.Streams, runF func(context.Context, *report.Streams, *joinOptions) error) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "server", Value: defaultServer, EnvVars: []string{"RTCCTL_SERVER"}, Usage: "signaling websocket `URL` (ws:// or wss://)"},
		&cli.StringFlag{Name: "room", Usage: "room `ID` (required)"},
		&cli.BoolFlag{Name: "room-number", Usage: "send the room id as a JSON number (default: a string, as browsers do)"},
		&cli.StringFlag{Name: "uid", Usage: "this peer's `UID` (default: rtcctl-<random>)"},
		&cli.DurationFlag{Name: "duration", Usage: "leave after this long (default: until Ctrl-C or --once)"},
		&cli.BoolFlag{Name: "once", Usage: "leave after the first call ends"},
		&cli.Float64Flag{Name: "min-fps", Usage: "check: lowest acceptable received frame rate (default: not checked)"},
		&cli.Float64Flag{Name: "max-loss", Usage: "check: highest acceptable packet loss in percent (default: not checked)"},
		&cli.DurationFlag{Name: "max-latency", Usage: "check: highest acceptable p95 video latency, same-host clocks only (default: not checked)"},
		&cli.BoolFlag{Name: "require-relay", Usage: "check: the selected pair must be relay/relay"},
		&cli.StringFlag{Name: "expect", Value: "audio,video", Usage: "what the other peer should send: audio,video | audio | video | none (a missing kind fails the verdict)"},
		&cli.DurationFlag{Name: "peer-timeout", Value: peer.DefaultPeerTimeout, Usage: "give up when no peer arrives within this long"},
	}
	flags = append(flags, mediaFlags()...)
	return &cli.Command{
		Name:        "join",
		Usage:       "join a room as a headless peer, exchange media and diagnose the call",
		UsageText:   "rtcctl join --room ID [--server URL] [flags]",
		Description: joinDescription,
		Flags:       flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("join takes no arguments, got %q", c.Args().First())
			}
			o, err := parseJoinFlags(c)
			if err != nil {
				return err
			}
			return runF(c.Context, s, o)
		},
	}
}

func parseJoinFlags(c *cli.Context) (*joinOptions, error) {
	room := c.String("room")
	if room == "" {
		return nil, usagef("--room is required")
	}
	rid, err := signal.ParseID(room, c.Bool("room-number"))
	if err != nil {
		return nil, usagef("--room %q: --room-number needs an integer", room)
	}
	mo, err := parseMediaFlags(c)
	if err != nil {
		return nil, err
	}
	if c.Duration("duration") < 0 || c.Duration("peer-timeout") <= 0 {
		return nil, usagef("--duration must not be negative and --peer-timeout must be positive")
	}
	expect, err := parseSend(c.String("expect"))
	if err != nil {
		return nil, usagef("--expect %q: want audio,video | audio | video | none", c.String("expect"))
	}
	th := peer.Thresholds{MinFPS: c.Float64("min-fps"), MaxLossPct: c.Float64("max-loss"),
		MaxLatency: c.Duration("max-latency"), RequireRelay: c.Bool("require-relay")}
	if th.MinFPS < 0 || th.MaxLossPct < 0 || th.MaxLatency < 0 {
		return nil, usagef("--min-fps, --max-loss and --max-latency must not be negative")
	}
	cfg := peer.Config{
		Thresholds: th,
		Server:     c.String("server"), CAFile: mo.CAFile, Insecure: mo.Insecure, Keepalive: mo.Keepalive,
		Room: rid, ICEServers: mo.ICEServers, RelayOnly: mo.RelayOnly, CandidateFormat: mo.CandidateFormat,
		Send: mo.Send, Receive: &expect,
		VideoProfile: mo.Video, AudioProfile: mo.Audio,
		Once: c.Bool("once"), Duration: c.Duration("duration"), PeerTimeout: c.Duration("peer-timeout"),
		KeepFrame: mo.Snapshot != "", RecordDir: mo.RecordDir, Verbose: c.Bool("verbose"),
	}
	if u := c.String("uid"); u != "" {
		cfg.UID = signal.StringID(u)
	}
	if !isWSURL(cfg.Server) {
		return nil, usagef("--server %q: want ws://HOST:PORT/PATH or wss://...", cfg.Server)
	}
	return &joinOptions{Config: cfg, Media: mo}, nil
}

// runJoin runs the session and renders its report.
func runJoin(ctx context.Context, s *report.Streams, o *joinOptions) error {
	if err := o.Media.resolveICE(ctx, o.Config.Server); err != nil {
		return err
	}
	o.Config.ICEServers = o.Media.ICEServers
	if err := ensureRecordDir(o.Config.RecordDir); err != nil {
		return err
	}
	status := newStatusLine(s)
	o.Config.OnStatus = func(st peer.Status) { status.update("", st) }
	o.Config.Logf = func(f string, a ...any) {
		if o.Config.Verbose {
			status.done()
			s.Progressf(f, a...)
		}
	}
	if !o.Media.JSON {
		s.Progressf("joining room %s at %s (Ctrl-C to leave)", o.Config.Room, o.Config.Server)
	}
	res, err := peer.Run(ctx, o.Config)
	status.done()
	if err != nil {
		hint := "check --server; `rtcctl probe-signal --server URL` shows which step fails"
		if errors.Is(err, peer.ErrMedia) {
			hint = "the synthetic media source failed; check --resolution/--fps/--bitrate"
		} else if errors.Is(err, peer.ErrConfig) {
			return usagef("%v", err)
		}
		return cannotRun(err, hint)
	}
	res.Version = report.SchemaVersion
	if o.Media.JSON {
		if err := report.WriteJSON(s.Out, res); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderJoinText(s.Out, s.ColorOut, res)
	}
	if o.Media.Snapshot != "" && len(res.Calls) > 0 {
		ok, err := writeSnapshot(o.Media.Snapshot, res.Calls[len(res.Calls)-1])
		switch {
		case err != nil:
			fmt.Fprintf(s.Err, "rtcctl: snapshot: %v\n", err)
		case !ok:
			s.Progressf("snapshot: no video frame was decoded")
		default:
			s.Progressf("snapshot written to %s", o.Media.Snapshot)
		}
	}
	failed := []string{}
	for _, ck := range res.Checks {
		if !ck.Passed {
			failed = append(failed, ck.Name)
		}
	}
	if !res.Verdict.OK {
		if errors.Is(ctx.Err(), context.Canceled) && res.Verdict.Code == "no-peer" {
			return checkFailed{summary: "left before a peer joined"}
		}
		return checkFailed{summary: fmt.Sprintf("verdict %s: %s", res.Verdict.Code, res.Verdict.Finding)}
	}
	if len(failed) > 0 {
		return checkFailed{summary: "checks failed: " + strings.Join(failed, ", ")}
	}
	return nil
}
