package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show per-verdict counters, in all and per interface",
		Description: `Counts every frame the program saw, by verdict: pass and drop (all
frames), and of those: default (no rule matched), malformed (failed header
checks, dropped) and neighbor (ARP or neighbour discovery passed because no
rule named it, or a DHCP reply to this host's request that the drop policy
would have dropped). Then the same per attached interface, since it was
attached.

Then the packets coming in placed in each connection-tracking state (new,
established, related, invalid, untracked), counted while some rule has a
--ct-state condition; xdpfw ct stats has the table's own counters.

Interfaces count in one of 256 slots, by ifindex modulo 256: two attached
interfaces whose ifindexes share a slot share their counters, and the table
says so. Per-rule counters are in rule list.

--interfaces prints the per-interface table alone. --json prints the
totals, the states as ct-new, ct-established, ... (their bytes are 0:
states count packets only); --interfaces --json the per-interface
counters.`,
		Flags: []cli.Flag{jsonFlag(), &cli.BoolFlag{Name: "interfaces", Usage: "the per-interface counters instead of the totals"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "stats"); err != nil {
				return err
			}
			var (
				counters map[string]loader.Counter
				ifaces   []loader.IfaceCounters
				states   map[string]uint64
			)
			err := withState(c, func(s *loader.State) (err error) {
				if counters, err = s.VerdictCounters(); err != nil {
					return err
				}
				if ifaces, err = s.InterfaceCounters(); err != nil {
					return err
				}
				states, err = s.CTStateCounters()
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if c.Bool("interfaces") {
					return printJSON(c, ifaces)
				}
				for name, n := range states {
					counters["ct-"+name] = loader.Counter{Packets: n}
				}
				return printJSON(c, counters)
			}
			tw := newTable(c)
			if c.Bool("interfaces") {
				// The header even with no interface, as rule
				// list's with no rule.
				printIfaceCounters(tw, ifaces)
				return tw.Flush()
			}
			fmt.Fprintln(tw, "VERDICT\tPACKETS\tBYTES")
			for _, name := range loader.StatNames {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", name, counters[name].Packets, counters[name].Bytes)
			}
			fmt.Fprintln(tw, "\nCT STATE\tPACKETS")
			for _, name := range loader.CTStateNames {
				fmt.Fprintf(tw, "%s\t%d\n", name, states[name])
			}
			if len(ifaces) > 0 {
				fmt.Fprintln(tw)
				printIfaceCounters(tw, ifaces)
			}
			return tw.Flush()
		},
	}
}

// printIfaceCounters is the per-interface table: packets by verdict, a
// row per counter slot, naming the interfaces that share it.
func printIfaceCounters(tw table, ifaces []loader.IfaceCounters) {
	fmt.Fprintln(tw, "INTERFACE\t"+strings.ToUpper(strings.Join(loader.StatNames[:], "\t"))+"\t(packets)")
	for _, ic := range ifaces {
		name := ic.Iface
		if len(ic.Shared) > 0 {
			name += " (+" + strings.Join(ic.Shared, ", +") + ")"
		}
		fmt.Fprint(tw, name)
		for _, stat := range loader.StatNames {
			fmt.Fprintf(tw, "\t%d", ic.Counters[stat].Packets)
		}
		fmt.Fprintln(tw)
	}
}
