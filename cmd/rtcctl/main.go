// Command rtcctl is a headless WebRTC peer and test harness for the one-to-one room
// signaling system: join a room as a peer, probe STUN/TURN and signaling, run a hardened
// signaling server with embedded TURN, and smoke-test deployments from CI.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := report.System()
	code := run(ctx, streams, os.Args)
	stop()
	os.Exit(code)
}

// run executes the CLI with the given streams and returns the exit code.
func run(ctx context.Context, streams *report.Streams, args []string) int {
	app := newApp(streams)
	unknown := false
	app.CommandNotFound = func(_ *cli.Context, name string) {
		unknown = true
		fmt.Fprintf(streams.Err, "rtcctl: unknown command %q; run 'rtcctl help' for the list\n", name)
	}
	err := app.RunContext(ctx, interspersed(app.Commands, args))
	if unknown {
		return ExitUsage
	}
	if err == nil {
		return ExitOK
	}
	var c checkFailed
	if !errors.As(err, &c) || c.summary != "" {
		fmt.Fprintln(streams.Err, report.Paint(streams.ColorErr, "rtcctl: ", report.Bad...)+err.Error())
	}
	return exitCode(err)
}

// newApp builds the command tree. Each command lives in its own file.
func newApp(streams *report.Streams) *cli.App {
	app := &cli.App{
		Name:    "rtcctl",
		Usage:   "headless WebRTC peer and test harness for room-signaling call systems",
		Version: version,
		Description: "rtcctl joins rooms as a headless peer, proves media flows, probes STUN/TURN and\n" +
			"signaling, and serves a hardened drop-in signaling server with embedded TURN.\n\n" +
			"Examples:\n" +
			"   rtcctl call --embedded --relay-only --require-relay  # everything local, verified both ways\n" +
			"   rtcctl serve --turn                                  # server + TURN for two browser tabs\n" +
			"   rtcctl join --server wss://HOST:8098/ws --room 100   # meet a browser in room 100\n" +
			"   rtcctl probe-turn 'turn:HOST:3478?transport=udp' --user demo --pass secret\n" +
			"   rtcctl doctor --server wss://HOST:8098/ws --ice-server turn:HOST:3478 --ice-user demo\n\n" +
			"Every command's help (rtcctl help COMMAND) has its own examples.",
		Writer:                 streams.Out,
		ErrWriter:              streams.Err,
		HideHelpCommand:        false,
		UseShortOptionHandling: true,
		EnableBashCompletion:   false,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress on stderr"},
			&cli.BoolFlag{Name: "verbose", Usage: "pion's own logs on stderr"},
		},
		Before: func(c *cli.Context) error {
			streams.Quiet = c.Bool("quiet")
			return nil
		},
		Commands: commands(streams),
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided in run
	}
	app.CustomAppHelpTemplate = cli.AppHelpTemplate + "\n" + exitCodesHelp + "\n"
	return app
}
