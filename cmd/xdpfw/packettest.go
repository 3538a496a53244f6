package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// packetFlags are the rule conditions that describe a packet for test,
// in the rule language's spelling (each parsed as the condition is), with
// what each says of one packet.
var packetFlags = map[string]struct{ arg, usage string }{
	"src":         {"ADDR", "source address (default 192.0.2.1 or 2001:db8::1)"},
	"dst":         {"ADDR", "destination address (default 198.51.100.1 or 2001:db8::2)"},
	"family":      {"FAMILY", "ipv4 or ipv6, for the default addresses (default ipv4)"},
	"proto":       {"PROTO", "L4 protocol: tcp, udp, icmp, icmpv6 or 0-255 (default tcp)"},
	"sport":       {"PORT", "source port, TCP or UDP (default 49152)"},
	"dport":       {"PORT", "destination port, TCP or UDP (default 80)"},
	"tcp-flags":   {"FLAGS", "the TCP flags set, e.g. syn,ack (default syn)"},
	"icmp-type":   {"TYPE", "ICMP type, name or 0-255 (default echo-request)"},
	"icmp-code":   {"CODE", "ICMP code 0-255 (default 0)"},
	"icmpv6-type": {"TYPE", "ICMPv6 type, name or 0-255 (default echo-request)"},
	"icmpv6-code": {"CODE", "ICMPv6 code 0-255 (default 0)"},
	"vlan":        {"ID", "802.1Q VLAN id 0-4095 (default untagged)"},
	"dscp":        {"DSCP", "DSCP 0-63 or a name: ef, cs0-cs7, af11-af43 (default 0)"},
	"ttl":         {"TTL", "TTL or hop limit (default 64)"},
	"length":      {"BYTES", "frame length in bytes, Ethernet header included (default the least its headers take)"},
}

// testResult is test's answer, as --json prints it.
type testResult struct {
	Packet  string `json:"packet"`
	Iface   string `json:"iface,omitempty"` // --iface: where it arrives
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Rule    uint32 `json:"rule,omitempty"`
	Match   string `json:"match,omitempty"`
	Comment string `json:"comment,omitempty"`
	CT      string `json:"ct,omitempty"`
	// Mismatch is where the reference model disagrees (a bug: say so).
	Mismatch string `json:"mismatch,omitempty"`
}

func testCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "rules", Usage: "use the ruleset in YAML `FILE` (- for standard input) instead of the live one"},
		rulesetMaxSizeFlag("the ruleset file (--rules)"),
		allowDefaultRouteFlag("a set's file: (refused otherwise)"),
		&cli.StringFlag{Name: "iface", Usage: "the packet arrives on interface `NAME` (for iface rules; default lo)"},
		&cli.StringFlag{Name: "expect", Usage: "exit non-zero unless the verdict is `VERDICT` (pass or drop)"},
		jsonFlag(),
	}
	for _, cond := range rules.Conditions { // in the rule language's order
		if f, ok := packetFlags[cond.Key]; ok {
			flags = append(flags, &cli.StringFlag{Name: cond.Key, Usage: "`" + f.arg + "`: " + f.usage})
		}
	}
	return &cli.Command{
		Name:  "test",
		Usage: "run one packet you describe through the real program: which rule decides it",
		Description: `Builds the packet the flags describe and runs it through a private copy
of the xdpfw program with BPF_PROG_TEST_RUN, as replay runs a capture's
frames, and through the reference model; prints the packet, the verdict
and the rule that decided it. Nothing live changes and no counter moves.
The question before a change ("does ssh from the office still pass?")
without a capture that holds such a packet.

The flags are rule add's conditions, each with one value: an address,
not a prefix or a set; a port, TTL or length, not a range. --tcp-flags
lists the flags set ("syn,ack"). What is left out takes a default,
printed with the packet: documentation addresses (192.0.2.1 to
198.51.100.1, or 2001:db8::1 to 2001:db8::2), a TCP SYN from port 49152
to port 80, TTL 64, untagged, DSCP 0, the least length. The packet is
the first of its flow: a ct-state rule sees it new, or invalid when no
flow begins so (a TCP packet but a SYN, an ICMP reply or error); replay
a capture of the whole conversation for more.

Without --rules the live ruleset is used; with --rules FILE the ruleset
file. --expect pass or drop makes the exit status say whether the verdict
is that one, for a check in a script or before a deploy:

  xdpfw test --src 203.0.113.5 --proto tcp --dport 22
  xdpfw test --rules new.yaml --src 10.1.2.3 --dport 22 --expect pass

A disagreement between the program and the reference model is printed
and fails the command (it is a bug in one of them: please report it).`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("test: unexpected argument %q (the packet is described by flags, e.g. --dport 22)", c.Args().First())
			}
			expect := strings.ToLower(c.String("expect"))
			if c.IsSet("expect") && expect != "pass" && expect != "drop" {
				return fmt.Errorf("test: --expect %q: want pass or drop", c.String("expect"))
			}
			pkt, err := packetFromFlags(c)
			if err != nil {
				return err
			}
			frame, err := pkt.Frame()
			if err != nil {
				return fmt.Errorf("test: %w", err)
			}
			var out testResult
			err = withInstance(c, true, func(t *loader.Instance, rs *rules.Ruleset) error {
				res, err := replay.Test(t, rs, frame, c.String("iface"))
				if err != nil {
					return err
				}
				if res.Skipped != "" {
					return fmt.Errorf("test: the program cannot take the packet: %s", res.Skipped)
				}
				out = testResult{Packet: pkt.String(), Iface: c.String("iface"), Verdict: res.Verdict, Reason: res.Reason, Rule: res.RuleID, CT: res.CT, Mismatch: res.Mismatch}
				if i := slices.IndexFunc(rs.Rules, func(r rules.Rule) bool { return r.ID == res.RuleID }); i >= 0 && res.RuleID != 0 {
					out.Match, out.Comment = rs.Rules[i].Match.String(), rs.Rules[i].Comment
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := printReport(c, out, func() { printTest(c, out) }); err != nil {
				return err
			}
			switch {
			case out.Mismatch != "":
				return fmt.Errorf("test: the program and the reference model disagree (%s): a bug, please report it", out.Mismatch)
			case expect != "" && out.Verdict != expect:
				return fmt.Errorf("test: the verdict is %s, not %s", out.Verdict, expect)
			}
			return nil
		},
	}
}

// packetFromFlags parses the packet's flags as rule conditions.
func packetFromFlags(c *cli.Context) (replay.Packet, error) {
	var m rules.Match
	for _, cond := range rules.Conditions {
		if _, ok := packetFlags[cond.Key]; ok && c.IsSet(cond.Key) {
			if err := cond.Parse(&m, c.String(cond.Key)); err != nil {
				return replay.Packet{}, fmt.Errorf("--%s: %w", cond.Key, err)
			}
		}
	}
	p, err := replay.PacketOf(m)
	if err != nil {
		return p, fmt.Errorf("test: %w", err)
	}
	return p, nil
}

func printTest(c *cli.Context, r testResult) {
	w := c.App.Writer
	if r.Iface != "" {
		fmt.Fprintf(w, "%s on %s\n", r.Packet, r.Iface)
	} else {
		fmt.Fprintln(w, r.Packet)
	}
	decided := r.Reason
	switch r.Reason {
	case "rule":
		decided = fmt.Sprintf("rule %d (%s)", r.Rule, r.Match)
		if r.Comment != "" {
			decided += " # " + r.Comment
		}
	case "default":
		decided = "the default policy"
	case "neighbor":
		decided = "ARP and neighbour discovery always pass"
	}
	line := fmt.Sprintf("%s: %s", r.Verdict, decided)
	if r.CT != "" {
		line += ", ct " + r.CT
	}
	fmt.Fprintln(w, line)
	if r.Mismatch != "" {
		fmt.Fprintf(w, "MISMATCH: %s\n", r.Mismatch)
	}
}
