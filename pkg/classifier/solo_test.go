package classifier

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

func soloRule(id, prio uint32, m rules.Match) rules.Rule {
	return rules.Rule{ID: id, Priority: prio, Match: m, Action: rules.Drop}
}

func port(lo, hi uint16) rules.PortRange { return rules.PortRange{Set: true, Lo: lo, Hi: hi} }

// TestSolo: a ruleset whose rules are each on one dimension gets its
// solo form, where every stored entry is 1 + the rank of the first rule
// accepting it (nested prefixes and overlapping ranges resolved to the
// earliest), and the dimensions no rule is on are not looked up; a rule
// on two dimensions, or on none, leaves the ruleset to the vectors.
func TestSolo(t *testing.T) {
	pfx := netip.MustParsePrefix
	rs := &rules.Ruleset{Policy: rules.Pass, Rules: []rules.Rule{
		soloRule(1, 1, rules.Match{Src: pfx("10.1.0.0/16")}),
		soloRule(2, 2, rules.Match{Src: pfx("10.0.0.0/8")}),
		soloRule(3, 3, rules.Match{Dport: port(22, 22)}),
		soloRule(4, 4, rules.Match{Src: pfx("10.1.2.0/24")}),
		soloRule(5, 5, rules.Match{Dport: port(20, 30)}),
		soloRule(6, 6, rules.Match{Src: pfx("2001:db8::/32")}),
	}}
	tab, err := Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	compiled := slices.Clone(tab.Src)
	s, ok := tab.Solo()
	if !ok {
		t.Fatal("a ruleset of one-dimension rules has no solo form")
	}
	want := map[netip.Prefix]uint32{
		pfx("10.1.0.0/16"): 1, pfx("10.0.0.0/8"): 2, pfx("10.1.2.0/24"): 1, pfx("2001:db8::/32"): 6,
	}
	if len(s.Src) != len(want) {
		t.Errorf("%d source entries, want %d", len(s.Src), len(want))
	}
	for _, e := range s.Src {
		if w, found := want[e.Prefix]; !found || e.Atom != w {
			t.Errorf("source %v stores %d, want %d", e.Prefix, e.Atom, w)
		}
	}
	for key, w := range map[int]uint16{22: 3, 20: 5, 30: 5, 19: 0, 31: 0, 80: 0} {
		if got := s.Values[DimDport][key]; got != w {
			t.Errorf("destination port %d stores %d, want %d", key, got, w)
		}
	}
	if !tab.Used[DimProto] || s.Used[DimProto] || !s.Used[DimSrc] || !s.Used[DimDport] {
		t.Errorf("used: compiled %v, solo %v; the solo form looks up the source and destination port only", tab.Used, s.Used)
	}
	if !slices.Equal(tab.Src, compiled) {
		t.Error("Solo changed the compiled tables' entries in place")
	}

	for name, extra := range map[string]rules.Match{
		"two dimensions": {Src: pfx("192.0.2.0/24"), Dport: port(80, 80)},
		"no condition":   {},
	} {
		more := &rules.Ruleset{Policy: rs.Policy, Rules: append(append([]rules.Rule(nil), rs.Rules...), soloRule(7, 7, extra))}
		tab, err := Compile(more)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tab.Solo(); ok {
			t.Errorf("a rule on %s: the ruleset has a solo form", name)
		}
	}
}
