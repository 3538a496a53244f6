// Command xdpfw is an XDP packet filter: it attaches one BPF program to
// network interfaces and enforces an ordered, live-updatable ruleset at
// the driver, before the kernel allocates anything for the packet.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

func main() {
	// An invocation is short and most of its heap is one ruleset's tables,
	// live until it exits: collecting from a 4 MB heap up, as the default
	// GOGC=100 does, cost about 6 of the 40 ms of a rule add at 4095
	// rules. A GOGC set by the user still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	loader.LockWaitNotice = func(dir, holder string) {
		fmt.Fprintf(os.Stderr, "xdpfw: waiting for %s: %s holds it\n", dir, holder)
	}
	loader.MigrateNotice = func(dir string, from, to int, reach loader.Reach) {
		program := ""
		if reach.Of > 0 {
			program = "its " + strings.TrimPrefix(reach.String(), "the ") + ", "
		}
		fmt.Fprintf(os.Stderr, "xdpfw: moved the state in %s from layout %d to this build's %d: %sruleset, sets and counters kept\n", dir, from, to, program)
	}
	loader.GrowNotice = func(dir string, g loader.Growth) {
		what := "the ruleset outgrew its maps in " + dir
		if g.Finished {
			what = "finished replacing the maps in " + dir + " that an interrupted change had begun"
		}
		fmt.Fprintf(os.Stderr, "xdpfw: %s: %s (%d KiB)%s\n", what, g, g.Bytes/1024, replacedOn(g.Interfaces))
	}
	loader.LeftNotice = func(dir, iface string, prog uint32) {
		runs := fmt.Sprintf("runs XDP program id %d", prog)
		if prog == 0 {
			runs = "runs no XDP program"
		}
		fmt.Fprintf(os.Stderr, "xdpfw: %s %s, not the one of the state in %s: left as it is, xdpfw not filtering there (status lists it replaced; xdpfw attach %s --force takes it back, xdpfw detach %s forgets it)\n", iface, runs, dir, iface, iface)
	}
	loader.CTResizeNotice = func(dir string, flows, frags uint32, sockets int, ifaces loader.Reach) {
		if flows == layout.CtIdleEntries {
			fmt.Fprintf(os.Stderr, "xdpfw: the conntrack tables in %s are idle now, %d flows and %d fragmented datagrams (no rule and no drop policy reads connection state; the most recent records kept)%s\n", dir, flows, frags, replacedOn(ifaces))
			return
		}
		kept := "the most recent records kept"
		switch {
		case sockets > 0:
			kept += fmt.Sprintf(", and %d of this host's TCP connections it had no record of", sockets)
		case sockets < 0:
			kept += ", but not this host's TCP connections: the kernel would not list them (no tcp_diag)"
		}
		fmt.Fprintf(os.Stderr, "xdpfw: the conntrack tables in %s now hold %d flows and %d fragmented datagrams (%s)%s\n", dir, flows, frags, kept, replacedOn(ifaces))
	}
	loader.CTSeedNotice = func(dir string, n int) {
		fmt.Fprintf(os.Stderr, "xdpfw: %d of this host's established TCP connections put in the conntrack table in %s (made before xdpfw saw them)\n", n, dir)
	}
	app := newApp(os.Stdout, os.Stderr)
	// Process-wide, so here and not in newApp, which tests run
	// in-process.
	before := app.Before
	app.Before = func(c *cli.Context) error {
		prepareMemory(c.Args().First())
		if err := before(c); err != nil {
			return err
		}
		// Process-wide as well: the tests' in-process runs leave it 0.
		loader.LockWaitLimit, _ = lockWait(c)
		return nil
	}
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "xdpfw: %s\n", errorLine(err))
		os.Exit(1)
	}
}

// replacedOn is what a notice of maps replaced says of the interfaces
// given the program on the new ones (Reach.String): nothing when the
// state is attached to none (a first apply).
func replacedOn(r loader.Reach) string {
	if r.Of == 0 {
		return ""
	}
	return ", " + r.String()
}

// maxErrorLine is the most of an error message printed: errors may quote
// arguments and input (a 100 KB argument, a line of a file), which must
// not flood a terminal or a log.
const maxErrorLine = 300

