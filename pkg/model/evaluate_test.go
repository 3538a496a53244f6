package model

import (
	"net/netip"

	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

func rule(id, prio uint32, a rules.Action, m rules.Match) rules.Rule {
	return rules.Rule{ID: id, Priority: prio, Action: a, Match: m}
}

func ruleVerdict(a rules.Action, id uint32) Verdict {
	return Verdict{Action: a, Reason: ReasonRule, RuleID: id}
}

var (
	defaultPass = Verdict{Action: rules.Pass, Reason: ReasonDefault}
	defaultDrop = Verdict{Action: rules.Drop, Reason: ReasonDefault}
	neighbor    = Verdict{Action: rules.Pass, Reason: ReasonNeighbor}
	malformed   = Verdict{Action: rules.Drop, Reason: ReasonMalformed}
)

func TestEvaluate(t *testing.T) {
	tcp4 := v4(t, layers.IPProtocolTCP, tcp(40000, 22))
	udp4 := v4(t, layers.IPProtocolUDP, udp(40000, 22))
	icmp4 := v4(t, layers.IPProtocolICMPv4, zeros(8))
	udp6 := v6(t, layers.IPProtocolUDP, udp(5353, 53))
	echo6 := ndFrame(t, 128)
	ns := ndFrame(t, 135)
	ra := ndFrame(t, 134)
	arp := arpFrame(t)
	lldp := serialize(t, ether(layers.EthernetTypeLinkLayerDiscovery), zeros(30))
	frag4 := func() []byte {
		ip := ipv4(layers.IPProtocolTCP)
		ip.FragOffset = 100
		return serialize(t, ether(layers.EthernetTypeIPv4), ip, zeros(12))
	}()
	vlanTCP := serialize(t, ether(layers.EthernetTypeQinQ), dot1q(1, layers.EthernetTypeDot1Q), dot1q(2, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp(40000, 22))
	bad := set(tcp4, l3, 0x44)

	anyMatch := rules.Match{}
	tcpProto := rules.Match{Proto: proto(6)}
	icmp6Proto := rules.Match{Proto: proto(58)}
	dport22 := rules.Match{Dport: ports(22, 22)}

	tests := []struct {
		name   string
		policy rules.Action
		rules  []rules.Rule
		frame  []byte
		want   Verdict
	}{
		// Order: priority first, then ID, whatever order the rules are given in.
		{"lowest priority wins", rules.Pass, []rules.Rule{rule(1, 20, rules.Pass, anyMatch), rule(2, 10, rules.Drop, anyMatch)}, tcp4, ruleVerdict(rules.Drop, 2)},
		{"id breaks ties", rules.Pass, []rules.Rule{rule(9, 10, rules.Pass, anyMatch), rule(3, 10, rules.Drop, anyMatch), rule(5, 10, rules.Pass, anyMatch)}, tcp4, ruleVerdict(rules.Drop, 3)},
		{"first match, not best match", rules.Drop, []rules.Rule{rule(1, 5, rules.Pass, rules.Match{Proto: proto(17)}), rule(2, 6, rules.Drop, tcpProto), rule(3, 7, rules.Pass, rules.Match{Src: pfx("192.0.2.1/32")})}, tcp4, ruleVerdict(rules.Drop, 2)},
		{"skips non-matching", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Src: pfx("10.0.0.0/8")}), rule(2, 2, rules.Pass, rules.Match{Src: pfx("192.0.2.0/24"), Dst: pfx("198.51.100.0/24"), Proto: proto(6), Sport: ports(1024, 65535), Dport: ports(22, 22)})}, tcp4, ruleVerdict(rules.Pass, 2)},

		// Default policy.
		{"no rules, pass", rules.Pass, nil, tcp4, defaultPass},
		{"no rules, drop", rules.Drop, nil, udp6, defaultDrop},
		{"no match, drop", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Dport: ports(80, 80)})}, tcp4, defaultDrop},

		// Conditions.
		{"ports without proto match udp", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, dport22)}, udp4, ruleVerdict(rules.Pass, 1)},
		{"ports without proto not icmp", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, dport22)}, icmp4, defaultDrop},
		{"port range bounds", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Sport: ports(39999, 40000)})}, tcp4, ruleVerdict(rules.Pass, 1)},
		{"port range miss", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Sport: ports(40001, 65535)})}, tcp4, defaultDrop},
		{"wrong proto", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Proto: proto(17), Dport: ports(22, 22)})}, tcp4, defaultDrop},
		{"v6 prefix, v4 frame", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Src: pfx("::/0")})}, tcp4, defaultDrop},
		{"v4 prefix, v6 frame", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Dst: pfx("0.0.0.0/0")})}, udp6, defaultDrop},
		{"mapped prefix, v4 frame", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Src: pfx("::ffff:192.0.2.0/120")})}, tcp4, defaultDrop},
		{"v6 prefix", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Src: pfx("2001:db8::/32"), Dst: pfx("2001:db8::2/128")})}, udp6, ruleVerdict(rules.Pass, 1)},
		{"vlan frames match too", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, rules.Match{Src: pfx("192.0.2.1/32"), Proto: proto(6), Dport: ports(22, 22)})}, vlanTCP, ruleVerdict(rules.Pass, 1)},

		// Non-first fragments: protocol yes, ports never.
		{"fragment matches proto", rules.Drop, []rules.Rule{rule(1, 1, rules.Pass, tcpProto)}, frag4, ruleVerdict(rules.Pass, 1)},
		{"fragment never matches ports", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Proto: proto(6), Dport: ports(0, 65535)})}, frag4, defaultPass},

		// Malformed: dropped before the rules, whatever they say.
		{"malformed ignores rules", rules.Pass, []rules.Rule{rule(1, 1, rules.Pass, anyMatch)}, bad, malformed},
		{"malformed, short", rules.Pass, nil, []byte{1, 2, 3}, malformed},

		// ARP: no rule matches it; passed even under drop.
		{"arp, drop policy", rules.Drop, nil, arp, neighbor},
		{"arp, drop-all rule", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, anyMatch)}, arp, neighbor},

		// ND: only rules that name icmpv6 explicitly.
		{"nd, drop policy", rules.Drop, nil, ns, neighbor},
		{"nd, drop-all rule", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, anyMatch)}, ra, neighbor},
		{"nd, drop link-local rule", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Src: pfx("fe80::/10")})}, ns, neighbor},
		{"nd, icmpv6 rule", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, icmp6Proto)}, ns, ruleVerdict(rules.Drop, 1)},
		{"nd, icmpv6 rule with src", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Src: pfx("fe80::/10"), Proto: proto(58)})}, ns, ruleVerdict(rules.Drop, 1)},
		{"nd, icmpv6 rule, other src", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Src: pfx("2001:db8::/32"), Proto: proto(58)})}, ns, neighbor},
		{"nd, later icmpv6 rule", rules.Drop, []rules.Rule{rule(1, 1, rules.Drop, anyMatch), rule(2, 2, rules.Pass, icmp6Proto)}, ns, ruleVerdict(rules.Pass, 2)},
		{"echo is not nd", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, anyMatch)}, echo6, ruleVerdict(rules.Drop, 1)},
		{"echo gets policy", rules.Drop, nil, echo6, defaultDrop},

		// Other non-IP: only rules with no condition.
		{"other, any rule", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, anyMatch)}, lldp, ruleVerdict(rules.Drop, 1)},
		{"other, proto rule", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, tcpProto)}, lldp, defaultPass},
		{"other, port rule", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, dport22)}, lldp, defaultPass},
		{"other, prefix rule", rules.Pass, []rules.Rule{rule(1, 1, rules.Drop, rules.Match{Src: pfx("0.0.0.0/0")})}, lldp, defaultPass},
		{"other, policy", rules.Drop, nil, lldp, defaultDrop},
	}
	for _, tt := range tests {
		rs := &rules.Ruleset{Policy: tt.policy, Rules: tt.rules}
		if err := rs.Validate(); err != nil {
			t.Fatalf("%s: invalid test ruleset: %v", tt.name, err)
		}
		got := Evaluate(rs, tt.frame)
		if got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		p := Decode(tt.frame)
		if again := EvaluateDecoded(rs, rules.Sorted(rs.Rules), &p); again != got {
			t.Errorf("%s: EvaluateDecoded %v, Evaluate %v", tt.name, again, got)
		}
	}
}

// Every frame of the decode table gets a verdict consistent with its
// decoding under a ruleset with no rules.
func TestEvaluateDecodeCases(t *testing.T) {
	for _, policy := range []rules.Action{rules.Pass, rules.Drop} {
		rs := &rules.Ruleset{Policy: policy}
		for _, tc := range decodeCases(t) {
			got := Evaluate(rs, tc.frame)
			var want Verdict
			switch {
			case tc.bad != "":
				want = malformed
			case tc.want.Kind == KindARP || tc.want.ND:
				want = neighbor
			default:
				want = Verdict{Action: policy, Reason: ReasonDefault}
			}
			if got != want {
				t.Errorf("%s (policy %v): got %v, want %v", tc.name, policy, got, want)
			}
		}
	}
}

func TestMatchesMalformed(t *testing.T) {
	p := Packet{Malformed: true}
	if Matches(&rules.Match{}, &p, nil) {
		t.Error("a malformed packet matched")
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ports(lo, hi uint16) rules.PortRange { return rules.PortRange{Set: true, Lo: lo, Hi: hi} }

func proto(n uint8) rules.Proto { return rules.Proto{Set: true, Num: n} }
