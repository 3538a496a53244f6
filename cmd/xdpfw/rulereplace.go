package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func ruleReplaceCommand() *cli.Command {
	return &cli.Command{
		Name:      "replace",
		Usage:     "put a new rule in the place of a live one, atomically, keeping its id",
		ArgsUsage: "ID",
		Description: `Replaces the rule ID with the rule the flags describe, in one atomic
change: the rule keeps its id, and its priority unless --priority is given,
so it keeps its place in the evaluation order. Frames see the old rule or
the new one, never neither, as they could between a rule del and a rule
add. The flags are rule add's (xdpfw rule add --help): conditions left out
match anything, --action is required. The rule's counters start from zero,
as iptables -R and nft replace rule do, unless only its comment or --log
changed (a new rule the same as the old changes nothing). An unknown ID or
a bad flag changes nothing.

  xdpfw rule replace 7 --proto tcp --dport 2222 --action drop`,
		Flags: ruleAddFlags(),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "rule id"); err != nil {
				return err
			}
			if c.NArg() > 1 {
				return fmt.Errorf("rule replace: unexpected argument %q (one rule id; conditions are flags, e.g. --dport 22)", c.Args().Get(1))
			}
			id, err := strconv.ParseUint(c.Args().First(), 10, 32)
			if err != nil || id == 0 {
				return fmt.Errorf("rule replace: %q is not a rule id (a positive number, see: xdpfw rule list)", c.Args().First())
			}
			r, err := ruleFromFlags(c)
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				if err := s.ReplaceRule(uint32(id), r, !c.IsSet("priority")); err != nil {
					return err
				}
				warnUnknownInterfaces(c, &rules.Ruleset{Rules: []rules.Rule{r}})
				fmt.Fprintf(c.App.Writer, "replaced rule %d\n", id)
				return nil
			})
		},
	}
}
