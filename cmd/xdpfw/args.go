package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// argsErrorKey is where interspersed leaves an error about the arguments
// in app.Metadata, for the app's Before (refuseBadArgs) to return.
const argsErrorKey = "xdpfw.argsError"

// refuseBadArgs is the app's Before: it fails the run with the error
// interspersed found in the arguments, if any, before any command runs.
func refuseBadArgs(c *cli.Context) error {
	if err, ok := c.App.Metadata[argsErrorKey].(error); ok {
		return err
	}
	_, err := lockWait(c)
	return err
}

// lockWait is the global --wait: how long a command waits for the pin
// directory's lock, 0 for as long as it must. A bare number is seconds,
// as iptables' --wait takes it.
func lockWait(c *cli.Context) (time.Duration, error) {
	v := strings.TrimSpace(c.String("wait"))
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if secs, ferr := strconv.ParseFloat(v, 64); err != nil && ferr == nil && secs <= math.MaxInt64/float64(time.Second) {
		d, err = time.Duration(secs*float64(time.Second)), nil
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--wait %q: not a time to wait (seconds, or a duration such as 1.5s or 200ms, above 0)", v)
	}
	return d, nil
}

// interspersed moves each command's flags in front of its positional
// arguments. urfave/cli stops reading flags at the first positional one,
// but operators write `xdpfw attach eth0 --mode generic`, as with ip(8).
//
// It also finds a flag given twice (urfave/cli would keep the last value
// silently: `--dport 22 --dport 23` is 23) and leaves the error in
// app.Metadata, which the app's Before returns: every command refuses it
// without a line of its own. Slice flags may be repeated.
func interspersed(app *cli.App, args []string) []string {
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
	delete(app.Metadata, argsErrorKey)
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
	var cmd *cli.Command
	seen := map[cli.Flag]string{}
	path := ""
	once := func(a string) {
		f := lookupFlag(flags, a)
		if f == nil || isSliceFlag(f) {
			return
		}
		as := a
		if j := strings.IndexByte(a, '='); j >= 0 {
			as = a[:j]
		}
		first, dup := seen[f]
		if !dup {
			seen[f] = as
			return
		}
		if _, done := app.Metadata[argsErrorKey]; done {
			return
		}
		what := as + " given twice"
		if first != as {
			what = fmt.Sprintf("%s given twice (as %s and %s)", "--"+f.Names()[0], first, as)
		}
		if path != "" {
			what = path + ": " + what
		}
		app.Metadata[argsErrorKey] = fmt.Errorf("%s: a flag takes one value", what)
	}
	// Global flags and the command path (e.g. "rule add").
	for i < len(args) {
		a := args[i]
		if isFlag(a) {
			globalAfterCommand(app, flags, path, a)
			once(a)
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
			if (a == "help" || a == "h") && i+1 < len(args) && !isFlag(args[i+1]) {
				return helpTopic(app, out, path, cmds, args[i+1:])
			}
			unknownCommand(app, path, a, len(cmds) > 0)
			break
		}
		out = append(out, a)
		i++
		cmd, flags, cmds = c, c.Flags, c.Subcommands
		path = strings.TrimSpace(path + " " + c.Name)
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil {
		return append(out, args[i:]...)
	}
	var named, positional []string
	help := false
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
		globalAfterCommand(app, flags, path, a)
		once(a)
		named = append(named, a)
		if takesValue(flags, a) && i+1 < len(args) {
			named = append(named, args[i+1])
			i++
		}
		help = help || a == "-h" || a == "--help"
	}
	out = append(out, named...)
	// Help asked for, the arguments do not count: urfave/cli took the
	// first for a subcommand to show, so attach eth0 --help said No help
	// topic for 'eth0'.
	if len(positional) > 0 && !help {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// globalAfterCommand leaves the error for a global flag a given after
// the command path (status --pin-dir X), where the command's own flags
// (flags) do not have it: urfave/cli reads global flags before the
// command only, and said "flag provided but not defined: -pin-dir".
func globalAfterCommand(app *cli.App, flags []cli.Flag, path, a string) {
	if _, done := app.Metadata[argsErrorKey]; done || path == "" || lookupFlag(flags, a) != nil {
		return
	}
	f := lookupFlag(app.Flags, a)
	if f == nil {
		return
	}
	name := "--" + f.Names()[0]
	value := ""
	if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() {
		// The usage's `NAME`, as the help shows it.
		value = " VALUE"
		if u := strings.Split(df.GetUsage(), "`"); len(u) >= 3 {
			value = " " + u[1]
		}
	}
	app.Metadata[argsErrorKey] = fmt.Errorf("%s: %s is a global flag: put it before the command (xdpfw %s%s %s)", path, name, name, value, path)
}

// helpTopic is the arguments for help on the command the words of
// topic name under path (help set create: set create --help). urfave/cli
// showed help for the first word alone (help set create was set's help)
// and said "No help topic for 'bogus'", exit 3, where one named nothing;
// now a word that names no command is refused as anywhere else. out is
// the arguments up to help; words after the first flag are left alone.
func helpTopic(app *cli.App, out []string, path string, cmds []*cli.Command, topic []string) []string {
	for j, w := range topic {
		if isFlag(w) {
			break
		}
		c := findCommand(cmds, w)
		if c == nil && (w == "help" || w == "h") && len(cmds) > 0 {
			// help help: urfave/cli's own page of its help command, the
			// one under path (help set help: set help help); out has
			// the words before w already.
			return append(append(out, "help"), topic[j:]...)
		}
		if c == nil && len(cmds) == 0 {
			if _, done := app.Metadata[argsErrorKey]; !done {
				app.Metadata[argsErrorKey] = fmt.Errorf("%s has no subcommands, %q is none (see: xdpfw %s --help)", path, w, path)
			}
			return append(out, topic...)
		}
		if c == nil {
			unknownCommand(app, path, w, true)
			return append(out, topic...)
		}
		out = append(out, w)
		path = strings.TrimSpace(path + " " + c.Name)
		cmds = c.Subcommands
	}
	return append(out, "--help")
}

// unknownCommand leaves the error for a, which names no command where
// one is due (path's subcommands, or the app's): urfave/cli said "No
// help topic for 'bogus'", as if help had been asked for. The help
// commands (`xdpfw help rule`, `xdpfw rule help`) are known to
// urfave/cli only once it runs.
func unknownCommand(app *cli.App, path, a string, due bool) {
	if _, done := app.Metadata[argsErrorKey]; done || !due || a == "help" || a == "h" {
		return
	}
	see := strings.TrimSpace("xdpfw " + path)
	err := fmt.Errorf("unknown command %q (see: %s --help)", a, see)
	if path != "" {
		err = fmt.Errorf("%s: %w", path, err)
	}
	app.Metadata[argsErrorKey] = err
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether the flag a (like --mode or --mode=x) reads
// the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	f := lookupFlag(flags, a)
	_, isBool := f.(*cli.BoolFlag)
	return f != nil && !isBool
}

// lookupFlag returns the flag a (like -f, --mode or --mode=x) names, or nil.
func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name := strings.TrimLeft(a, "-")
	if j := strings.IndexByte(name, '='); j >= 0 {
		name = name[:j]
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// isSliceFlag reports whether f takes a value each time it is given.
func isSliceFlag(f cli.Flag) bool {
	switch f := f.(type) {
	case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.UintSliceFlag,
		*cli.Uint64SliceFlag, *cli.Float64SliceFlag:
		return true
	case *cli.GenericFlag:
		_, ok := f.Value.(interface{ repeatable() })
		return ok
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
