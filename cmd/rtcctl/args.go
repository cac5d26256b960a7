package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed reorders a command line so that a command's flags come before its
// positional arguments. urfave/cli v2 stops parsing flags at the first positional
// argument, so `rtcctl probe-turn turn:h:3478 --user u` would otherwise treat --user as an
// argument. Only the first level command is reordered; "--" ends flag handling.
func interspersed(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Skip global flags (all boolean) to find the command name.
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := findCommand(cmds, args[i])
	if cmd == nil {
		return args
	}
	// Sub-commands (report merge) are reordered from their own name on.
	rest := args[i+1:]
	prefix := append([]string{}, args[:i+1]...)
	if len(cmd.Subcommands) > 0 && len(rest) > 0 {
		if sub := findCommand(cmd.Subcommands, rest[0]); sub != nil {
			prefix = append(prefix, rest[0])
			rest = rest[1:]
			cmd = sub
		}
	}
	boolFlags := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				boolFlags[n] = true
			}
		}
	}
	own := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			own[n] = true
		}
	}
	var globals, flags, pos []string
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if globalBoolFlags[name] && !own[name] {
			// A global flag written after the command (rtcctl call ... -q) goes
			// before the command name, where urfave/cli looks for it.
			globals = append(globals, a)
			continue
		}
		flags = append(flags, a)
		if !hasValue && !boolFlags[name] && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append([]string{}, prefix[:i]...)
	out = append(out, globals...)
	out = append(out, prefix[i:]...)
	out = append(out, flags...)
	return append(out, pos...)
}

// globalBoolFlags are the app-level flags (all boolean) accepted anywhere on the line.
var globalBoolFlags = map[string]bool{"quiet": true, "q": true, "verbose": true}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
