package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// serveCommand is a placeholder until its issue lands.
func serveCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "serve",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("serve is not built yet"), "") },
	}
}
