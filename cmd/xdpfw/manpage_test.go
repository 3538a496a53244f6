package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/manpage"
)

// manPageFile is the manual page the package and make install ship,
// written from the commands' help by `make man`.
const manPageFile = "../../dist/xdpfw.8"

// manPage is what the page says beyond the commands' help.
var manPage = manpage.Page{
	Section: "8",
	Manual:  "System Manager's Manual",
	Extra: []manpage.Section{
		{Title: "Environment", Text: `XDPFW_PIN_DIR is the pin directory when --pin-dir is not given.

XDPFW_WAIT is the longest wait for another xdpfw command's lock when
--wait is not given (seconds, or a duration such as 200ms).

GOGC, when set, is the Go collector's setting for every command (xdpfw
sets 400 otherwise: a command is short and its heap is one ruleset).`},
		{Title: "Files", Text: `/sys/fs/bpf/xdpfw
    the default pin directory: the program, its maps, the ruleset, the sets
    and the lock every command takes to change them. The BPF filesystem must
    be mounted on /sys/fs/bpf (xdpfw doctor says so).

/etc/xdpfw/xdpfw.yaml
    the configuration xdpfw.service keeps applied (xdpfw serve --config).`},
		{Title: "Exit status", Text: `0 when the command did what it was asked; 1, with one line on standard
error, when it did not (bad input, a missing interface, a kernel that
cannot run xdpfw), and the live state is then as it was. status exits 1
when something needs the operator (the problems it lists), doctor when a
check fails, replay when a capture cannot be read or --verify finds a
disagreement, replay --diff and apply --check with --fail-on-change when
a frame's verdict would change, test with --expect when the verdict is the
other one, and test when the program and the reference model disagree.`},
		{Title: "See also", Text: `xdp-filter(8), nft(8), bpftool(8), ip-link(8), tc(8), systemd.service(5).
README.md in /usr/share/doc/xdpfw tells the rest: ruleset files,
connection tracking, running it as a service, replaying captures.`},
	},
}

// TestManPage: the shipped manual page is the one the help gives now
// (XDPFW_WRITE_MAN=1, as make man sets it, writes it instead), and
// man(1) reads it without a warning.
func TestManPage(t *testing.T) {
	page := manpage.Render(newApp(io.Discard, io.Discard), manPage)
	if os.Getenv("XDPFW_WRITE_MAN") == "1" {
		if err := os.WriteFile(manPageFile, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shipped, err := os.ReadFile(manPageFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(shipped) != page {
		t.Fatalf("%s is not the help as it is now: run make man", manPageFile)
	}
	if _, err := exec.LookPath("groff"); err != nil {
		return
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z", manPageFile)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff reading %s: %v\n%s", manPageFile, err, out)
	}
	for _, want := range []string{".SS \"xdpfw rule add\"", `\fB\-\-pin\-dir\fR \fIDIR\fR`, ".SH EXIT STATUS"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestManPageEnvironment: every environment variable a flag reads is
// named in the page's ENVIRONMENT section, which an operator reads to
// learn what the environment changes.
func TestManPageEnvironment(t *testing.T) {
	var env string
	for _, s := range manPage.Extra {
		if s.Title == "Environment" {
			env = s.Text
		}
	}
	var walk func(flags []cli.Flag, cmds []*cli.Command)
	walk = func(flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			if df, ok := f.(cli.DocGenerationFlag); ok {
				for _, v := range df.GetEnvVars() {
					if !strings.Contains(env, v) {
						t.Errorf("the page's ENVIRONMENT does not name %s (--%s)", v, f.Names()[0])
					}
				}
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	app := newApp(io.Discard, io.Discard)
	walk(app.Flags, app.Commands)
}

// TestManPageExitStatus: every flag whose use is to set the exit status
// (its usage begins "exit non-zero") is named in the page's EXIT STATUS,
// which a script's author reads to learn when xdpfw fails.
func TestManPageExitStatus(t *testing.T) {
	var exit string
	for _, s := range manPage.Extra {
		if s.Title == "Exit status" {
			exit = s.Text
		}
	}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				df, ok := f.(cli.DocGenerationFlag)
				name := "--" + f.Names()[0]
				if ok && strings.HasPrefix(df.GetUsage(), "exit non-zero") && !strings.Contains(exit, name) {
					t.Errorf("the page's EXIT STATUS does not name %s %s", strings.TrimSpace(path+" "+c.Name), name)
				}
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("xdpfw", newApp(io.Discard, io.Discard).Commands)
}
