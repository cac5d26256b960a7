package main

import (
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersedFlagsMoveBeforeArguments(t *testing.T) {
	cmds := []*cli.Command{
		{Name: "probe-turn", Flags: []cli.Flag{
			&cli.StringFlag{Name: "user"}, &cli.BoolFlag{Name: "json"},
		}},
		{Name: "report", Subcommands: []*cli.Command{
			{Name: "merge", Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}}}},
		}},
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after url", []string{"rtcctl", "probe-turn", "turn:h:3478", "--user", "u", "--json"},
			[]string{"rtcctl", "probe-turn", "--user", "u", "--json", "turn:h:3478"}},
		{"equals form", []string{"rtcctl", "-q", "probe-turn", "turn:a", "--user=u", "turn:b"},
			[]string{"rtcctl", "-q", "probe-turn", "--user=u", "turn:a", "turn:b"}},
		{"double dash keeps the rest", []string{"rtcctl", "probe-turn", "x", "--", "--json"},
			[]string{"rtcctl", "probe-turn", "x", "--", "--json"}},
		{"subcommand", []string{"rtcctl", "report", "merge", "a.json", "-o", "m.json", "b.json"},
			[]string{"rtcctl", "report", "merge", "-o", "m.json", "a.json", "b.json"}},
		{"global flags after the command", []string{"rtcctl", "probe-turn", "turn:h", "--user", "u", "-q", "--verbose"},
			[]string{"rtcctl", "-q", "--verbose", "probe-turn", "--user", "u", "turn:h"}},
		{"unknown command untouched", []string{"rtcctl", "nope", "x", "--y"},
			[]string{"rtcctl", "nope", "x", "--y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := interspersed(cmds, tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
