package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// openInput opens the file a command reads, or standard input for "-";
// name is what errors call it.
func openInput(c *cli.Context, path string) (name string, r io.ReadCloser, err error) {
	if path == "-" {
		return "<stdin>", io.NopCloser(c.App.Reader), nil
	}
	f, err := os.Open(path)
	return path, f, err
}

// readRulesetFile parses a ruleset file, or standard input for "-" (a
// set's `file:` is then relative to the working directory). The returned
// name is what errors call the file.
func readRulesetFile(c *cli.Context, path string) (string, *rules.Ruleset, error) {
	name, r, err := openInput(c, path)
	if err != nil {
		return name, nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return name, nil, err
	}
	opt := blocklist.RulesetOptions()
	if path != "-" {
		opt.Dir = filepath.Dir(path)
	}
	rs, err := rules.ParseYAML(name, data, opt)
	return name, rs, err
}
