package main

import (
	"fmt"

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
replaced without --force.`,
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
				fmt.Fprintf(c.App.Writer, "attached to %s (%s mode, program id %d)\n", att.Iface, att.Mode, att.ProgID)
			}
			return err
		},
	}
}

func detachCommand() *cli.Command {
	return &cli.Command{
		Name:      "detach",
		Usage:     "detach xdpfw from interfaces (the last detach removes the ruleset)",
		ArgsUsage: "IFACE... | --all",
		Description: `Removes the program from each interface. When no interface is left, the
pinned program, maps, rules and counters are removed too; save the ruleset
first if you want it back.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "detach from every interface and remove all state"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("all") == (c.NArg() > 0) {
				return fmt.Errorf("detach: name interfaces or give --all (usage: xdpfw detach IFACE... | --all)")
			}
			return withState(c, func(s *loader.State) error {
				if c.Bool("all") {
					atts, err := s.DetachAll()
					for _, a := range atts {
						fmt.Fprintf(c.App.Writer, "detached from %s\n", a.Iface)
					}
					if err == nil {
						fmt.Fprintf(c.App.Writer, "removed %s\n", s.Dir())
					}
					return err
				}
				for _, name := range c.Args().Slice() {
					last, err := s.Detach(name)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "detached from %s\n", name)
					if last {
						fmt.Fprintf(c.App.Writer, "no interface left: removed %s\n", s.Dir())
					}
				}
				return nil
			})
		},
	}
}
