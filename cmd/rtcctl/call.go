package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// callCommand is a placeholder until its issue lands.
func callCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "call",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("call is not built yet"), "") },
	}
}
