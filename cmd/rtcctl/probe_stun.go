package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
)

// probeSTUNOptions are the parsed flags of `rtcctl probe-stun`.
type probeSTUNOptions struct {
	Probe probe.STUNOptions
	JSON  bool
}

const probeSTUNDescription = `Sends STUN binding requests to every server from ONE UDP socket and reports the RTT and
the mapped address (this machine as each server sees it). Comparing the mapped addresses
across servers shows the NAT's mapping behaviour: the same address everywhere is
endpoint-independent (hole punching works); a different one per server is a symmetric NAT
(calls need TURN). Servers that support RFC 5780 (OTHER-ADDRESS, CHANGE-REQUEST; coturn
with two listening IPs) also show the filtering behaviour. The verdict is "direct P2P
likely", "TURN needed" or "inconclusive", with the reasons.

Give at least two servers on different IPs (or one with RFC 5780), or the mapping cannot be
told. turn: URLs are accepted and probed as STUN on the same host and port. IPv4 only:
IPv6 servers are listed as not probed.

Examples:
   # two public STUN servers
   rtcctl probe-stun stun:stun.l.google.com:19302 stun:stun.cloudflare.com:3478

   # your coturn as STUN (RFC 5780 needs two listening IPs on it), JSON for CI
   rtcctl probe-stun stun:turn.example.com:3478 --json`

// probeSTUNCommand builds `rtcctl probe-stun`.
func probeSTUNCommand(s *report.Streams) *cli.Command { return newProbeSTUNCommand(s, runProbeSTUN) }

func newProbeSTUNCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeSTUNOptions) error) *cli.Command {
	return buildProbeSTUNCommand(s, runF, true)
}

// buildProbeSTUNCommand builds the command; interspersed allows flags after the arguments.
func buildProbeSTUNCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeSTUNOptions) error, interspersed bool) *cli.Command {
	return &cli.Command{
		Name:        "probe-stun",
		Usage:       "probe STUN servers: RTT, mapped address, NAT behaviour, P2P verdict",
		UsageText:   "rtcctl probe-stun URL... [--count 5] [--json]",
		Description: probeSTUNDescription,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Value: probe.DefaultSTUNCount, Usage: "binding requests per server"},
			&cli.BoolFlag{Name: "json", Usage: "print only a JSON report on stdout"},
			&cli.DurationFlag{Name: "timeout", Value: probe.STUNReportTimeout, Usage: "bound on the whole probe"},
		},
		Action: func(c *cli.Context) error {
			if interspersed {
				if ok, err := probeRerunWithFlagsFirst(c, s, buildProbeSTUNCommand(s, runF, false)); ok {
					return err
				}
			}
			o, err := parseProbeSTUNFlags(c)
			if err != nil {
				return err
			}
			o.Probe.Logf = probeLogf(c, s)
			return runF(c.Context, s, o)
		},
	}
}

func parseProbeSTUNFlags(c *cli.Context) (*probeSTUNOptions, error) {
	if c.NArg() == 0 {
		return nil, usagef("probe-stun needs at least one stun: URL")
	}
	o := &probeSTUNOptions{JSON: c.Bool("json")}
	for _, raw := range c.Args().Slice() {
		u, err := probe.ParseServerURL(raw)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if u.Secure() || u.Transport != "udp" {
			return nil, usagef("%q: probe-stun uses plain UDP (stun: or turn:...?transport=udp)", raw)
		}
		o.Probe.URLs = append(o.Probe.URLs, raw)
	}
	o.Probe.Count = c.Int("count")
	if o.Probe.Count < 1 || o.Probe.Count > 1000 {
		return nil, usagef("--count must be 1-1000")
	}
	o.Probe.Timeout = c.Duration("timeout")
	if o.Probe.Timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	return o, nil
}

// probeSTUNJSON is the JSON document of probe-stun.
type probeSTUNJSON struct {
	Version int    `json:"version"`
	Command string `json:"command"`
	*probe.STUNReport
}

func runProbeSTUN(ctx context.Context, s *report.Streams, o *probeSTUNOptions) error {
	if !o.JSON {
		s.Progressf("probing %d STUN server(s) from one socket...", len(o.Probe.URLs))
	}
	rep := probe.STUN(ctx, o.Probe)
	if o.JSON {
		if err := report.WriteJSON(s.Out, probeSTUNJSON{Version: report.SchemaVersion, Command: "probe-stun", STUNReport: rep}); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderProbeSTUN(s.Out, s.ColorOut, rep)
	}
	answered := 0
	for _, sv := range rep.Servers {
		if sv.Received > 0 {
			answered++
		}
	}
	switch {
	case rep.Interrupted:
		return probeInterrupted("probe-stun", rep.Elapsed)
	case rep.OK:
		return nil
	case answered == 0:
		return cannotRun(errors.New("probe-stun: no STUN server answered"), "outgoing UDP may be blocked here, or the URLs are wrong")
	default:
		return checkFailed{summary: fmt.Sprintf("probe-stun: %d of %d server(s) did not answer", len(rep.Servers)-answered, len(rep.Servers))}
	}
}

func renderProbeSTUN(w io.Writer, col bool, rep *probe.STUNReport) {
	from := "STUN from " + rep.LocalAddr
	if h, port, err := net.SplitHostPort(rep.LocalAddr); err == nil && net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified() {
		from = "STUN from one UDP socket, local port " + port // 0.0.0.0 says nothing to a reader
	}
	fmt.Fprintf(w, "%s\n", report.Paint(col, from, report.Head...))
	for _, sv := range rep.Servers {
		if sv.Received == 0 {
			what := "no answer: "
			if sv.Sent == 0 {
				what = "not probed: " // bad URL, name not resolved, IPv6
			}
			fmt.Fprintf(w, "  %-40s %s\n", sv.URL, report.Paint(col, what+sv.Error, report.Bad...))
			continue
		}
		line := fmt.Sprintf("  %-40s mapped %-22s RTT p50 %s max %s (%d/%d)", sv.URL, sv.Mapped, sv.RTT.P50, sv.RTT.Max, sv.Received, sv.Sent)
		if sv.OtherAddress != "" {
			line += " RFC5780 other " + sv.OtherAddress
		}
		if sv.MappedChanged {
			line += " (mapping changed between requests)"
		}
		fmt.Fprintln(w, line)
	}
	withBasis := func(v, basis string) string {
		if basis == "" {
			return v
		}
		return v + ": " + basis
	}
	fmt.Fprintf(w, "\n  mapping     %s\n", withBasis(rep.Mapping, rep.MappingBasis))
	fmt.Fprintf(w, "  filtering   %s\n", withBasis(rep.Filtering, rep.FilteringBasis))
	verdictCol := report.Good
	switch rep.Verdict {
	case probe.VerdictTURN:
		verdictCol = report.Bad
	case probe.VerdictInconclusive:
		verdictCol = report.Warn
	}
	fmt.Fprintf(w, "  verdict     %s\n", report.Paint(col, rep.Verdict, verdictCol...))
	for _, r := range rep.Reasons {
		fmt.Fprintf(w, "              %s\n", r)
	}
	fmt.Fprintln(w)
	renderProbeChecks(w, col, rep.Checks)
	fmt.Fprintf(w, "\n%s STUN probe in %s\n", report.Mark(col, rep.OK), rep.Elapsed)
}
