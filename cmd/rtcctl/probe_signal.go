package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
)

// probeSignalOptions are the parsed flags of `rtcctl probe-signal`.
type probeSignalOptions struct {
	Probe probe.SignalOptions
	JSON  bool
}

const probeSignalDescription = `Checks a room-signaling websocket stage by stage, and says what failed and how to fix it:

   dns        the host name resolves
   connect    TCP connects (refused vs timed out)
   tls        wss:// only: version, certificate subject/SANs/issuer/expiry; self-signed,
              expired and hostname mismatch explained
   upgrade    the HTTP upgrade: 404 = wrong path (the course nginx proxies /ws), 400/426
              from a proxy = Upgrade/Connection headers not forwarded, 200 = a web page,
              not a websocket, 403 = Origin refused, 502 = the upstream server is down
   join       two sockets join a fresh random room: the second must get resp-join and the
              first new-peer (round trip measured)
   idle       with --idle: one socket stays silent that long; reports when a proxy cuts
              it (nginx proxy_read_timeout, default 60s). With --keepalive it pings every
              5s like the course's later clients, which must keep it alive.

A ws:// URL gets a mixed-content warning: pages served over https cannot open it. With a
self-signed certificate the remaining stages still run (the TLS row fails); trust it with
--ca-file or accept it with --insecure.

Examples:
   # the course deployment behind nginx
   rtcctl probe-signal wss://call.example.com:8098/ws

   # does nginx cut idle calls? (70s > the default proxy_read_timeout of 60s)
   rtcctl probe-signal wss://call.example.com:8098/ws --idle 70s
   rtcctl probe-signal wss://call.example.com:8098/ws --idle 70s --keepalive

   # rtcctl serve --tls-self-signed on this machine
   rtcctl probe-signal wss://127.0.0.1:8099/ws --insecure --json`

// probeSignalCommand builds `rtcctl probe-signal`.
func probeSignalCommand(s *report.Streams) *cli.Command {
	return newProbeSignalCommand(s, runProbeSignal)
}

func newProbeSignalCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeSignalOptions) error) *cli.Command {
	return buildProbeSignalCommand(s, runF, true)
}

