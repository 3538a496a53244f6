package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ports(lo, hi uint16) PortRange { return PortRange{Set: true, Lo: lo, Hi: hi} }

func proto(n uint8) Proto { return Proto{Set: true, Num: n} }

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		name    string
		r       Rule
		wantErr string // "" for valid
	}{
		{"minimal", Rule{Action: Pass}, ""},
		{"full tcp", Rule{Action: Drop, Priority: MaxPriority, Match: Match{
			Src: pfx("10.0.0.0/8"), Dst: pfx("192.168.0.0/16"), Proto: proto(6), Sport: ports(1, 2), Dport: ports(80, 80)}}, ""},
		{"ports without proto", Rule{Action: Drop, Match: Match{Dport: ports(22, 22)}}, ""},
		{"udp ports", Rule{Action: Drop, Match: Match{Proto: proto(17), Sport: ports(53, 53)}}, ""},
		{"v6 pair", Rule{Action: Drop, Match: Match{Src: pfx("2001:db8::/32"), Dst: pfx("::/0")}}, ""},
		{"no action", Rule{}, "action not set (want pass or drop)"},
		{"bad action", Rule{Action: 7}, "invalid action 7 (want pass or drop)"},
		{"priority", Rule{Action: Pass, Priority: MaxPriority + 1}, "priority 65536 out of range (0-65535)"},
		{"families", Rule{Action: Pass, Match: Match{Src: pfx("10.0.0.0/8"), Dst: pfx("2001:db8::/32")}},
			"src 10.0.0.0/8 and dst 2001:db8::/32 are of different address families"},
		{"mapped is v6", Rule{Action: Pass, Match: Match{Src: pfx("10.0.0.0/8"), Dst: pfx("::ffff:10.0.0.0/104")}},
			"src 10.0.0.0/8 and dst ::ffff:10.0.0.0/104 are of different address families"},
		{"host bits", Rule{Action: Pass, Match: Match{Dst: pfx("10.0.0.1/8")}},
			"dst 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"icmp ports", Rule{Action: Pass, Match: Match{Proto: proto(1), Dport: ports(1, 1)}},
			"sport/dport need proto tcp or udp (got icmp)"},
		{"gre ports", Rule{Action: Pass, Match: Match{Proto: proto(47), Sport: ports(1, 1)}},
			"sport/dport need proto tcp or udp (got 47)"},
		{"reversed range", Rule{Action: Pass, Match: Match{Sport: PortRange{Set: true, Lo: 20, Hi: 10}}},
			"sport range 20-10: 20 is above 10"},
	}
	for _, tt := range tests {
		checkErr(t, tt.name, tt.r.Validate(), tt.wantErr)
	}
}

func TestRulesetValidate(t *testing.T) {
	ok := Rule{ID: 1, Action: Pass}
	many := make([]Rule, MaxRules+1)
	for i := range many {
		many[i] = Rule{ID: uint32(i + 1), Action: Pass}
	}
	tests := []struct {
		name    string
		rs      Ruleset
		wantErr string
	}{
		{"empty", Ruleset{Policy: Drop}, ""},
		{"one", Ruleset{Policy: Pass, Rules: []Rule{ok}}, ""},
		{"max", Ruleset{Policy: Pass, Rules: many[:MaxRules]}, ""},
		{"no policy", Ruleset{}, "policy not set (want pass or drop)"},
		{"bad policy", Ruleset{Policy: 3}, "invalid policy 3 (want pass or drop)"},
		{"too many", Ruleset{Policy: Pass, Rules: many}, "4097 rules, at most 4096 allowed"},
		{"zero id", Ruleset{Policy: Pass, Rules: []Rule{{Action: Drop}}}, "rule #1 (priority 0 drop any) has ID 0; IDs start at 1"},
		{"dup id", Ruleset{Policy: Pass, Rules: []Rule{ok, {ID: 2, Action: Pass}, ok}}, "rule 1: duplicate ID"},
		{"bad rule", Ruleset{Policy: Pass, Rules: []Rule{ok, {ID: 9, Action: Pass, Priority: 70000}}},
			"rule 9: priority 70000 out of range (0-65535)"},
	}
	for _, tt := range tests {
		checkErr(t, tt.name, tt.rs.Validate(), tt.wantErr)
	}
}

