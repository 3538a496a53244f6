package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The flags of every command that reads a ruleset file or a blocklist.
func maxSizeFlag(what string, def int64) cli.Flag {
	return &cli.StringFlag{Name: "max-size", Usage: fmt.Sprintf("read at most `SIZE` bytes of %s (K, M, G suffixes; default %s)", what, input.FormatSize(def))}
}

// rulesetMaxSizeFlag is --max-size of a command that reads a ruleset
// file (what names it): it bounds that file, and raises the limit of each
// set file the ruleset names, never lowering it (readRulesetFile).
func rulesetMaxSizeFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "max-size", Usage: fmt.Sprintf("read at most `SIZE` bytes of %s (K, M, G suffixes; default %s); each set's file: at most %s, or SIZE if more",
		what, input.FormatSize(input.MaxRuleset), input.FormatSize(input.MaxBlocklist))}
}

// allowDefaultRouteFlag is --allow-default-route: where says where
// 0.0.0.0/0 and ::/0 are refused without it.
func allowDefaultRouteFlag(where string) cli.Flag {
	return &cli.BoolFlag{Name: "allow-default-route", Usage: "take 0.0.0.0/0 and ::/0 in " + where}
}

// maxSize is the --max-size flag's value, or def when it is not given.
func maxSize(c *cli.Context, def int64) (int64, error) {
	if !c.IsSet("max-size") {
		return def, nil
	}
	n, err := input.ParseSize(c.String("max-size"))
	if err != nil {
		return 0, fmt.Errorf("%s: --max-size: %w", commandPath(c), err)
	}
	return n, nil
}

// readInput reads the whole file a command takes, or standard input for
// "-", at most max bytes: inputs are read whole, before any lock is taken,
// so a slow pipe never holds the live state. Named files must be regular
// files (a device or a FIFO is refused, not read). This is the one place
// the CLI opens its inputs; name is what errors call the input.
func readInput(c *cli.Context, path string, max int64) (name string, data []byte, err error) {
	// -f "$UNSET": said so, not "stat : no such file or directory".
	if path == "" {
		return "", nil, fmt.Errorf("%s: empty file name (- reads standard input)", commandPath(c))
	}
	if path == "-" {
		data, err = input.Read("<stdin>", c.App.Reader, max)
		return "<stdin>", data, err
	}
	data, err = input.ReadFile(path, max)
	return path, data, err
}

// readRulesetFile parses a ruleset file, or standard input for "-" (a
// set's `file:` is then relative to the working directory). The returned
// name is what errors call the file. --max-size, when the command has it
// and it is given, bounds the ruleset file, otherwise input.MaxRuleset
// does; a set file's limit is input.MaxBlocklist, or --max-size when that
// is more: a size given to take a large ruleset file must not refuse a
// set file the default takes.
func readRulesetFile(c *cli.Context, path string) (string, *rules.Ruleset, error) {
	max, err := maxSize(c, input.MaxRuleset)
	if err != nil {
		return "", nil, err
	}
	name, data, err := readInput(c, path, max)
	if err != nil {
		return name, nil, err
	}
	setOpt := blocklist.Options{AllowDefaultRoute: c.Bool("allow-default-route")}
	if c.IsSet("max-size") && max > input.MaxBlocklist {
		setOpt.MaxSize = max
	}
	opt := blocklist.RulesetOptionsWith(setOpt)
	if path != "-" {
		opt.Dir = filepath.Dir(path)
	}
	rs, err := rules.ParseYAML(name, data, opt)
	if err != nil {
		return name, nil, err
	}
	for _, w := range rs.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: %v\n", &w.FileError)
	}
	return name, rs, nil
}
