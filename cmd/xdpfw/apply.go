package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "replace the whole live ruleset (policy and rules) with a file, atomically",
		Description: `Reads a ruleset file (see README: ruleset files), checks all of it, and
switches the live policy, sets and rules to it in one atomic change: packets
see the old ruleset or the new one, never a mix. If the file has any error,
nothing changes. FILE - reads standard input. The file's sets replace the
live ones: a live set the file does not name is removed, and a set's
elements become the file's (only the difference is written).

Works before any interface is attached: the ruleset is then enforced from
the first attach on (detaching the last interface removes it again). An
interface still running an orphaned xdpfw program (its pins removed while
attached) enforces the ruleset it had: apply warns, naming it.

Rules are matched to live rules by definition (priority, conditions,
action). A rule whose definition is unchanged keeps its counters, and its
id unless an earlier rule of the same priority had to get a new one (ids
order rules of equal priority, and never go back). So 'xdpfw save | xdpfw
apply -f -' changes nothing. A comment is not part of the definition: a
rule whose comment alone changed keeps its counters and takes the comment.

The connection-tracking table keeps its flows through every apply. A file
whose conntrack: max-flows differs from the table's size makes a table of
that size first, with the flows copied into it, and gives the program to
the interfaces running xdpfw's (its id changes): one whose program another
replaced keeps that, and stderr says on how many of the interfaces it went.
The rules switch after it. Without max-flows the size follows whether the
ruleset reads connection state (a ct-state rule, or policy drop): the
whole 262144 flows if it does, an idle 1000 (the most recent) if not
(xdpfw ct --help).

A file that lists interfaces (interfaces: [{name: eth0, mode: native}])
also sets the attachments: xdpfw is attached to each listed interface in
its mode (auto when left out) and detached from every interface the list
does not name; interfaces: [] detaches from all and keeps the ruleset
pinned. The listed interfaces are checked first (they exist, no foreign
XDP program), so a typo changes nothing; an attach that still fails (the
driver has no native XDP) leaves the new ruleset applied and the other
interfaces attached and detached as listed, and says so (on a first
apply with no interface attached, nothing stays and it says that). A
file without the key leaves the attachments alone.

With --check, the file is parsed, validated and compiled without touching
the live state (no root needed). Run as root, it also checks the file's
interfaces: as apply does (each is here and Ethernet, and with a live
state no foreign XDP program runs there), and with a live state the
file's sets against the live ones (a family changed, more sets than the
slots hold beside the live ones).

A set keeps its family under its name: a file that gives a live set
another family is refused (serve's file too). Give the set another name
in the file: the apply makes it, moves the rules to it in the same commit
and removes the old one (a later apply may take the old name back the
same way). A set no live rule uses may instead be removed first (xdpfw
set destroy NAME) for the apply to make it anew.

With --check --against-capture CAPTURE (the flag may be repeated, and more
captures may follow as arguments), apply also shows what the file would do
to that traffic, still changing nothing: the report of 'xdpfw replay
--diff --rules FILE CAPTURE...', against the live ruleset (or, with nothing
applied, every frame passing). It needs root, like replay. Like nft -c, a
check never applies: read the report, then apply without --check.
--fail-on-change makes the exit status non-zero when a frame would change.

  xdpfw apply --check -f new.yaml --against-capture /var/tmp/edge.pcap
  xdpfw apply -f new.yaml

The file must say its policy (policy: pass or policy: drop): a file
without one, such as an empty or cut-off file, is refused. FILE must be a
regular file (not a device or a pipe) of at most 64 MiB, standard input
at most as much (--max-size SIZE sets the limit), and each set's file:
at most 256 MiB (or SIZE if more: --max-size never lowers it). A set's
file: that holds 0.0.0.0/0 or ::/0 is refused unless
--allow-default-route; elements written in the ruleset file are taken as
written.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "ruleset `FILE` (- for standard input)"},
			&cli.BoolFlag{Name: "check", Usage: "only check the file; change nothing"},
			&cli.StringSliceFlag{Name: "against-capture", Usage: "with --check: show what the file would change on the frames of `CAPTURE` (repeatable; more captures may follow as arguments)"},
			failOnChangeFlag(),
			rulesetMaxSizeFlag("the file"),
			allowDefaultRouteFlag("a set's file: (refused otherwise)"),
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			captures := append(c.StringSlice("against-capture"), c.Args().Slice()...)
			switch {
			case c.NArg() > 0 && !c.IsSet("against-capture"):
				return fmt.Errorf("apply: unexpected argument %q (the file is given with -f: xdpfw apply -f %s)", c.Args().First(), c.Args().First())
			case !c.IsSet("file"):
				return fmt.Errorf("apply: missing -f FILE (usage: xdpfw apply -f FILE|- [--check])")
			case len(captures) > 0 && !c.Bool("check"):
				return fmt.Errorf("apply: --against-capture goes with --check: look first (xdpfw apply --check -f FILE --against-capture CAPTURE), then apply without both")
			case c.IsSet("fail-on-change") && len(captures) == 0:
				return fmt.Errorf("apply: --fail-on-change goes with --against-capture")
			}
			name, rs, err := readRulesetFile(c, c.String("file"))
			if err != nil {
				return err
			}
			if c.Bool("check") {
				// Compile proves the file fits the datapath's tables, not
				// just the rule language.
				if _, err := classifier.Compile(rs); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if err := loader.CheckApply(c.String("pin-dir"), rs); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if len(captures) > 0 {
					return checkAgainstCaptures(c, name, rs, captures)
				}
				if c.Bool("json") {
					return printJSON(c, map[string]any{"file": name, "policy": rs.Policy.String(), "rules": len(rs.Rules)})
				}
				fmt.Fprintf(c.App.Writer, "%s: ok: %s, policy %s\n", name, count(len(rs.Rules), "rule"), rs.Policy)
				return nil
			}
			res, ch, err := applyRuleset(c.String("pin-dir"), rs)
			// What was attached or detached is said even when a later
			// attach failed: it stays so.
			for _, w := range ch.Warnings {
				fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: %s\n", w)
			}
			if !c.Bool("json") {
				for _, att := range ch.Attached {
					printAttached(c, att)
				}
				for _, name := range ch.Detached {
					fmt.Fprintf(c.App.Writer, "detached from %s\n", name)
				}
			}
			if err != nil {
				return err
			}
			warnUnknownInterfaces(c, rs)
			if c.Bool("json") {
				out := map[string]any{
					"policy": rs.Policy.String(), "rules": len(rs.Rules),
					"unchanged": res.Unchanged, "added": res.Added, "removed": res.Removed, "committed": res.Committed,
					"sets_created": res.SetsCreated, "sets_removed": res.SetsRemoved, "sets_changed": res.SetsChanged,
					"set_elements_added": res.ElementsAdded, "set_elements_removed": res.ElementsRemoved,
				}
				if rs.Interfaces != nil {
					out["attached"], out["detached"] = ch.Attached, ch.Detached
					if ch.Attached == nil {
						out["attached"] = []loader.Attachment{}
					}
					if ch.Detached == nil {
						out["detached"] = []string{}
					}
				}
				return printJSON(c, out)
			}
			if !res.Committed {
				fmt.Fprintf(c.App.Writer, "unchanged: %s, policy %s\n", count(len(rs.Rules), "rule"), rs.Policy)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "applied %s (%d unchanged, %d added, %d removed), policy %s%s\n",
				count(len(rs.Rules), "rule"), res.Unchanged, res.Added, res.Removed, rs.Policy, setChanges(res))
			return nil
		},
	}
}

// setChanges is what an apply did to the sets, for its line: nothing
// when it left them alone. A change of sets alone read as "applied 2
// rules (2 unchanged, 0 added, 0 removed)", as if nothing had changed.
func setChanges(res loader.ApplyResult) string {
	if res.SetsCreated+res.SetsRemoved+res.SetsChanged == 0 {
		return ""
	}
	return fmt.Sprintf("; sets: %d made, %d removed, %d changed (%s added, %d removed)",
		res.SetsCreated, res.SetsRemoved, res.SetsChanged, count(res.ElementsAdded, "element"), res.ElementsRemoved)
}

// checkAgainstCaptures is apply --check --against-capture: the file is
// good, and this is what it would change on the captures against the
// live ruleset. Nothing is applied.
func checkAgainstCaptures(c *cli.Context, name string, rs *rules.Ruleset, captures []string) error {
	rep, err := diffCaptures(c, name, rs, againstLive, captures)
	if err != nil {
		return err
	}
	if rep.Frames == 0 && len(rep.Errors) > 0 {
		return nothingRead(c, rep.Errors, len(captures))
	}
	err = printReport(c, map[string]any{"file": name, "policy": rs.Policy.String(), "rules": len(rs.Rules), "diff": rep}, func() {
		fmt.Fprintf(c.App.Writer, "%s: ok: %s, policy %s; nothing applied\n\n", name, count(len(rs.Rules), "rule"), rs.Policy)
		printDiff(c, rep)
	})
	if err != nil {
		return err
	}
	return diffExit(c, rep, len(captures))
}

// applyRuleset makes rs live, creating the state if there is none yet
// (a failed apply leaves nothing it created behind).
func applyRuleset(dir string, rs *rules.Ruleset) (res loader.ApplyResult, ch loader.IfaceChange, err error) {
	err = loader.Provision(dir, func(s *loader.State) (err error) {
		res, ch, err = s.ApplyFile(rs)
		return err
	})
	return res, ch, err
}

func saveCommand() *cli.Command {
	return &cli.Command{
		Name:  "save",
		Usage: "print the live ruleset as a ruleset file, or write it to a file with -o",
		Description: `Prints the live sets, rules and policy in the ruleset file format, rules in
