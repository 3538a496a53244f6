package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

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
