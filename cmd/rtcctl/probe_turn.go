package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/probe"
	"github.com/rtcctl/rtcctl/internal/report"
)

// probeTURNOptions are the parsed flags of `rtcctl probe-turn`.
type probeTURNOptions struct {
	Probe probe.TURNOptions
	JSON  bool
}

const probeTURNDescription = `Checks TURN servers the way a browser uses them, one stage at a time, and says what
failed and how to fix it:

   connect     UDP answer / TCP connect / TLS handshake (certificate subject, SANs,
               issuer, expiry; self-signed and hostname mismatch explained)
   challenge   an Allocate without credentials must get 401 with REALM and NONCE
   allocate    the authenticated Allocate: relayed address and lifetime, or the STUN
               error code with its meaning (400, 401, 403, 437, 438, 441, 442, 486, 508)
   permission  CreatePermission towards a second allocation (403 on coturn without
               allow-loopback-peers / with denied-peer-ip)
   relay       --packets packets bounced through both relays: loss and RTT p50/p95/p99
   gather      the candidates a PeerConnection gathers with only this server, as rows
               like the trickle-ICE sample page (printed as they arrive), ending with
               a Done row and the time gathering took
   call        a relay-only loopback call (two pion PeerConnections, data channel + RTP)

All URLs are probed concurrently. It tells a silent UDP port (firewall, no server) from a
refused one (ICMP port unreachable / TCP RST) and from a STUN-only server, and warns when
the relayed address is private behind a public server (coturn external-ip missing), when
a REST credential is expired, and when UDP works but TCP/TLS does not.

URLs follow RFC 7065: turn:HOST[:PORT][?transport=udp|tcp] (default 3478, udp) and
turns:HOST[:PORT][?transport=tcp] (default 5349). Credentials: --user/--pass (a static
long-term user, or a REST username "expiry:user" with its password) or --secret (coturn
use-auth-secret: a credential valid for --rest-ttl is made here). Prefer the environment
variables RTCCTL_TURN_PASS / RTCCTL_TURN_SECRET: flags show in ps. Passwords and secrets are
never printed.

Examples:
   # the course setup: udp and tcp on 3478 with a static user
   rtcctl probe-turn turn:turn.example.com:3478?transport=udp \
       turn:turn.example.com:3478?transport=tcp --user demo --pass secret

   # coturn with use-auth-secret, TLS on 5349, JSON for CI
   RTCCTL_TURN_SECRET=... rtcctl probe-turn turns:turn.example.com --json

   # a local coturn with a self-signed certificate, without the loopback call
   rtcctl probe-turn turns:127.0.0.1:5349 --user u --pass p --ca-file cert.pem --no-call`

// probeTURNCommand builds `rtcctl probe-turn`.
func probeTURNCommand(s *report.Streams) *cli.Command { return newProbeTURNCommand(s, runProbeTURN) }

// newProbeTURNCommand builds the command with an injectable run function (flag tests run
// without the network).
func newProbeTURNCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeTURNOptions) error) *cli.Command {
	return buildProbeTURNCommand(s, runF, true)
}

