package main

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

func ruleResetCommand() *cli.Command {
	return &cli.Command{
		Name:      "reset",
		Usage:     "zero the packet and byte counters of rules (all, or those named)",
		ArgsUsage: "[ID...]",
		Description: `Zeroes the counters rule list shows, of the rules named or of every rule,
as nft reset rules and iptables -Z do; the rules themselves are unchanged.
If any id is unknown, nothing is zeroed. A frame counted in the very
instant of the reset may survive it. The per-verdict counters of stats,
and xdpfw serve's metrics of them, are not reset; the metrics of rules
start again from zero, which Prometheus reads as a counter reset.

  xdpfw rule reset        # every rule
  xdpfw rule reset 3 7    # rules 3 and 7`,
		Action: func(c *cli.Context) error {
			ids, err := ruleIDs(c)
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				n, err := s.ResetCounters(ids)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "zeroed the counters of %s\n", count(n, "rule"))
				return nil
			})
		},
	}
}

// ruleIDs is the command's arguments as rule ids, each once, in the order
// given.
func ruleIDs(c *cli.Context) ([]uint32, error) {
	var ids []uint32
	for _, a := range c.Args().Slice() {
		id, err := strconv.ParseUint(a, 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%s: %q is not a rule id (a positive number, see: xdpfw rule list)", commandPath(c), a)
		}
		if !slices.Contains(ids, uint32(id)) {
			ids = append(ids, uint32(id))
		}
	}
	return ids, nil
}
