package main

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestREADMECommandFlags: the README's CLI reference gives each command's
// synopsis in its table's first column; every flag a synopsis names is
// one the command takes, and every flag a command takes is named by one
// of its synopses (rule add's conditions by [CONDITION...]), and every
// command has one. An operator copies these lines.
func TestREADMECommandFlags(t *testing.T) {
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, _ := strings.Cut(string(text), "\n## CLI reference\n")
	ref, _, _ = strings.Cut(ref, "\n## ")
	span := regexp.MustCompile("`([^`]*)`")
	flag := regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z0-9-]*)`)
	app := newApp(io.Discard, io.Discard)
	named := map[*cli.Command]map[string]bool{} // the flags the README gives a command
	var leaves []*cli.Command
	path := map[*cli.Command]string{}
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			path[c] = strings.TrimSpace(parent + " " + c.Name)
			if len(c.Subcommands) == 0 {
				leaves = append(leaves, c)
			}
			walk(path[c], c.Subcommands)
		}
	}
	walk("", app.Commands)
	conditions := map[string]bool{}
	for _, c := range rules.Conditions {
		conditions[c.Key] = true
	}

	for _, row := range strings.Split(ref, "\n") {
		if !strings.HasPrefix(row, "| `xdpfw ") {
			continue
		}
		end := strings.Index(row, "` | ")
		if end < 0 {
			t.Fatalf("README row without a second column: %.80s", row)
		}
		for _, m := range span.FindAllStringSubmatch(row[:end+1], -1) {
			synopsis := strings.TrimPrefix(strings.ReplaceAll(m[1], `\|`, "|"), "xdpfw ")
			words := strings.Fields(synopsis)
			cmds := findCommands(app.Commands, words)
			if len(cmds) == 0 {
				t.Errorf("README synopsis %q names no command", m[1])
			}
			for _, c := range cmds {
				if named[c] == nil {
					named[c] = map[string]bool{}
				}
				if (c.Name == "add" || c.Name == "replace") && strings.Contains(synopsis, "[CONDITION...]") {
					for k := range conditions {
						named[c][k] = true
					}
				}
				for _, f := range flag.FindAllStringSubmatch(synopsis, -1) {
					name := strings.TrimLeft(f[1], "-")
					named[c][name] = true
					if !slices.ContainsFunc(c.Flags, func(fl cli.Flag) bool { return slices.Contains(fl.Names(), name) }) {
						t.Errorf("README: %q: xdpfw %s has no flag %s", m[1], path[c], f[1])
					}
				}
			}
		}
	}
	for _, c := range leaves {
		if named[c] == nil {
			t.Errorf("README: no synopsis of xdpfw %s", path[c])
			continue
		}
		for _, fl := range c.Flags {
			names := fl.Names()
			if names[0] != "help" && !slices.ContainsFunc(names, func(n string) bool { return named[c][n] }) {
				t.Errorf("README: no synopsis of xdpfw %s names its --%s", path[c], names[0])
			}
		}
	}
}

// findCommands gives the commands a synopsis's first words name: a
// command, or a subcommand of one ("set add|del": both).
func findCommands(cmds []*cli.Command, words []string) []*cli.Command {
	if len(words) == 0 {
		return nil
	}
	var out []*cli.Command
	for _, name := range strings.Split(words[0], "|") {
		for _, c := range cmds {
			if c.Name != name {
				continue
			}
			if len(c.Subcommands) == 0 {
				out = append(out, c)
			} else {
				out = append(out, findCommands(c.Subcommands, words[1:])...)
			}
		}
	}
	return out
}
