package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show interfaces, mode, program id, rule count and policy",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			return withState(c, func(s *loader.State) error {
				rs, err := s.Ruleset()
				if err != nil {
					return err
				}
				atts, err := s.Attachments()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, map[string]any{
						"pin_dir": s.Dir(), "policy": rs.Policy.String(),
						"rules": len(rs.Rules), "interfaces": atts,
					})
				}
				fmt.Fprintf(c.App.Writer, "pin directory: %s\npolicy:        %s\nrules:         %d\n", s.Dir(), rs.Policy, len(rs.Rules))
				tw := newTable(c)
				fmt.Fprintln(tw, "INTERFACE\tIFINDEX\tMODE\tPROGRAM\tSTATE")
				for _, a := range atts {
					state := "attached"
					if !a.Attached {
						state = "missing (interface gone, in another namespace, or program replaced)"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", a.Iface, a.Ifindex, a.Mode, a.ProgID, state)
				}
				return tw.Flush()
			})
		},
	}
}

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:      "policy",
		Usage:     "set the default action for frames no rule matches",
		ArgsUsage: "pass|drop",
		Description: `Sets the default policy, atomically. With drop, only what rules pass gets
through; ARP and IPv6 neighbour discovery still pass unless a rule names
them, so the host keeps its neighbours.`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("policy: want exactly one of pass or drop (usage: xdpfw policy pass|drop)")
			}
			a, err := rules.ParseAction(c.Args().First())
			if err != nil {
				return fmt.Errorf("policy: %w", err)
			}
			return withState(c, func(s *loader.State) error {
				if err := s.SetPolicy(a); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "policy %s\n", a)
				return nil
			})
		},
	}
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show per-verdict counters",
		Description: `Counts every frame the program saw, by verdict: pass and drop (all
frames), and of those: default (no rule matched), malformed (failed header
checks, dropped) and neighbor (ARP or neighbour discovery passed because no
rule named it).`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			return withState(c, func(s *loader.State) error {
				counters, err := s.VerdictCounters()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, counters)
				}
				tw := newTable(c)
				fmt.Fprintln(tw, "VERDICT\tPACKETS\tBYTES")
				for _, name := range loader.StatNames {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", name, counters[name].Packets, counters[name].Bytes)
				}
				return tw.Flush()
			})
		},
	}
}