func TestSorted(t *testing.T) {
	in := []Rule{
		{ID: 5, Priority: 10},
		{ID: 2, Priority: 20},
		{ID: 3, Priority: 10},
		{ID: 1, Priority: 1000},
		{ID: 4, Priority: 0},
	}
	orig := slices.Clone(in)
	got := Sorted(in)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.String()[:4])
	}
	if want := "id 4,id 3,id 5,id 2,id 1"; strings.Join(ids, ",") != want {
		t.Errorf("Sorted order %v, want %s", ids, want)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Sorted modified its input: %v", in)
	}
	if Sorted(nil) != nil {
		t.Errorf("Sorted(nil) not nil")
	}
}

// checkErr wants no error when want is "", else exactly the message want.
func checkErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error %v", name, err)
	case want != "" && (err == nil || err.Error() != want):
		t.Errorf("%s: error = %v, want %q", name, err, want)
	}
}

// TestCheckFamilies: ICMP and ICMPv6 are each one family's protocol, so a
// rule with one on the other family (by a set, its family or a prefix)
// matches only crafted frames; rule add refuses them, a file only an
// ICMP type against a set of the other family (a warning at its line says the
// rest), while Validate, which every commit runs, leaves a stored one be.
func TestCheckFamilies(t *testing.T) {
	sets := Sets{"s4": {Name: "s4", Family: FamilyIPv4}, "s6": {Name: "s6", Family: FamilyIPv6}, "both": {Name: "both"}}
	icmp := func(p uint8, src, dst string) Rule {
		return Rule{ID: 3, Action: Drop, Match: Match{SrcSet: src, DstSet: dst, Proto: proto(p), ICMPType: Opt8{Set: true, Val: 8}}}
	}
	for _, tt := range []struct {
		name    string
		r       Rule
		wantErr string
	}{
		{"icmp type, IPv6 set", icmp(ProtoICMP, "s6", ""), "set @s6 is ipv6, but icmp-type/icmp-code match IPv4 only: the rule would never match"},
		{"icmpv6 type, IPv4 set", icmp(ProtoICMPv6, "", "s4"), "set @s4 is ipv4, but icmpv6-type/icmpv6-code match IPv6 only: the rule would never match"},
		{"icmp type, set of both", icmp(ProtoICMP, "both", ""), ""},
		{"icmp type, IPv4 set", icmp(ProtoICMP, "s4", "both"), ""},
		{"no type, IPv6 set", Rule{ID: 3, Action: Drop, Match: Match{SrcSet: "s6", Proto: proto(ProtoICMP)}},
			"set @s6 is ipv6, but proto icmp is IPv4's: the rule would match only crafted frames (for IPv6, use proto icmpv6)"},
		{"icmp, family ipv6", Rule{ID: 3, Action: Drop, Match: Match{Family: FamilyIPv6, Proto: proto(ProtoICMP)}},
			"the rule matches ipv6 only, but proto icmp is IPv4's: it would match only crafted frames (for IPv6, use proto icmpv6)"},
		{"icmp, IPv6 prefix", Rule{ID: 3, Action: Drop, Match: Match{Dst: netip.MustParsePrefix("2001:db8::/32"), Proto: proto(ProtoICMP)}},
			"the rule matches ipv6 only, but proto icmp is IPv4's: it would match only crafted frames (for IPv6, use proto icmpv6)"},
		{"icmpv6, family ipv4", Rule{ID: 3, Action: Drop, Match: Match{Family: FamilyIPv4, Proto: proto(ProtoICMPv6)}},
			"the rule matches ipv4 only, but proto icmpv6 is IPv6's: it would match only crafted frames (for IPv4, use proto icmp)"},
		{"icmpv6, IPv4 set", Rule{ID: 3, Action: Drop, Match: Match{DstSet: "s4", Proto: proto(ProtoICMPv6)}},
			"set @s4 is ipv4, but proto icmpv6 is IPv6's: the rule would match only crafted frames (for IPv4, use proto icmp)"},
		{"icmpv6, family ipv6", Rule{ID: 3, Action: Drop, Match: Match{Family: FamilyIPv6, SrcSet: "both", Proto: proto(ProtoICMPv6)}}, ""},
		{"icmp, IPv4 prefix", Rule{ID: 3, Action: Drop, Match: Match{Src: netip.MustParsePrefix("192.0.2.0/24"), Proto: proto(ProtoICMP)}}, ""},
		{"udp, family ipv6", Rule{ID: 3, Action: Drop, Match: Match{Family: FamilyIPv6, Proto: proto(ProtoUDP)}}, ""},
		// The chain is skipped to the protocol after these IPv6 headers:
		// proto 44 never matches a fragment, nor 0 every protocol.
		{"proto 44", Rule{ID: 3, Action: Drop, Match: Match{Proto: proto(44)}},
			"proto 44 is IPv6's fragment header, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (for fragments, use the fragment condition: first, non-first or any)"},
		{"proto 0", Rule{ID: 3, Action: Drop, Match: Match{Proto: proto(0)}},
			"proto 0 is IPv6's hop-by-hop options header, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (leave proto out to match every protocol)"},
		{"proto 43, family ipv6", Rule{ID: 3, Action: Drop, Match: Match{Family: FamilyIPv6, Proto: proto(43)}},
			"proto 43 is IPv6's routing header, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (no condition matches one)"},
		{"proto 60, a later fragment names it", Rule{ID: 3, Action: Drop, Match: Match{Proto: proto(60)}}, ""},
		{"proto 51, IPv4's AH", Rule{ID: 3, Action: Drop, Match: Match{Proto: proto(51)}}, ""},
		// An IPv4 address written IPv4-mapped matches IPv6 frames carrying
		// it, crafted ones; the whole mapped range is a rule of its own.
		{"IPv4-mapped src host", Rule{ID: 3, Action: Drop, Match: Match{Src: netip.MustParsePrefix("::ffff:10.0.0.1/128")}},
			"src ::ffff:10.0.0.1/128 is IPv4 10.0.0.1/32 written as IPv6 (IPv4-mapped): the rule would match only crafted IPv6 frames, never IPv4's (write 10.0.0.1/32)"},
		{"IPv4-mapped dst prefix", Rule{ID: 3, Action: Drop, Match: Match{Dst: netip.MustParsePrefix("::ffff:10.0.0.0/104"), Proto: proto(ProtoTCP)}},
			"dst ::ffff:10.0.0.0/104 is IPv4 10.0.0.0/8 written as IPv6 (IPv4-mapped): the rule would match only crafted IPv6 frames, never IPv4's (write 10.0.0.0/8)"},
		{"the IPv4-mapped range", Rule{ID: 3, Action: Drop, Match: Match{Src: netip.MustParsePrefix("::ffff:0:0/96")}}, ""},
		{"an IPv6 host", Rule{ID: 3, Action: Drop, Match: Match{Src: netip.MustParsePrefix("2001:db8::1/128")}}, ""},
	} {
		checkErr(t, tt.name, tt.r.CheckFamilies(sets), tt.wantErr)
		if err := (&Ruleset{Policy: Pass, Sets: sets, Rules: []Rule{tt.r}}).Validate(); err != nil {
			t.Errorf("%s: Validate refuses a stored rule: %v", tt.name, err)
		}
	}
	_, err := ParseYAML("f.yaml", []byte("policy: pass\nsets:\n  s6: {family: ipv6, elements: [2001:db8::/32]}\nrules:\n  - {src: '@s6', proto: icmp, icmp-type: echo-request, action: drop}\n"), FileOptions{})
	if want := "f.yaml:5: set @s6 is ipv6, but icmp-type/icmp-code match IPv4 only: the rule would never match"; err == nil || err.Error() != want {
		t.Errorf("a file with such a rule: %v, want %s", err, want)
	}
	// A file takes the rest, as the previous release saved them, with a
	// warning at the rule's line.
	rs, err := ParseYAML("f.yaml", []byte("policy: pass\nrules:\n  - {proto: tcp, action: pass}\n  - {family: ipv6, proto: 1, action: drop}\n  - {proto: 44, action: drop}\n"), FileOptions{})
	want := []string{"f.yaml:4: rule #2: the rule matches ipv6 only, but proto icmp is IPv4's: it would match only crafted frames (for IPv6, use proto icmpv6)",
		"f.yaml:5: rule #3: proto 44 is IPv6's fragment header, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (for fragments, use the fragment condition: first, non-first or any)"}
	if err != nil || !slices.Equal(warningTexts(rs), want) || rs.Warnings[0].Kind != WarnCrafted {
		t.Errorf("a file with proto icmp on IPv6: %v, warnings %q, want %q", err, warningTexts(rs), want)
	}
}