// buildProbeTURNCommand builds the command; interspersed allows flags after the arguments.
func buildProbeTURNCommand(s *report.Streams, runF func(context.Context, *report.Streams, *probeTURNOptions) error, interspersed bool) *cli.Command {
	return &cli.Command{
		Name:        "probe-turn",
		Usage:       "probe TURN servers: allocation, relay loss/RTT, candidates, relay-only call",
		UsageText:   "rtcctl probe-turn URL... [--user U --pass P | --secret S] [--packets 50] [--no-call] [--json]",
		Description: probeTURNDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "TURN `USER` (static, or a REST username expiry:user)"},
			&cli.StringFlag{Name: "pass", Aliases: []string{"p"}, EnvVars: []string{"RTCCTL_TURN_PASS"}, Usage: "TURN `PASSWORD`"},
			&cli.StringFlag{Name: "secret", EnvVars: []string{"RTCCTL_TURN_SECRET"}, Usage: "TURN REST shared `SECRET` (coturn static-auth-secret)"},
			&cli.StringFlag{Name: "rest-user", Value: "rtcctl", Usage: "user part of the generated REST username"},
			&cli.DurationFlag{Name: "rest-ttl", Value: probe.DefaultRESTTTL, Usage: "lifetime of the generated REST credential"},
			&cli.IntFlag{Name: "packets", Value: probe.DefaultRelayPackets, Usage: "packets to bounce through the relay (0: skip the relay test)"},
			&cli.BoolFlag{Name: "no-call", Usage: "skip the relay-only loopback call"},
			&cli.BoolFlag{Name: "no-gather", Usage: "skip candidate gathering"},
			&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` with CA certificates to trust for turns:"},
			&cli.BoolFlag{Name: "insecure", Usage: "accept any turns: certificate (still reported)"},
			&cli.BoolFlag{Name: "json", Usage: "print only a JSON report on stdout"},
			&cli.DurationFlag{Name: "timeout", Value: probe.TURNReportTimeout, Usage: "bound on the whole probe"},
		},
		Action: func(c *cli.Context) error {
			if interspersed {
				if ok, err := probeRerunWithFlagsFirst(c, s, buildProbeTURNCommand(s, runF, false)); ok {
					return err
				}
			}
			o, err := parseProbeTURNFlags(c)
			if err != nil {
				return err
			}
			o.Probe.Logf = probeLogf(c, s)
			return runF(c.Context, s, o)
		},
	}
}

func parseProbeTURNFlags(c *cli.Context) (*probeTURNOptions, error) {
	if c.NArg() == 0 {
		return nil, usagef("probe-turn needs at least one turn: or turns: URL")
	}
	o := &probeTURNOptions{JSON: c.Bool("json")}
	p := &o.Probe
	for _, raw := range c.Args().Slice() {
		u, err := probe.ParseServerURL(raw)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if u.Scheme != "turn" && u.Scheme != "turns" {
			return nil, usagef("%q is a %s: URL; probe-turn takes turn: or turns: (use probe-stun for STUN)", raw, u.Scheme)
		}
		p.URLs = append(p.URLs, raw)
	}
	p.Username, p.Password, p.Secret = c.String("user"), c.String("pass"), c.String("secret")
	if p.Secret != "" && p.Username != "" {
		if env := os.Getenv("RTCCTL_TURN_SECRET"); env == "" || env != p.Secret {
			return nil, usagef("use either --user/--pass or --secret, not both")
		}
		p.Secret = "" // an explicit --user wins over a secret from the environment
	}
	switch {
	case p.Secret == "" && p.Username == "":
		return nil, usagef("TURN needs credentials: --user and --pass, or --secret (coturn use-auth-secret)")
	case p.Username != "" && p.Password == "":
		return nil, usagef("--user needs --pass (or RTCCTL_TURN_PASS)")
	}
	if p.Secret != "" {
		p.Username, p.Password = "", "" // a RTCCTL_TURN_PASS in the environment is not used
	}
	p.RESTUser, p.RESTTTL = c.String("rest-user"), c.Duration("rest-ttl")
	if p.RESTTTL <= 0 {
		return nil, usagef("--rest-ttl must be positive")
	}
	p.Packets = c.Int("packets")
	if p.Packets < 0 || p.Packets > 10000 {
		return nil, usagef("--packets must be 0-10000")
	}
	if p.Packets == 0 {
		p.Packets = -1 // the library reads 0 as the default
	}
	p.NoCall, p.NoGather = c.Bool("no-call"), c.Bool("no-gather")
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

// probeTLSFlags reads --ca-file and --insecure (shared by the probe commands).
func probeTLSFlags(c *cli.Context) (probe.TLSOptions, error) {
	t := probe.TLSOptions{Insecure: c.Bool("insecure")}
	if f := c.String("ca-file"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return t, cannotRun(fmt.Errorf("--ca-file: %w", err), "is the file there and readable?")
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return t, cannotRun(fmt.Errorf("--ca-file %s: no PEM certificate in it", f), "pass the CA or server certificate in PEM form")
		}
		t.RootCAs = pool
	}
	return t, nil
}

// probeLogf returns a Logf for --verbose (pion's warnings and debug lines on stderr).
func probeLogf(c *cli.Context, s *report.Streams) func(string, ...any) {
	if !c.Bool("verbose") {
		return nil
	}
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(s.Err, "  · "+format+"\n", args...)
	}
}

// probeTURNJSON is the JSON document of probe-turn.
type probeTURNJSON struct {
	Version int    `json:"version"`
	Command string `json:"command"`
	*probe.TURNReport
}

func runProbeTURN(ctx context.Context, s *report.Streams, o *probeTURNOptions) error {
	p := o.Probe
	if !o.JSON {
		s.Progressf("probing %d TURN URL(s)...", len(p.URLs))
		var mu sync.Mutex
		header := false
		index := map[string]int{}
		for i, u := range p.URLs {
			if _, dup := index[u]; !dup {
				index[u] = i + 1
			}
		}
		printHeader := func() {
			if !header {
				fmt.Fprintln(s.Out, report.Paint(s.ColorOut, probeCandidateHeader, report.Head...))
				header = true
			}
		}
		p.OnCandidate = func(url string, c probe.Candidate) {
			mu.Lock()
			defer mu.Unlock()
			printHeader()
			fmt.Fprintln(s.Out, probeCandidateLine(index[url], c))
		}
		p.OnGatheringDone = func(url string, elapsed probe.Millis, complete bool) {
			mu.Lock()
			defer mu.Unlock()
			printHeader()
			fmt.Fprintln(s.Out, probeGatheringDoneLine(index[url], elapsed, complete))
		}
	}
	rep := probe.TURN(ctx, p)
	if o.JSON {
		if err := report.WriteJSON(s.Out, probeTURNJSON{Version: report.SchemaVersion, Command: "probe-turn", TURNReport: rep}); err != nil {
			return cannotRun(err, "")
		}
	} else {
		renderProbeTURN(s.Out, s.ColorOut, rep)
	}
	return probeTURNExit(rep)
}

// probeInterrupted is the exit of a probe cancelled by Ctrl-C: the report is incomplete, so
// neither a pass nor a failed check (exit 3).
func probeInterrupted(cmd string, after probe.Millis) error {
	return cannotRun(fmt.Errorf("%s: interrupted after %s", cmd, after), "the report is incomplete")
}

// probeTURNExit: 0 all passed; 3 when no server could be reached at all or the probe was
// interrupted; 1 otherwise.
func probeTURNExit(rep *probe.TURNReport) error {
	if rep.Interrupted {
		return probeInterrupted("probe-turn", rep.Elapsed)
	}
	if rep.OK {
		return nil
	}
	unreachable, failed := 0, 0
	for _, sv := range rep.Servers {
		switch sv.Outcome {
		case "dns-failed", "refused", "timeout":
			unreachable++
		}
		if !sv.OK {
			failed++
		}
	}
	if unreachable == len(rep.Servers) && len(rep.Servers) > 0 {
		return cannotRun(errors.New("probe-turn: no TURN server could be reached"), "see the connect rows of the report")
	}
	return checkFailed{summary: fmt.Sprintf("probe-turn: %d of %d server(s) failed", failed, len(rep.Servers))}
}

const probeCandidateHeader = "#  Time     Component  Type   Foundation  Protocol  Address                                  Port   Priority              URL / relayProtocol"

// probeCandidateLine formats a candidate like a trickle-ICE row; server is the URL's
// position on the command line (host candidates name no URL).
func probeCandidateLine(server int, c probe.Candidate) string {
	prio := fmt.Sprintf("%d | %d | %d", c.TypePref, c.LocalPref, c.ComponentPref)
	url := c.URL
	if c.RelayProtocol != "" {
		url += " " + c.RelayProtocol
	}
	return fmt.Sprintf("%-2d %-8.3f %-10d %-6s %-11s %-9s %-40s %-6d %-21s %s",
		server, c.Time.D().Seconds(), c.Component, c.Type, c.Foundation, c.Protocol, c.Address, c.Port, prio, url)
}

// probeGatheringDoneLine ends one server's rows of the table like the trickle-ICE page's
// "Done" row: the time gathering took, in the time column.
func probeGatheringDoneLine(server int, elapsed probe.Millis, complete bool) string {
	what := "Done"
	if !complete {
		what = fmt.Sprintf("Not done: gathering did not finish within %s", probe.TURNGatherTimeout)
	}
	return fmt.Sprintf("%-2d %-8.3f %s", server, elapsed.D().Seconds(), what)
}

func renderProbeTURN(w io.Writer, col bool, rep *probe.TURNReport) {
	for _, sv := range rep.Servers {
		fmt.Fprintln(w)
		head := sv.URL
		if sv.Address != "" {
			head += "  (" + sv.Address + ")"
		}
		fmt.Fprintln(w, report.Paint(col, head, report.Head...))
		if ch := sv.Challenge; ch != nil {
			line := strings.TrimRight(fmt.Sprintf("  challenge   Allocate (no credentials) -> %d %s", ch.Code, ch.Reason), " ") // pion sends no reason phrase
			if ch.Code == 0 {
				line = "  challenge   Allocate (no credentials) -> success (open relay!)"
			}
			if ch.Realm != "" {
				line += fmt.Sprintf(", realm %q, nonce %q", ch.Realm, ch.Nonce)
			}
			if ch.Software != "" {
				line += fmt.Sprintf(", software %q", ch.Software)
			}
			fmt.Fprintf(w, "%s (%s)\n", line, ch.RTT)
		}
		if al := sv.Allocation; al != nil {
			if al.Error != nil {
				fmt.Fprintf(w, "  allocate    as %q -> %d %s\n", rep.Username, al.Error.Code, al.Meaning)
			} else {
				fmt.Fprintf(w, "  allocate    as %q -> relayed %s, mapped %s, lifetime %ds (%s)\n", rep.Username, al.Relayed, al.Mapped, al.LifetimeSec, al.RTT)
			}
		}
		if r := sv.Relay; r != nil && r.Sent > 0 {
			fmt.Fprintf(w, "  relay       %d/%d back via %s, loss %.1f%%, RTT p50 %s p95 %s p99 %s max %s\n",
				r.Received, r.Sent, r.Peer, r.LossPct, r.RTT.P50, r.RTT.P95, r.RTT.P99, r.RTT.Max)
		}
		if c := sv.Call; c != nil && c.Connected {
			fmt.Fprintf(w, "  call        connected in %s (%s -> %s), data channel echo %s, RTP %d/%d\n",
				c.ConnectTime, c.LocalCandidate, c.RemoteCandidate, c.DataChannelRTT, c.RTPReceived, c.RTPSent)
		}
		renderProbeChecks(w, col, sv.Checks)
		renderProbeWarnings(w, col, sv.Warnings)
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintln(w)
		renderProbeWarnings(w, col, rep.Warnings)
	}
	passed := 0
	for _, sv := range rep.Servers {
		if sv.OK {
			passed++
		}
	}
	fmt.Fprintf(w, "\n%s %d/%d TURN server(s) passed in %s\n", report.Mark(col, rep.OK), passed, len(rep.Servers), rep.Elapsed)
}

// renderProbeChecks prints one PASS/FAIL row per check, with the fix under a failure.
func renderProbeChecks(w io.Writer, col bool, checks []probe.Check) {
	for _, c := range checks {
		mark := report.Mark(col, c.OK)
		if c.Skipped {
			mark = report.Paint(col, "SKIP", report.Dim...)
		}
		fmt.Fprintf(w, "  %s %-11s %s\n", mark, c.Name, c.Detail)
		if !c.OK && !c.Skipped && c.Fix != "" {
			fmt.Fprintf(w, "       %s %s\n", report.Paint(col, "fix:", report.Warn...), c.Fix)
		}
	}
}

func renderProbeWarnings(w io.Writer, col bool, warnings []string) {
	for _, m := range warnings {
		fmt.Fprintf(w, "  %s %s\n", report.Paint(col, "warning:", report.Warn...), m)
	}
}

// probeRerunWithFlagsFirst lets flags follow the URLs ("probe-turn URL --user u"): urfave/cli
// v2 stops parsing flags at the first argument, so when an argument looks like a flag the
// command is run again with every flag moved in front. ok is false when nothing needed
// moving.
func probeRerunWithFlagsFirst(c *cli.Context, s *report.Streams, cmd *cli.Command) (ok bool, err error) {
	args := c.Args().Slice()
	moved := false
	for _, a := range args {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			moved = true
			break
		}
	}
	if !moved {
		return false, nil
	}
	noValue := map[string]bool{"verbose": true, "quiet": true, "q": true}
	for _, f := range cmd.Flags {
		if bf, isBool := f.(*cli.BoolFlag); isBool {
			for _, n := range bf.Names() {
				noValue[n] = true
			}
		}
	}
	var global, flags, pos []string
	if c.Bool("verbose") {
		global = append(global, "--verbose")
	}
	var trailing []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "verbose", "quiet", "q":
			global = append(global, "--"+name)
			continue
		}
		flags = append(flags, a)
		trailing = append(trailing, name)
		if !hasValue && !noValue[name] && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	// Flags given before the first argument were parsed already: pass them on, unless they
	// came from the environment (the rerun reads it again) or are repeated after the URLs.
	var before []string
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) || probeFlagFromEnv(f, fmt.Sprint(c.Value(name))) || probeAnyName(f.Names(), trailing) {
			continue
		}
		before = append(before, "--"+name+"="+fmt.Sprint(c.Value(name)))
	}
	flags = append(before, flags...)
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name: "rtcctl", Writer: s.Out, ErrWriter: s.Err, HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}},
			&cli.BoolFlag{Name: "verbose"},
		},
		Before: func(ac *cli.Context) error {
			s.Quiet = s.Quiet || ac.Bool("quiet")
			return nil
		},
		Commands:       []*cli.Command{cmd},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	argv := append([]string{"rtcctl"}, global...)
	argv = append(argv, cmd.Name)
	argv = append(argv, flags...)
	argv = append(argv, "--")
	argv = append(argv, pos...)
	return true, app.RunContext(c.Context, argv)
}

// probeFlagFromEnv reports whether f's value is the one from its environment variable.
func probeFlagFromEnv(f cli.Flag, value string) bool {
	ev, ok := f.(interface{ GetEnvVars() []string })
	if !ok {
		return false
	}
	for _, name := range ev.GetEnvVars() {
		if v, set := os.LookupEnv(name); set && v == value {
			return true
		}
	}
	return false
}

func probeAnyName(names, in []string) bool {
	for _, n := range names {
		for _, m := range in {
			if n == m {
				return true
			}
		}
	}
	return false
}
