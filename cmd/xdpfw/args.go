package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves each command's flags in front of its positional
// arguments. urfave/cli stops reading flags at the first positional one,
// but operators write `xdpfw attach eth0 --mode generic`, as with ip(8).
func interspersed(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
	var cmd *cli.Command
	// Global flags and the command path (e.g. "rule add").
	for i < len(args) {
		a := args[i]
		if isFlag(a) {
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break
		}
		out = append(out, a)
		i++
		cmd, flags, cmds = c, c.Flags, c.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil {
		return append(out, args[i:]...)
	}
	var named, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !isFlag(a) {
			positional = append(positional, a)
			continue
		}
		named = append(named, a)
		if takesValue(flags, a) && i+1 < len(args) {
			named = append(named, args[i+1])
			i++
		}
	}
	out = append(out, named...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether the flag a (like --mode or --mode=x) reads
// the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
