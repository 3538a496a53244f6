package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "attach xdpfw to interfaces",
		ArgsUsage: "IFACE...",
		Description: `Loads the program (the first time) and attaches it to each interface.
Every interface shares the one live ruleset. Without one (xdpfw apply
before the first attach sets it) the ruleset is empty with policy pass, so
attaching changes nothing until rules are added.

Modes: native runs in the driver (fastest; veth, most 10G+ NICs), generic
runs in the stack and works on any device, auto tries native and falls back
to generic with a warning. An XDP program xdpfw did not attach is never
replaced without --force, and one held by a BPF link (bpftool link lists
them) not even with it: the kernel leaves its removal to the link's owner.

Each interface also gets the connection-tracking egress learner, a TC
program that learns the flows this host sends (see xdpfw ct --help): on a
tcx link from Linux 6.6, pinned beside the program; before, a filter named
xdpfw_egress on the interface's clsact qdisc (added if the interface has
none; another's qdisc and filters are left alone). If it cannot be
attached, neither is the XDP program.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "auto", Usage: "`MODE`: auto, native or generic"},
			&cli.BoolFlag{Name: "force", Usage: "replace an XDP program xdpfw did not attach"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "interface"); err != nil {
				return err
			}
			mode, err := loader.ParseMode(c.String("mode"))
			if err != nil {
				return err
			}
			var (
				atts     []loader.Attachment
				warnings []string
			)
			// A state created for nothing is removed again on failure; a
			// state found (say with a ruleset applied before the first
			// attach) is kept.
			err = loader.Provision(c.String("pin-dir"), func(s *loader.State) (err error) {
				atts, warnings, err = s.AttachAll(c.Args().Slice(), mode, c.Bool("force"))
				return err
			})
			for _, w := range warnings {
				fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: %s\n", w)
			}
			for _, att := range atts {
				printAttached(c, att)
			}
			return err
		},
	}
}

func printAttached(c *cli.Context, att loader.Attachment) {
	fmt.Fprintf(c.App.Writer, "attached to %s (%s mode, program id %d; connection tracking learns on %s egress)\n", att.Iface, att.Mode, att.ProgID, att.Egress)
}

func detachCommand() *cli.Command {
	return &cli.Command{
		Name:      "detach",
		Usage:     "detach xdpfw from interfaces (the last detach removes the ruleset)",
		ArgsUsage: "IFACE... | --ifindex N | --all | --orphans",
		Description: `Removes the program, and its connection-tracking egress learner (the tcx
link, or xdpfw's clsact filter: the qdisc stays), from each interface. When
no interface is left, the pinned program, maps, rules and counters are
removed too; save the ruleset first if you want it back. Every name is
checked first: one xdpfw is not attached to changes nothing. An interface
deleted (or moved to another namespace) while attached is forgotten by its
name, its ifindex a new interface's or not (that interface left as it is),
unless an interface of that name is here again and attached: then that one
is detached, and the gone one's record stays (a warning says so).

--ifindex N detaches the interface of that ifindex, or forgets its record
if it is gone: what status names for a missing interface, as its name may
be a new interface's.

--all detaches from every interface and removes the pin directory. If the
state there cannot be opened (a map missing, a stray pin, another build's
state) it removes only what is provably xdpfw's: the programs named as
xdpfw's on the interfaces the state lists, and the pins named as xdpfw's
maps and programs. Anything else is left in place, and named.

--orphans removes xdpfw programs from the interfaces of this network
namespace that the pin directory does not list (it was removed, or its
record was): what status reports as orphans.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "detach from every interface and remove all state"},
			&cli.BoolFlag{Name: "orphans", Usage: "detach xdpfw programs that the pin directory does not list"},
			&cli.GenericFlag{Name: "ifindex", Value: &decimal{min: 1, max: math.MaxInt32}, Usage: "detach the interface of ifindex `N`, or forget its record if it is gone"},
		},
		Action: func(c *cli.Context) error {
			given := 0
			for _, b := range []bool{c.Bool("all"), c.Bool("orphans"), c.IsSet("ifindex"), c.NArg() > 0} {
				if b {
					given++
				}
			}
			// Two of them are not read as one: which was meant is unknown.
			switch {
			case given == 0:
				return fmt.Errorf("detach: name interfaces or give --ifindex, --all or --orphans (usage: xdpfw detach IFACE... | --ifindex N | --all | --orphans)")
			case given > 1:
				return fmt.Errorf("detach: interface names, --ifindex, --all and --orphans each go alone: give one (usage: xdpfw detach IFACE... | --ifindex N | --all | --orphans)")
			}
			dir := c.String("pin-dir")
			switch {
			case c.Bool("all"):
				return detachAll(c, dir)
			case c.Bool("orphans"):
				orphans, err := loader.DetachOrphans(dir)
				for _, o := range orphans {
					fmt.Fprintf(c.App.Writer, "detached orphaned xdpfw program %d from %s\n", o.ProgID, o.Iface)
				}
				if err == nil && len(orphans) == 0 {
					fmt.Fprintln(c.App.Writer, "no orphaned xdpfw program in this network namespace")
				}
				return err
			case c.IsSet("ifindex"):
				return withState(c, func(s *loader.State) error {
					// Last with an error: the record went, removing the
					// pins after it failed; said before the error.
					rec, last, err := s.DetachIfindex(int(decimalValue(c, "ifindex")))
					if err != nil && !last {
						return err
					}
					if rec.Attached {
						fmt.Fprintf(c.App.Writer, "detached from %s (ifindex %d)\n", rec.Iface, rec.Ifindex)
					} else {
						fmt.Fprintf(c.App.Writer, "removed the record of %s (ifindex %d): xdpfw was no longer running there\n", rec.Iface, rec.Ifindex)
					}
					if err != nil {
						return err
					}
					printLast(c, s, last)
					return nil
				})
			}
			return withState(c, func(s *loader.State) error {
				// What was done is said before an error: the
				// interface is detached even when removing the pins
				// after it failed.
				done, err := s.DetachEach(c.Args().Slice())
				for i, d := range done {
					switch {
					case d.Detached && d.Replaced != 0:
						fmt.Fprintf(c.App.Writer, "removed the record of %s (ifindex %d): xdpfw was no longer running there (XDP program id %d, not xdpfw's, left in place)\n", d.Iface, d.Ifindex, d.Replaced)
					case d.Detached:
						fmt.Fprintf(c.App.Writer, "detached from %s\n", d.Iface)
					}
					for _, a := range d.Forgot {
						fmt.Fprintf(c.App.Writer, "removed the record of %s (ifindex %d): its interface is gone\n", a.Iface, a.Ifindex)
					}
					for _, w := range d.Warnings {
						fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: %s\n", w)
					}
					if err == nil || i < len(done)-1 {
						printLast(c, s, d.Last)
					}
				}
				return err
			})
		},
	}
}

