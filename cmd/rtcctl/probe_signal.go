package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// probeSignalCommand is a placeholder until its issue lands.
func probeSignalCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "probe-signal",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("probe-signal is not built yet"), "") },
	}
}
