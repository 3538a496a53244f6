package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func ruleCommand() *cli.Command {
	return &cli.Command{
		Name:  "rule",
		Usage: "add, replace, delete and list rules, and reset their counters",
		Subcommands: []*cli.Command{
			ruleAddCommand(), ruleReplaceCommand(), ruleDelCommand(), ruleListCommand(), ruleResetCommand(),
		},
	}
}

func ruleAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "add a rule; prints its id",
		Description: `Adds one rule to the live ruleset, atomically. Every condition given must
hold for the rule to match; a condition left out matches anything.

  --src/--dst CIDR     an IPv4 or IPv6 prefix or address (both of one family),
              @SET     or @NAME: the address is in the named set (xdpfw set)
  --family F           ipv4 or ipv6
  --proto P            tcp, udp, icmp, icmpv6 or a protocol number 0-255,
                       found after any IPv6 extension headers: 0, 43 and
                       44, headers it skips, are refused
  --fragment WHICH     none (not a fragment), first, non-first or any
  --sport/--dport P    a port or an inclusive range LO-HI; TCP and UDP only
                       (without --proto the rule matches both), never a
                       non-first fragment
  --tcp-flags FLAGS    'syn,!ack' (SYN set, ACK clear) or nftables-style
                       "syn / syn,ack"; flags fin syn rst psh ack urg ecn cwr.
                       nftables reads "syn,ack" as either set, xdpfw as both,
                       so it is refused: write "syn,ack / syn,ack" or two rules
  --icmp-type T        ICMP type by name (echo-request, ...) or number;
  --icmp-code C        --icmpv6-type/--icmpv6-code for ICMPv6. Each implies
                       its protocol. ND (133-137) is only ever matched by
                       rules naming icmpv6
  --vlan ID            outer VLAN id 0-4095, or "untagged"
  --inner-vlan ID      inner VLAN id of a double-tagged frame
  --dscp D             0-63 or ef, cs0-cs7, af11-af43
  --ttl N|LO-HI        TTL (IPv4) or hop limit (IPv6)
  --length N|LO-HI     frame length in bytes, Ethernet header included
  --iface NAME         input interface, for a ruleset on several interfaces
  --ct-state STATES    connection-tracking state, a comma list of new,
                       established, related, invalid (xdpfw ct --help)
  --comment TEXT       a note for people, shown by rule list, save, replay
                       and the metrics of xdpfw serve; one line, at most 128
                       bytes. It changes nothing the rule does, and apply
                       keeps the counters of a rule whose comment alone
                       changed
  --log                a line in xdpfw serve's log per frame the rule
                       decides (at most 1000 a second)

Rules run by --priority (lower first, default 1000), then by id, which
grows with each addition. An interactive shell takes a '!' outside single
quotes for its history, so single-quote a value holding one. Examples:

  xdpfw rule add --proto tcp --dport 22 --src 192.0.2.0/24 --action pass \
      --comment "ssh from the office"
  xdpfw rule add --proto tcp --dport 22 --action drop
  xdpfw rule add --tcp-flags 'syn,!ack' --dport 80 --ttl 0-2 --action drop
  xdpfw rule add --fragment non-first --vlan 100 --action drop`,
		Flags: ruleAddFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("rule add: unexpected argument %q (conditions are flags, e.g. --dport 22)", c.Args().First())
			}
			r, err := ruleFromFlags(c)
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				id, err := s.AddRule(r)
				if err != nil {
					return err
				}
				warnUnknownInterfaces(c, &rules.Ruleset{Rules: []rules.Rule{r}})
				fmt.Fprintln(c.App.Writer, id)
				return nil
			})
		},
	}
}

// ruleAddFlags: priority and action, then one flag per condition.
func ruleAddFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.GenericFlag{Name: "priority", Value: &decimal{n: rules.DefaultPriority, max: rules.MaxPriority}, Usage: "`N` from 0 to 65535, in decimal; lower runs first"},
		// Not Required: urfave/cli answers a missing required flag with the
		// whole help on standard output, where a script reads the new id.
		&cli.StringFlag{Name: "action", Usage: "`ACTION`: pass or drop (required)"},
	}
	for _, cond := range rules.Conditions {
		flags = append(flags, &cli.StringFlag{Name: cond.Key, Usage: "`" + cond.Arg + "`: " + cond.Usage})
	}
	return append(flags, &cli.StringFlag{Name: rules.CommentKey, Usage: "`TEXT`: a note for people (one line, at most 128 bytes)"},
		&cli.BoolFlag{Name: rules.LogKey, Usage: "send the frames the rule decides to xdpfw serve's log (at most 1000 a second)"})
}

func ruleFromFlags(c *cli.Context) (rules.Rule, error) {
	if !c.IsSet("action") {
		return rules.Rule{}, fmt.Errorf("%s: missing --action pass or --action drop", commandPath(c))
	}
	p := c.Generic("priority").(*decimal).n
	conds := map[string]string{}
	for _, cond := range rules.Conditions {
		if c.IsSet(cond.Key) {
			conds[cond.Key] = c.String(cond.Key)
		}
	}
	if c.IsSet(rules.CommentKey) {
		conds[rules.CommentKey] = c.String(rules.CommentKey)
	}
	if c.Bool(rules.LogKey) {
		conds[rules.LogKey] = "true"
	}
	r, err := rules.NewRule(uint32(p), c.String("action"), conds)
	var fe *rules.FieldError
	if errors.As(err, &fe) {
		return r, fmt.Errorf("--%s: %w", fe.Key, fe.Err)
	}
	return r, err
}

func ruleDelCommand() *cli.Command {
	return &cli.Command{
		Name:      "del",
		Usage:     "delete rules by id",
		ArgsUsage: "ID...",
		Description: `Deletes the rules in one atomic change. If any id is unknown, nothing is
deleted. Ids are never reused.`,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "rule id"); err != nil {
				return err
			}
			ids, err := ruleIDs(c) // each said once
			if err != nil {
				return err
			}
			return withState(c, func(s *loader.State) error {
				if err := s.DeleteRules(ids); err != nil {
					return err
				}
				for _, id := range ids {
					fmt.Fprintf(c.App.Writer, "deleted rule %d\n", id)
				}
				return nil
			})
		},
	}
}

// ruleRow is one rule with its counters, as `rule list --json` prints it.
func ruleListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the live rules in evaluation order, with counters",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "rule list"); err != nil {
				return err
			}
			var (
				policy rules.Action
				rows   []loader.RuleRow
			)
			err := withState(c, func(s *loader.State) (err error) {
				policy, rows, err = s.RuleList()
				return err
			})
			if err != nil {
				return err
			}
			// Printed once the lock is let go (withState): a reader
			// slower than the list (a pager) holds only this process.
			if c.Bool("json") {
				return printJSON(c, map[string]any{"policy": policy.String(), "rules": rows})
			}
			tw := newTable(c)
			show := slices.ContainsFunc(rows, func(r loader.RuleRow) bool { return r.Comment != "" })
			fmt.Fprintln(tw, "ID\tPRIO\tMATCH\tACTION\tPACKETS\tBYTES"+commentCell(show, "COMMENT"))
			for _, r := range rows {
				action := r.Action
				if r.Log {
					action += " log"
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d%s\n", r.ID, r.Priority, r.Match, action, r.Packets, r.Bytes, commentCell(show, r.Comment))
			}
			fmt.Fprintf(tw, "-\t-\tdefault policy\t%s\t\t\n", policy)
			return tw.Flush()
		},
	}
}