// buildProbeSignalCommand builds the command; interspersed allows flags after the arguments.
func buildProbeSignalCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeSignalOptions) error, interspersed bool) *cli.Command {
	return &cli.Command{
		Name:        "probe-signal",
		Usage:       "probe a signaling websocket: TLS, upgrade, join round trip, idle survival",
		UsageText:   "rtcctl probe-signal URL [--insecure] [--ca-file FILE] [--idle 70s] [--keepalive] [--json]",
		Description: probeSignalDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` with CA certificates to trust for wss://"},
			&cli.BoolFlag{Name: "insecure", Usage: "accept any certificate (still reported)"},
			&cli.StringFlag{Name: "room", Usage: "room `ID` to join (default: a random rtcctl-probe-... room)"},
			&cli.DurationFlag{Name: "idle", Usage: "keep one socket idle this long to see whether a proxy cuts it (0: skip)"},
			&cli.BoolFlag{Name: "keepalive", Usage: "send a WebSocket ping every --keepalive-interval during --idle"},
			&cli.DurationFlag{Name: "keepalive-interval", Value: probe.DefaultKeepaliveInterval, Usage: "ping interval of --keepalive"},
			&cli.StringFlag{Name: "page", Usage: "`URL` of the page that opens the websocket (mixed-content check)"},
			&cli.StringFlag{Name: "origin", Usage: "Origin header to send (default: the --page origin, as a browser on it sends, else the websocket's own origin)"},
			&cli.BoolFlag{Name: "json", Usage: "print only a JSON report on stdout"},
			&cli.DurationFlag{Name: "timeout", Value: probe.SignalReportTimeout, Usage: "bound on the probe, not counting --idle"},
		},
		Action: func(c *cli.Context) error {
			if interspersed {
				if ok, err := probeRerunWithFlagsFirst(c, s, buildProbeSignalCommand(s, runF, false)); ok {
					return err
				}
			}
			o, err := parseProbeSignalFlags(c)
			if err != nil {
				return err
			}
			o.Probe.Logf = probeLogf(c, s)
			return runF(c.Context, s, o)
		},
	}
}

func parseProbeSignalFlags(c *cli.Context) (*probeSignalOptions, error) {
	if c.NArg() != 1 {
		return nil, usagef("probe-signal takes exactly one ws:// or wss:// URL (got %d arguments)", c.NArg())
	}
	raw := c.Args().First()
	if _, err := probe.ParseSignalURL(raw); err != nil {
		return nil, usagef("%v", err)
	}
	o := &probeSignalOptions{JSON: c.Bool("json")}
	p := &o.Probe
	p.URL, p.Room, p.PageURL, p.Origin = raw, c.String("room"), c.String("page"), c.String("origin")
	p.Idle, p.Keepalive, p.KeepaliveInterval = c.Duration("idle"), c.Bool("keepalive"), c.Duration("keepalive-interval")
	if p.Idle < 0 || p.Idle > 24*time.Hour {
		return nil, usagef("--idle must be between 0 and 24h")
	}
	if p.KeepaliveInterval <= 0 {
		return nil, usagef("--keepalive-interval must be positive")
	}
	if p.Keepalive && p.Idle == 0 {
		return nil, usagef("--keepalive only matters with --idle (e.g. --idle 70s --keepalive)")
	}
	p.Timeout = c.Duration("timeout")
	if p.Timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	tlsOpts, err := probeTLSFlags(c)
	if err != nil {
		return nil, err
	}
	p.TLS = tlsOpts
	return o, nil
}

// probeSignalJSON is the JSON document of probe-signal.
type probeSignalJSON struct {
	Version int    `json:"version"`
	Command string `json:"command"`
	*probe.SignalReport
}

func runProbeSignal(ctx context.Context, s *report.Streams, o *probeSignalOptions) error {
	if !o.JSON {
		s.Progressf("probing %s...", o.Probe.URL)
		if o.Probe.Idle > 0 {
			s.Progressf("the idle test keeps a socket open for %s", o.Probe.Idle)
		}
	}
	rep := probe.Signal(ctx, o.Probe)
	if o.JSON {
		if err := report.WriteJSON(s.Out, probeSignalJSON{Version: report.SchemaVersion, Command: "probe-signal", SignalReport: rep}); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderProbeSignal(s.Out, s.ColorOut, rep)
	}
	switch {
	case rep.Interrupted:
		return probeInterrupted("probe-signal", rep.Elapsed)
	case rep.OK:
		return nil
	case rep.Outcome == "dns-failed" || rep.Outcome == "refused" || rep.Outcome == "timeout":
		return cannotRun(errors.New("probe-signal: the server could not be reached"), "see the dns/connect rows of the report")
	}
	failed := 0
	for _, c := range rep.Checks {
		if !c.OK && !c.Skipped {
			failed++
		}
	}
	return checkFailed{summary: fmt.Sprintf("probe-signal: %d check(s) failed", failed)}
}

func renderProbeSignal(w io.Writer, col bool, rep *probe.SignalReport) {
	head := rep.URL
	if rep.Address != "" {
		head += "  (" + rep.Address + ")"
	}
	fmt.Fprintln(w, report.Paint(col, head, report.Head...))
	if up := rep.Upgrade; up != nil && up.Status != 0 && up.Status != 101 && up.Body != "" {
		fmt.Fprintf(w, "  upgrade answer body: %.120q\n", up.Body)
	}
	if j := rep.Join; j != nil && len(j.Unexpected) > 0 {
		fmt.Fprintf(w, "  join: unexpected messages %v\n", j.Unexpected)
	}
	renderProbeChecks(w, col, rep.Checks)
	renderProbeWarnings(w, col, rep.Warnings)
	fmt.Fprintf(w, "\n%s signaling probe in %s\n", report.Mark(col, rep.OK), rep.Elapsed)
}
