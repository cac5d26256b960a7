package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/rtcctl/rtcctl/internal/load"
	"github.com/rtcctl/rtcctl/internal/report"
)

// reportMergeOptions are the parsed arguments of `rtcctl report merge`.
type reportMergeOptions struct {
	Files  []string
	JSON   bool
	Output string
	JUnit  string
}

const reportMergeDescription = `Merges the JSON reports of load shards (rtcctl load --shard i/n --json) into one:
counts and verdict groups are summed, distributions merged, and every percentile is
recomputed from the merged samples (never an average of percentiles). The thresholds of
the first report are re-checked on the merged data; the exit code says whether they pass.

Examples:
   rtcctl report merge shard-0.json shard-1.json shard-2.json
   rtcctl report merge --json -o merged.json --junit load.xml shards/*.json`

// reportCommand builds `rtcctl report` and its subcommands.
func reportCommand(s *report.Streams) *cli.Command { return newReportCommand(s, runReportMerge) }

func newReportCommand(s *report.Streams, runF func(context.Context, *report.Streams, *reportMergeOptions) error) *cli.Command {
	merge := &cli.Command{
		Name:        "merge",
		Usage:       "merge load shard reports (JSON) into one, percentiles recomputed",
		UsageText:   "rtcctl report merge FILE.json FILE.json ... [--json] [-o OUT.json] [--junit FILE]",
		Description: reportMergeDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the merged JSON report instead of text"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "also write the merged JSON report to `FILE`"},
			&cli.StringFlag{Name: "junit", Usage: "also write a JUnit XML `FILE`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return usagef("report merge needs at least one JSON report file")
			}
			o := &reportMergeOptions{Files: c.Args().Slice(), JSON: c.Bool("json"), Output: c.String("output"), JUnit: c.String("junit")}
			return runF(c.Context, s, o)
		},
	}
	merge.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	return &cli.Command{
		Name:        "report",
		Usage:       "work with saved JSON reports (merge load shards)",
		UsageText:   "rtcctl report merge FILE.json ...",
		Subcommands: []*cli.Command{merge},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("report needs a subcommand: merge")
			}
			return usagef("report: unknown subcommand %q (want merge)", c.Args().First())
		},
	}
}

func runReportMerge(_ context.Context, s *report.Streams, o *reportMergeOptions) error {
	var reps []*load.Report
	for _, f := range o.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return cannotRun(fmt.Errorf("read %s: %w", f, err), "")
		}
		var r load.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return usagef("%s is not a load JSON report: %v", f, err)
		}
		reps = append(reps, &r)
	}
	merged, err := load.Merge(reps...)
	if err != nil {
		if errors.Is(err, load.ErrMerge) {
			return usagef("%v", err)
		}
		return cannotRun(err, "")
	}
	if err := writeLoadJSONFile(o.Output, merged); err != nil {
		return err
	}
	return finishLoadReport(s, merged, o.JSON, o.JUnit)
}
