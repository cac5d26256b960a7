package main

import (
	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/report"
)

// commands lists every rtcctl command; each constructor lives in its own file.
func commands(s *report.Streams) []*cli.Command {
	cmds := []*cli.Command{
		serveCommand(s),
		joinCommand(s),
		callCommand(s),
		probeTURNCommand(s),
		probeSTUNCommand(s),
		probeSignalCommand(s),
		doctorCommand(s),
		loadCommand(s),
		reportCommand(s),
	}
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	}
	return cmds
}
