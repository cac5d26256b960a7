package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// doctorCommand is a placeholder until its issue lands.
func doctorCommand(_ *report.Streams) *cli.Command {
	return &cli.Command{
		Name:   "doctor",
		Usage:  "(not built yet)",
		Hidden: true,
		Action: func(*cli.Context) error { return cannotRun(errors.New("doctor is not built yet"), "") },
	}
}
