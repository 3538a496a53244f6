package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show interfaces, mode, program id, rule count and policy",
		Description: `EGRESS is where the connection-tracking learner runs on each interface's
outgoing packets: tcx (Linux 6.6 and later), clsact (a filter on the
interface's clsact qdisc, before 6.6), or none when it is not there.

Fails (exit 1) when something needs the operator: an attached interface
that is gone or no longer runs xdpfw's program, or that lacks the egress
learner (EGRESS none), an xdpfw program running on an interface the pin
directory does not list (an orphan), or a capture left on by a process
that is gone. Each problem names the command that settles it; --json
lists them under "problems".
With nothing pinned it fails too; --json then prints "loaded": false.
When the state cannot be read (a pin missing, another build's state),
--json prints the pin directory, "loaded": true, and the error as
"error".`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "status"); err != nil {
				return err
			}
			st, err := loader.ReadStatus(c.String("pin-dir"))
			if errors.Is(err, loader.ErrNotAttached) {
				// Nothing pinned, but xdpfw may still run somewhere. It
				// fails (ErrNotAttached, or the first orphan), with --json
				// after a document saying nothing is loaded, for a script
				// to read.
				switch {
				case c.Bool("json"):
					if err := printJSON(c, st); err != nil {
						return err
					}
				case len(st.Problems) > 0:
					fmt.Fprintf(c.App.Writer, "pin directory: %s (no state)\n", st.PinDir)
					printProblems(c, st.Problems)
				}
				if len(st.Problems) == 0 {
					return err
				}
				return problemsError(st.Problems)
			}
			if err != nil {
				if c.Bool("json") {
					// A document all the same: a script reads the reason,
					// where empty input failed its parse.
					if perr := printJSON(c, unreadStatus(st, err)); perr != nil {
						return perr
					}
				}
				return err
			}
			if c.Bool("json") {
				if err := printJSON(c, st); err != nil {
					return err
				}
				return problemsError(st.Problems)
			}
			fmt.Fprintf(c.App.Writer, "pin directory: %s\npolicy:        %s\nrules:         %d\n", st.PinDir, st.Policy, st.Rules)
			// The table's size, not the flows it holds (ct stats counts
			// those): "262144 flows" was read as that many tracked.
			if st.CTIdle {
				fmt.Fprintf(c.App.Writer, "conntrack:     idle, a table of %d flows (no rule and no drop policy reads it)\n", st.CTFlows)
			} else {
				fmt.Fprintf(c.App.Writer, "conntrack:     a table of %d flows (xdpfw ct stats: the flows in it)\n", st.CTFlows)
			}
			if len(st.Interfaces) == 0 {
				fmt.Fprintln(c.App.Writer, "interfaces:    none: the ruleset is not enforced yet (run: xdpfw attach IFACE)")
			} else {
				tw := newTable(c)
				fmt.Fprintln(tw, "INTERFACE\tIFINDEX\tMODE\tPROGRAM\tEGRESS\tSTATE")
				for _, a := range st.Interfaces {
					state, prog := "attached", fmt.Sprint(a.ProgID)
					if !a.Attached {
						state = "missing (interface gone, in another namespace, or program replaced)"
					}
					if a.ProgID == 0 {
						prog = "-" // nothing of ours is attached there to name
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", a.Iface, a.Ifindex, a.Mode, prog, a.Egress, state)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if st.Capture != nil && st.Capture.Running {
				fmt.Fprintf(c.App.Writer, "capture:       running (pid %d)\n", st.Capture.Owner)
			}
			printProblems(c, st.Problems)
			return problemsError(st.Problems)
		},
	}
}

// statusFailure is status --json's document when the status could not be
// read: Loaded is left out when the failure came before a state could be
// looked for (not root, say), as false would say that nothing is pinned.
type statusFailure struct {
	PinDir string `json:"pin_dir"`
	Loaded *bool  `json:"loaded,omitempty"`
	Error  string `json:"error"`
}

func unreadStatus(st loader.Status, err error) statusFailure {
	f := statusFailure{PinDir: st.PinDir, Error: err.Error()}
	if st.Loaded {
		f.Loaded = &st.Loaded
	}
	return f
}

func printProblems(c *cli.Context, problems []loader.Problem) {
	if len(problems) == 0 {
		return
	}
	fmt.Fprintln(c.App.Writer, "problems:")
	for _, p := range problems {
		fmt.Fprintf(c.App.Writer, "  %s: %s (run: %s)\n", p.Kind, p.Detail, p.Fix)
	}
}

// problemsError makes status fail when it found problems: one line, the
// first problem and its fix.
func problemsError(problems []loader.Problem) error {
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("status: %s (run: %s)", problems[0].Detail, problems[0].Fix)
	}
	return fmt.Errorf("status: %s (run: %s); %d more problems listed by status", problems[0].Detail, problems[0].Fix, len(problems)-1)
}