// errorLine is err's message on one line, cut to maxErrorLine bytes
// (on a character boundary) with "…" when longer.
func errorLine(err error) string {
	msg := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(err.Error())
	if len(msg) <= maxErrorLine {
		return msg
	}
	cut := maxErrorLine
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// newApp builds the CLI; tests run it in-process with their own writers.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "xdpfw",
		Usage: "an XDP firewall: ordered rules enforced in the NIC driver, updated live",
		Description: `xdpfw attaches one BPF program to the interfaces you name and enforces one
shared ruleset there. Rules are ordered by priority (lower first, then by id)
and the first match decides; frames no rule matches get the default policy.
ARP always passes, and IPv6 neighbour discovery unless a rule names icmpv6,
so a drop policy cannot cut a host off its neighbours.

The program, maps and the live ruleset are pinned under the pin directory;
each invocation works on that state and changes it atomically: packets see
the old ruleset or the new one, never a mix. Detaching from the last
interface removes everything.`,
		Writer:    stdout,
		ErrWriter: stderr,
		// A repeated flag's value is one value: a capture's name may hold
		// a comma.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "pin-dir",
				Value:   loader.DefaultPinDir,
				EnvVars: []string{"XDPFW_PIN_DIR"},
				Usage:   "BPF filesystem `DIR` holding the live program, maps and ruleset",
			},
			&cli.StringFlag{
				Name:    "wait",
				EnvVars: []string{"XDPFW_WAIT"},
				Usage: "wait at most `T` for another xdpfw command to finish (seconds, or " +
					"a Go duration: 5, 1.5s, 200ms), then fail; by default a command waits as long as it must",
			},
		},
		Before:         refuseBadArgs,
		OnUsageError:   func(c *cli.Context, err error, _ bool) error { return flagError(err) },
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			attachCommand(), detachCommand(), statusCommand(), policyCommand(),
			ruleCommand(), setCommand(), statsCommand(), replayCommand(), applyCommand(), saveCommand(), captureCommand(), doctorCommand(),
			serveCommand(), topCommand(), ctCommand(), testCommand(),
		},
	}
	quietUsageErrors(app.Commands, "")
	helpCommandsWithSubcommands(app.Commands)
	return app
}

// helpCommandsWithSubcommands leaves the help command (help, h) to the
// commands that have subcommands (xdpfw rule help add): urfave/cli gives
// every command one, so where an argument is due its word was taken as
// help, and set create help printed the help and made nothing. --help
// stays everywhere.
func helpCommandsWithSubcommands(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.HideHelpCommand = len(cmd.Subcommands) == 0
		helpCommandsWithSubcommands(cmd.Subcommands)
	}
}

// quietUsageErrors makes a flag error one line naming the help to read,
// instead of the whole help text (urfave/cli's default for commands).
func quietUsageErrors(cmds []*cli.Command, parent string) {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%s: %w (see: xdpfw %s --help)", name, flagError(err), name)
		}
		quietUsageErrors(cmd.Subcommands, name)
	}
}

// flagNamed is a flag as the flag package's errors name it: one dash,
// whatever the operator typed.
var flagNamed = regexp.MustCompile(`(flag provided but not defined: |flag needs an argument: |for flag |for )-([[:alnum:]][[:alnum:]-]*)`)

// flagError is a flag error naming the flag as it is typed and documented,
// --json and -c: the flag package said "flag provided but not defined:
// -json" of --json, a flag that reads as a typo of the operator's.
func flagError(err error) error {
	msg := flagNamed.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := flagNamed.FindStringSubmatch(m)
		flag := "-" + sub[2]
		if len(sub[2]) > 1 {
			flag = "--" + sub[2]
		}
		if sub[1] == "flag provided but not defined: " {
			return "unknown flag " + flag
		}
		return sub[1] + flag
	})
	return errors.New(msg)
}

// withState opens the live state for one command and always releases it.
func withState(c *cli.Context, fn func(*loader.State) error) error {
	s, err := loader.Open(c.String("pin-dir"))
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// readState runs read on the state, open for the read only: a command
// prints what it read after, so a reader slower than its output (a
// pager, a stopped pipe) never holds the pin directory's lock, which
// every change and serve's reloads wait for.
func readState[T any](c *cli.Context, read func(*loader.State) (T, error)) (v T, err error) {
	err = withState(c, func(s *loader.State) error {
		v, err = read(s)
		return err
	})
	return v, err
}

// readTimed is readState saying when it read (a command that reads
// twice, an interval apart, must not hold the lock in between either).
func readTimed[T any](c *cli.Context, read func(*loader.State) (T, error)) (v T, at time.Time, err error) {
	err = withState(c, func(s *loader.State) error {
		v, err = read(s)
		at = time.Now()
		return err
	})
	return v, at, err
}

// needArgs fails with a usage line when a command got no arguments.
func needArgs(c *cli.Context, what string) error {
	if c.NArg() == 0 {
		return fmt.Errorf("%s: missing %s (usage: xdpfw %s %s)", commandPath(c), what, commandPath(c), c.Command.ArgsUsage)
	}
	return nil
}

// commandPath is the command as typed after xdpfw ("rule del"), where
// FullName is the subcommand's name alone ("del").
func commandPath(c *cli.Context) string {
	return strings.TrimPrefix(c.Command.HelpName, c.App.Name+" ")
}
