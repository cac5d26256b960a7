package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

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
	// Override, when set, changes the merged report's thresholds (flags given only).
	Override func(*load.Thresholds)
}

const reportMergeDescription = `Merges the JSON reports of load shards (rtcctl load --shard i/n --json) into one:
counts and verdict groups are summed, distributions merged, and every percentile is
recomputed from the merged samples (never an average of percentiles). The thresholds of
the first report are re-checked on the merged data (threshold flags given here replace
them), and a shard of the run without a report fails the "shards" check (a crashed shard
must not pass as a smaller run); the exit code says whether they pass: 0 pass, 1 a check
failed, 2 bad input (not a load report, the same shard twice), 3 a file cannot be read.

Examples:
   rtcctl report merge shard-0.json shard-1.json shard-2.json
   rtcctl report merge --json -o merged.json --junit load.xml shards/*.json`

const reportDescription = `Works with the JSON reports rtcctl writes. One subcommand so far:

   merge   merge the JSON reports of load shards into one report, every percentile
           recomputed from the merged samples; exit 1 when a threshold fails or a shard is missing

Examples:
   # two shards of one 1,000-call run (on two machines), then one report
   rtcctl load --server wss://... --rooms 1000 --shard 0/2 --room-prefix nightly- -o shard-0.json
   rtcctl load --server wss://... --rooms 1000 --shard 1/2 --room-prefix nightly- -o shard-1.json
   rtcctl report merge shard-0.json shard-1.json

   rtcctl help report merge    # flags and exit codes of merge`

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
			&cli.Float64Flag{Name: "min-success", Usage: "replace the lowest acceptable success `PERCENT`"},
			&cli.DurationFlag{Name: "max-p95-connect", Usage: "replace the highest acceptable p95 connect time"},
			&cli.StringFlag{Name: "max-loss", Usage: "replace the highest acceptable p95 loss `PERCENT`"},
			&cli.Float64Flag{Name: "min-fps", Usage: "replace the lowest acceptable 5th-percentile fps"},
			&cli.DurationFlag{Name: "max-p99-message", Usage: "replace the highest acceptable p99 signaling relay latency"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return usagef("report merge needs at least one JSON report file")
			}
			o := &reportMergeOptions{Files: c.Args().Slice(), JSON: c.Bool("json"), Output: c.String("output"), JUnit: c.String("junit")}
			ov, err := mergeThresholdOverride(c)
			if err != nil {
				return err
			}
			o.Override = ov
			return runF(c.Context, s, o)
		},
	}
	merge.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	return &cli.Command{
		Name:        "report",
		Usage:       "work with saved JSON reports (merge load shards)",
		UsageText:   "rtcctl report merge FILE.json ...",
		Description: reportDescription,
		Subcommands: []*cli.Command{merge},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("report needs a subcommand: merge")
			}
			return usagef("report: unknown subcommand %q (want merge)", c.Args().First())
		},
	}
}

// mergeThresholdOverride turns the threshold flags given on the command line into a
// function that applies them (nil when none was given).
func mergeThresholdOverride(c *cli.Context) (func(*load.Thresholds), error) {
	var fns []func(*load.Thresholds)
	if c.IsSet("min-success") {
		v := c.Float64("min-success")
		if v <= 0 || v > 100 {
			return nil, usagef("--min-success must be in (0, 100]")
		}
		fns = append(fns, func(t *load.Thresholds) { t.MinSuccessPct = v })
	}
	if c.IsSet("max-p95-connect") {
		v := loadMs(c.Duration("max-p95-connect"))
		fns = append(fns, func(t *load.Thresholds) { t.MaxP95ConnectMs = v })
	}
	if c.IsSet("max-loss") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(c.String("max-loss"), "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return nil, usagef("--max-loss %q: want a percentage", c.String("max-loss"))
		}
		fns = append(fns, func(t *load.Thresholds) { t.MaxLossPct = &v })
	}
	if c.IsSet("min-fps") {
		v := c.Float64("min-fps")
		fns = append(fns, func(t *load.Thresholds) { t.MinFPS = v })
	}
	if c.IsSet("max-p99-message") {
		v := loadMs(c.Duration("max-p99-message"))
		fns = append(fns, func(t *load.Thresholds) { t.MaxP99MessageMs = v })
	}
	if len(fns) == 0 {
		return nil, nil
	}
	return func(t *load.Thresholds) {
		for _, f := range fns {
			f(t)
		}
	}, nil
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
	if o.Override != nil {
		o.Override(&merged.Thresholds)
		merged.Evaluate()
	}
	if err := writeLoadJSONFile(o.Output, merged); err != nil {
		return err
	}
	return finishLoadReport(s, merged, o.JSON, o.JUnit)
}