evaluation order, the policy last: a copy cut short (a full disk, a broken
pipe) has none, and apply refuses it. 'xdpfw apply -f' of the output
changes nothing: the same rules keep the same ids and counters.

With -o FILE the ruleset is written to a temporary file in FILE's
directory, synced and renamed over FILE (over its target, when FILE is a
symlink): FILE is the old ruleset or the new one, never empty or half
written. Without live state save fails and writes nothing (a shell
redirection would still leave an empty file). -o - prints to standard
output, as apply -f - reads standard input.

  xdpfw save -o /etc/xdpfw.yaml    # and at boot: xdpfw apply -f /etc/xdpfw.yaml`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` atomically instead of standard output (- is standard output)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("save: unexpected argument %q (save prints to standard output, or writes -o FILE)", c.Args().First())
			}
			if err := blankFlag(c, "file name", "leave the flag out to print to standard output", "output"); err != nil {
				return err
			}
			var text []byte
			err := withState(c, func(s *loader.State) error {
				rs, err := s.RulesetWithSets()
				if err != nil {
					return err
				}
				text = rules.FormatYAML(rs)
				return nil
			})
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			if len(text) == 0 { // FormatYAML always writes the policy
				return fmt.Errorf("save: the live ruleset formatted to nothing; nothing written")
			}
			// "-" is standard output, as apply's -f - is its input: a
			// file named - in the working directory was written instead.
			if out := c.String("output"); out != "" && out != "-" {
				if err := writeFileAtomic(out, text); err != nil {
					return fmt.Errorf("save: %w", err)
				}
				return nil
			}
			_, err = c.App.Writer.Write(text)
			return err
		},
	}
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory is written, synced and renamed over path, and the directory
// synced, so path is the old contents or the new, whatever happens. A new
// file gets mode 0644; an existing one keeps its mode.
func writeFileAtomic(path string, data []byte) (err error) {
	// A symlink's target is what gets replaced (the config a package
	// or a config manager links in place), not the link.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("%s: a symlink whose target cannot be found (%v); not replacing it", path, err)
		}
		path = real
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s); not replacing it", path, input.Kind(fi.Mode()))
		}
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	if err := writeBeside(path, dir, mode, data); err != nil {
		return err // named by path (writeBeside)
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("%s: syncing the directory: %w", dir, derr)
		}
	}
	return nil
}

// writeBeside writes data to a temporary file in dir, of mode mode,
// syncs it and renames it over path; on an error it removes it.
func writeBeside(path, dir string, mode os.FileMode, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: cannot make a file in %s: %w", path, dir, bareError(err))
	}
	// Errors name FILE, not the temporary file, which the operator never
	// gave and which is removed.
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("%s: %w", path, bareError(err))
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// bareError is err without the path and operation a file system error
// carries (open, write, rename of the temporary file): the errno.
func bareError(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}
