package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// joinCommand is a placeholder until its issue lands.
func joinCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "join",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("join is not built yet"), "") },
	}
}