func printLast(c *cli.Context, s *loader.State, last bool) {
	if last {
		fmt.Fprintf(c.App.Writer, "no interface left: removed %s\n", s.Dir())
	}
}

func detachAll(c *cli.Context, dir string) error {
	r, err := loader.RemoveState(dir)
	warn := func(format string, args ...any) {
		fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: "+format+"\n", args...)
	}
	if r.Broken != "" {
		warn("the state in %s cannot be opened (%s): removing only what is xdpfw's", dir, r.Broken)
	}
	for _, name := range r.Detached {
		fmt.Fprintf(c.App.Writer, "detached from %s\n", name)
	}
	if r.Unlisted != "" {
		warn("the interfaces xdpfw was attached to cannot be read (%s): its programs may still run (see: xdpfw status; remove them: xdpfw detach --orphans)", r.Unlisted)
	}
	for _, name := range r.Removed {
		fmt.Fprintf(c.App.Writer, "removed %s\n", filepath.Join(dir, name))
	}
	if len(r.Left) > 0 {
		warn("left %s in %s: not xdpfw's, so not removed (remove it yourself)", strings.Join(r.Left, ", "), dir)
	}
	if r.DirRemoved {
		fmt.Fprintf(c.App.Writer, "removed %s\n", dir)
	}
	return err
}
