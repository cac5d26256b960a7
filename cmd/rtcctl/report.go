package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// reportCommand is a placeholder until its issue lands.
func reportCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "report",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("report is not built yet"), "") },
	}
}
