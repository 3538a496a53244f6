package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show interfaces, mode, program id, rule count and policy",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			return withState(c, func(s *loader.State) error {
				st, err := s.Status()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, st)
				}
				fmt.Fprintf(c.App.Writer, "pin directory: %s\npolicy:        %s\nrules:         %d\n", st.PinDir, st.Policy, st.Rules)
				if len(st.Interfaces) == 0 {
					fmt.Fprintln(c.App.Writer, "interfaces:    none: the ruleset is not enforced yet (run: xdpfw attach IFACE)")
					return nil
				}
				tw := newTable(c)
				fmt.Fprintln(tw, "INTERFACE\tIFINDEX\tMODE\tPROGRAM\tSTATE")
				for _, a := range st.Interfaces {
					state, prog := "attached", fmt.Sprint(a.ProgID)
					if !a.Attached {
						state = "missing (interface gone, in another namespace, or program replaced)"
					}
					if a.ProgID == 0 {
						prog = "-" // nothing of ours is attached there to name
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.Iface, a.Ifindex, a.Mode, prog, state)
				}
				return tw.Flush()
			})
		},
	}
}
