package loader

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// slotSets are n IPv4 sets named prefix0.. of one element each.
func slotSets(prefix string, from, n int, into rules.Sets) rules.Sets {
	for i := from; i < from+n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
		into[name] = &rules.Set{Name: name, Family: rules.FamilyIPv4, Prefixes: []netip.Prefix{p}}
	}
	return into
}

// TestApplySetSlots: an apply's new sets take slots beside the live ones
// until its switch, so a file whose new sets and the live ones exceed 256
// is refused before anything is written, saying so, and the live state is
// left whole; within the slots, every set can be replaced in two applies.
func TestApplySetSlots(t *testing.T) {
	s := openLive(t)
	ruleOn := func(set string) []rules.Rule {
		return []rules.Rule{{Priority: 1, Action: rules.Drop, Match: rules.Match{SrcSet: set}}}
	}
	live := &rules.Ruleset{Policy: rules.Pass, Sets: slotSets("a", 0, 200, rules.Sets{}), Rules: ruleOn("a0")}
	if _, err := s.Apply(live); err != nil {
		t.Fatal(err)
	}
	before, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Apply(&rules.Ruleset{Policy: rules.Pass, Sets: slotSets("b", 0, 100, rules.Sets{}), Rules: ruleOn("b0")})
	if err == nil || !strings.Contains(err.Error(), "this apply needs 100 set slots while the live 200 stay until the switch: at most 256 in all") {
		t.Fatalf("apply of 100 new sets over 200: %v, want refused naming the slots", err)
	}
	var defs int
	if err := s.read(func(v *view) error { defs = len(v.all); return nil }); err != nil {
		t.Fatal(err)
	}
	after, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	if defs != 200 || !reflect.DeepEqual(before, after) {
		t.Fatalf("after the refused apply: %d set definitions, ruleset changed %v; want 200, unchanged", defs, !reflect.DeepEqual(before, after))
	}
	// 200 kept and 56 new fill the slots; then the new ones alone.
	if _, err := s.Apply(&rules.Ruleset{Policy: rules.Pass, Sets: slotSets("b", 0, 56, slotSets("a", 0, 200, rules.Sets{})), Rules: ruleOn("b0")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(&rules.Ruleset{Policy: rules.Pass, Sets: slotSets("b", 0, 56, rules.Sets{}), Rules: ruleOn("b1")}); err != nil {
		t.Fatal(err)
	}
}
