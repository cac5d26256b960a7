package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// probeTURNCommand is a placeholder until its issue lands.
func probeTURNCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "probe-turn",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("probe-turn is not built yet"), "") },
	}
}
