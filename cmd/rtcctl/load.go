package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// loadCommand is a placeholder until its issue lands.
func loadCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "load",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("load is not built yet"), "") },
	}
}
