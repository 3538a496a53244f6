package rules

import (
	"testing"

	"github.com/google/gopacket/layers"
)

func rule(id, prio uint32, a Action, m Match) Rule {
	return Rule{ID: id, Priority: prio, Action: a, Match: m}
}

func ruleVerdict(a Action, id uint32) Verdict {
	return Verdict{Action: a, Reason: ReasonRule, RuleID: id}
}

var (
	defaultPass = Verdict{Action: Pass, Reason: ReasonDefault}
	defaultDrop = Verdict{Action: Drop, Reason: ReasonDefault}
	neighbor    = Verdict{Action: Pass, Reason: ReasonNeighbor}
	malformed   = Verdict{Action: Drop, Reason: ReasonMalformed}
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

	anyMatch := Match{}
	tcpProto := Match{Proto: proto(6)}
	icmp6Proto := Match{Proto: proto(58)}
	dport22 := Match{Dport: ports(22, 22)}

	tests := []struct {
		name   string
		policy Action
		rules  []Rule
		frame  []byte
		want   Verdict
	}{
		// Order: priority first, then ID, whatever order the rules are given in.
		{"lowest priority wins", Pass, []Rule{rule(1, 20, Pass, anyMatch), rule(2, 10, Drop, anyMatch)}, tcp4, ruleVerdict(Drop, 2)},
		{"id breaks ties", Pass, []Rule{rule(9, 10, Pass, anyMatch), rule(3, 10, Drop, anyMatch), rule(5, 10, Pass, anyMatch)}, tcp4, ruleVerdict(Drop, 3)},
		{"first match, not best match", Drop, []Rule{rule(1, 5, Pass, Match{Proto: proto(17)}), rule(2, 6, Drop, tcpProto), rule(3, 7, Pass, Match{Src: pfx("192.0.2.1/32")})}, tcp4, ruleVerdict(Drop, 2)},
		{"skips non-matching", Drop, []Rule{rule(1, 1, Drop, Match{Src: pfx("10.0.0.0/8")}), rule(2, 2, Pass, Match{Src: pfx("192.0.2.0/24"), Dst: pfx("198.51.100.0/24"), Proto: proto(6), Sport: ports(1024, 65535), Dport: ports(22, 22)})}, tcp4, ruleVerdict(Pass, 2)},

		// Default policy.
		{"no rules, pass", Pass, nil, tcp4, defaultPass},
		{"no rules, drop", Drop, nil, udp6, defaultDrop},
		{"no match, drop", Drop, []Rule{rule(1, 1, Pass, Match{Dport: ports(80, 80)})}, tcp4, defaultDrop},

		// Conditions.
		{"ports without proto match udp", Drop, []Rule{rule(1, 1, Pass, dport22)}, udp4, ruleVerdict(Pass, 1)},
		{"ports without proto not icmp", Drop, []Rule{rule(1, 1, Pass, dport22)}, icmp4, defaultDrop},
		{"port range bounds", Drop, []Rule{rule(1, 1, Pass, Match{Sport: ports(39999, 40000)})}, tcp4, ruleVerdict(Pass, 1)},
		{"port range miss", Drop, []Rule{rule(1, 1, Pass, Match{Sport: ports(40001, 65535)})}, tcp4, defaultDrop},
		{"wrong proto", Drop, []Rule{rule(1, 1, Pass, Match{Proto: proto(17), Dport: ports(22, 22)})}, tcp4, defaultDrop},
		{"v6 prefix, v4 frame", Drop, []Rule{rule(1, 1, Pass, Match{Src: pfx("::/0")})}, tcp4, defaultDrop},
		{"v4 prefix, v6 frame", Drop, []Rule{rule(1, 1, Pass, Match{Dst: pfx("0.0.0.0/0")})}, udp6, defaultDrop},
		{"mapped prefix, v4 frame", Drop, []Rule{rule(1, 1, Pass, Match{Src: pfx("::ffff:192.0.2.0/120")})}, tcp4, defaultDrop},
		{"v6 prefix", Drop, []Rule{rule(1, 1, Pass, Match{Src: pfx("2001:db8::/32"), Dst: pfx("2001:db8::2/128")})}, udp6, ruleVerdict(Pass, 1)},
		{"vlan frames match too", Drop, []Rule{rule(1, 1, Pass, Match{Src: pfx("192.0.2.1/32"), Proto: proto(6), Dport: ports(22, 22)})}, vlanTCP, ruleVerdict(Pass, 1)},

		// Non-first fragments: protocol yes, ports never.
		{"fragment matches proto", Drop, []Rule{rule(1, 1, Pass, tcpProto)}, frag4, ruleVerdict(Pass, 1)},
		{"fragment never matches ports", Pass, []Rule{rule(1, 1, Drop, Match{Proto: proto(6), Dport: ports(0, 65535)})}, frag4, defaultPass},

		// Malformed: dropped before the rules, whatever they say.
		{"malformed ignores rules", Pass, []Rule{rule(1, 1, Pass, anyMatch)}, bad, malformed},
		{"malformed, short", Pass, nil, []byte{1, 2, 3}, malformed},

		// ARP: no rule matches it; passed even under drop.
		{"arp, drop policy", Drop, nil, arp, neighbor},
		{"arp, drop-all rule", Drop, []Rule{rule(1, 1, Drop, anyMatch)}, arp, neighbor},

		// ND: only rules that name icmpv6 explicitly.
		{"nd, drop policy", Drop, nil, ns, neighbor},
		{"nd, drop-all rule", Drop, []Rule{rule(1, 1, Drop, anyMatch)}, ra, neighbor},
		{"nd, drop link-local rule", Drop, []Rule{rule(1, 1, Drop, Match{Src: pfx("fe80::/10")})}, ns, neighbor},
		{"nd, icmpv6 rule", Pass, []Rule{rule(1, 1, Drop, icmp6Proto)}, ns, ruleVerdict(Drop, 1)},
		{"nd, icmpv6 rule with src", Pass, []Rule{rule(1, 1, Drop, Match{Src: pfx("fe80::/10"), Proto: proto(58)})}, ns, ruleVerdict(Drop, 1)},
		{"nd, icmpv6 rule, other src", Drop, []Rule{rule(1, 1, Drop, Match{Src: pfx("2001:db8::/32"), Proto: proto(58)})}, ns, neighbor},
		{"nd, later icmpv6 rule", Drop, []Rule{rule(1, 1, Drop, anyMatch), rule(2, 2, Pass, icmp6Proto)}, ns, ruleVerdict(Pass, 2)},
		{"echo is not nd", Pass, []Rule{rule(1, 1, Drop, anyMatch)}, echo6, ruleVerdict(Drop, 1)},
		{"echo gets policy", Drop, nil, echo6, defaultDrop},

		// Other non-IP: only rules with no condition.
		{"other, any rule", Pass, []Rule{rule(1, 1, Drop, anyMatch)}, lldp, ruleVerdict(Drop, 1)},
		{"other, proto rule", Pass, []Rule{rule(1, 1, Drop, tcpProto)}, lldp, defaultPass},
		{"other, port rule", Pass, []Rule{rule(1, 1, Drop, dport22)}, lldp, defaultPass},
		{"other, prefix rule", Pass, []Rule{rule(1, 1, Drop, Match{Src: pfx("0.0.0.0/0")})}, lldp, defaultPass},
		{"other, policy", Drop, nil, lldp, defaultDrop},
	}
	for _, tt := range tests {
		rs := &Ruleset{Policy: tt.policy, Rules: tt.rules}
		if err := rs.Validate(); err != nil {
			t.Fatalf("%s: invalid test ruleset: %v", tt.name, err)
		}
		got := Evaluate(rs, tt.frame)
		if got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		p := Decode(tt.frame)
		if again := EvaluateDecoded(rs, Sorted(rs.Rules), &p); again != got {
			t.Errorf("%s: EvaluateDecoded %v, Evaluate %v", tt.name, again, got)
		}
	}
}

// Every frame of the decode table gets a verdict consistent with its
// decoding under a ruleset with no rules.
func TestEvaluateDecodeCases(t *testing.T) {
	for _, policy := range []Action{Pass, Drop} {
		rs := &Ruleset{Policy: policy}
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
	if (Match{}).Matches(&p, nil) {
		t.Error("a malformed packet matched")
	}
}
