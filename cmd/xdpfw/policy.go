package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:      "policy",
		Usage:     "show or set the default action for frames no rule matches",
		ArgsUsage: "[pass|drop]",
		Description: `Without an argument, prints the default policy (policy drop; --json
prints {"policy": "drop"}).

With one, sets it, atomically. With drop, only what rules pass gets
through; ARP still passes, and IPv6 neighbour discovery unless a rule
names icmpv6, so the host keeps its neighbours (and DHCP replies to its own
requests pass, so it keeps its lease). Switching to drop warns on stderr
when no rule passes anything, or none passes ct-state established (the
replies to this host's own connections).`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("policy: want at most one of pass or drop (usage: xdpfw policy [pass|drop] [--json])")
			}
			if c.NArg() == 0 {
				a, err := readState(c, (*loader.State).Policy)
				if err != nil {
					return err
				}
				return printPolicy(c, a)
			}
			a, err := rules.ParseAction(c.Args().First())
			if err != nil {
				return fmt.Errorf("policy: %w", err)
			}
			return withState(c, func(s *loader.State) error {
				warnings, err := s.SetPolicy(a)
				if err != nil {
					return err
				}
				if err := printPolicy(c, a); err != nil {
					return err
				}
				for _, w := range warnings {
					fmt.Fprintf(c.App.ErrWriter, "xdpfw: warning: policy drop: %s\n", w)
				}
				return nil
			})
		},
	}
}

// printPolicy prints the policy as both forms of the command end: the
// one read, or the one just set.
func printPolicy(c *cli.Context, a rules.Action) error {
	return printReport(c, struct {
		Policy string `json:"policy"`
	}{a.String()}, func() { fmt.Fprintf(c.App.Writer, "policy %s\n", a) })
}
