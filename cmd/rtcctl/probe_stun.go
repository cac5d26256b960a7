package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// probeSTUNCommand is a placeholder until its issue lands.
func probeSTUNCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "probe-stun",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("probe-stun is not built yet"), "") },
	}
}
