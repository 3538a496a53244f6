package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

// The help texts' values and command lines are there to be typed or pasted
// into a shell, and an interactive bash takes a "!" outside single quotes
// for history: rule add --tcp-flags syn,!ack (or "syn,!ack") stops at
// "!ack: event not found". So every word of a help text holding a "!" is
// single-quoted.
func TestHelpBangQuoted(t *testing.T) {
	eachHelpPage(t, func(path string, _ *cli.Command, page string) {
		for _, line := range strings.Split(page, "\n") {
			for _, word := range strings.Fields(line) {
				if i := strings.IndexByte(word, '!'); i >= 0 && !singleQuoted(word, i) {
					t.Errorf("xdpfw %s --help: %q has a ! a shell expands (quote it: '...'): %s", path, word, strings.TrimSpace(line))
				}
			}
		}
	})
}

// eachHelpPage calls check with every command's path ("rule add"), the
// command and its --help page, as the CLI prints it.
func eachHelpPage(t *testing.T, check func(path string, c *cli.Command, page string)) {
	t.Helper()
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			p := append(append([]string{}, path...), c.Name)
			var out bytes.Buffer
			if err := newApp(&out, io.Discard).Run(append(append([]string{"xdpfw"}, p...), "--help")); err != nil {
				t.Fatalf("%s --help: %v", strings.Join(p, " "), err)
			}
			check(strings.Join(p, " "), c, out.String())
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(io.Discard, io.Discard).Commands)
}

// singleQuoted: word's byte i lies between a ' opening the word and the
// next '.
func singleQuoted(word string, i int) bool {
	end := strings.IndexByte(word[1:], '\'') + 1
	return word[0] == '\'' && end > i
}

// TestCTStatsHelpUntracked: ct stats --help says what is counted as
// untracked as the datapath places it: besides frames that are not IP,
// ICMPv6 neighbour discovery and multicast listener (MLD) messages.
func TestCTStatsHelpUntracked(t *testing.T) {
	var out bytes.Buffer
	if err := newApp(&out, io.Discard).Run([]string{"xdpfw", "ct", "stats", "--help"}); err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"untracked: not IP", "neighbour discovery", "multicast listener (MLD) messages"} {
		if !strings.Contains(help, want) {
			t.Errorf("ct stats --help does not say %q:\n%s", want, out.String())
		}
	}
}

// TestReplaySummaryHelp: --summary's line says the frames not run are
// listed too, as they are (TestReplayNotRunListed): it said only the
// per-rule and per-verdict summary was printed.
func TestReplaySummaryHelp(t *testing.T) {
	var out bytes.Buffer
	if err := newApp(&out, io.Discard).Run([]string{"xdpfw", "replay", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--summary ") && !strings.Contains(line, "frames not run") {
			t.Errorf("replay --help: %s: does not say the frames not run are listed", strings.TrimSpace(line))
		}
	}
}

// TestHelpOneDefault: a flag's line in a help page gives its default
// once: urfave/cli adds "(default: ...)" to a flag's usage by itself, so a
// usage saying its own default ("(default: keep enforcing)") read
// "(default: keep enforcing) (default: false)".
func TestHelpOneDefault(t *testing.T) {
	eachHelpPage(t, func(path string, _ *cli.Command, page string) {
		for _, line := range strings.Split(page, "\n") {
			if strings.Count(line, "(default:") > 1 {
				t.Errorf("xdpfw %s --help: %s", path, strings.TrimSpace(line))
			}
		}
	})
}

// TestHelpProseWidth: a help page's prose lines, indented three columns,
// fit an 80-column terminal as the rest do; example lines (indented in
// the text) may run longer, being commands to copy whole.
func TestHelpProseWidth(t *testing.T) {
	eachHelpPage(t, func(path string, c *cli.Command, _ string) {
		for _, line := range strings.Split(c.Description, "\n") {
			if n := utf8.RuneCountInString(line); n > 77 && !strings.HasPrefix(line, " ") {
				t.Errorf("xdpfw %s --help: a prose line of %d characters (at most 77): %s", path, n, line)
			}
		}
	})
}

// TestHelpReplacementReach: no help says a replacement of the program (a
// conntrack resize, a growth of the maps, a migration) gives it to every
// interface: an interface whose program another replaced keeps that one,
// and the notice says on how many of the interfaces it went.
func TestHelpReplacementReach(t *testing.T) {
	eachHelpPage(t, func(path string, c *cli.Command, _ string) {
		prose := strings.Join(strings.Fields(c.Description), " ")
		if i := strings.Index(prose, "program to every interface"); i >= 0 {
			t.Errorf("xdpfw %s --help says the program goes to every interface: ...%s...", path, prose[max(0, i-60):min(len(prose), i+80)])
		}
	})
}
