package loader

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestChangeSetCutShort: set add and set del of a few elements of a set
// of thousands, both families, stopped just before their switch and just
// after it, leave the old elements or the new ones, as set list and the
// datapath (through the live maps) see them, and the next change gives
// exactly its own. The same IPv6 hosts and /64s are deleted and added
// again (a bucket slot's tombstone taken back by its own key), and hosts
// inside a listed /24 and /64 come and go (their answer read from the
// entry above). cutShort covered loads and applies only.
func TestChangeSetCutShort(t *testing.T) {
	s, tr := openLiveInstance(t)
	p := netip.MustParsePrefix
	if err := s.CreateSet("bl", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "bl"}}); err != nil {
		t.Fatal(err)
	}
	base := prefixRange(0, 4000)
	for i := range 1000 {
		base = append(base, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(i >> 8), 7: byte(i)}), 64),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 14: byte(i >> 8), 15: byte(i)}), 128))
	}
	base = append(base, p("198.51.100.0/24"), p("2001:db8:ffff:1::/64"))
	base = rules.SortPrefixes(base)
	churn := []netip.Prefix{
		p("fd00::7/128"), p("fd00::300/128"), p("2001:db8:0:5::/64"), // elements of base
		p("10.0.0.1/32"),                                  // an element of base (prefixRange's first host)
		p("198.51.100.9/32"), p("2001:db8:ffff:1::9/128"), // under listed prefixes
		p("fd00::1:1/128"), p("203.0.113.0/24"), p("2001:db8:aaaa::/48"), // new
	}
	if _, err := s.LoadSet("bl", base, nil); err != nil {
		t.Fatal(err)
	}
	sample := rules.Sets{"bl": {Name: "bl", Prefixes: rules.SortPrefixes(append(slices.Clone(churn), base[:40]...))}}
	frames := setFrames(rand.New(rand.NewSource(7)), sample)
	cur := slices.Clone(base)
	check := func(want []netip.Prefix, when string) {
		t.Helper()
		got, err := s.SetElements("bl")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			add, del := diffSorted(want, got)
			t.Fatalf("%s: set bl has %d elements, %d more and %d fewer than wanted", when, len(got), len(add), len(del))
		}
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, tr, live, frames)
	}
	rng := rand.New(rand.NewSource(11))
	for i := range 24 {
		var add, del []netip.Prefix
		for _, c := range churn {
			if rng.Intn(3) != 0 {
				continue
			}
			if _, in := slices.BinarySearchFunc(cur, c, comparePrefix); in {
				del = append(del, c)
			} else {
				add = append(add, c)
			}
		}
		if len(add)+len(del) == 0 { // a change with nothing to switch has no switch
			add = churn[i%len(churn):][:1]
			if _, in := slices.BinarySearchFunc(cur, add[0], comparePrefix); in {
				add, del = nil, add
			}
		}
		next := slices.DeleteFunc(slices.Clone(cur), func(q netip.Prefix) bool { return slices.Contains(del, q) })
		next = rules.SortPrefixes(append(next, add...))
		point := []string{"switch", "switched"}[i%2]
		cutShort(t, s, point, func(func(int, int)) { s.ChangeSet("bl", add, del) })
		if point == "switched" {
			cur = next
		}
		check(cur, "stopped at "+point)
		if i%3 == 2 { // and the change again, whole
			if point == "switch" {
				if _, err := s.ChangeSet("bl", add, del); err != nil {
					t.Fatal(err)
				}
				cur = next
			}
			check(cur, "the change again after one stopped at "+point)
		}
	}
	if _, err := s.LoadSet("bl", base, nil); err != nil {
		t.Fatal(err)
	}
	check(base, "a load after")
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
