package loader

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func openLive(t *testing.T) *State {
	t.Helper()
	privtest.Require(t)
	dir := privtest.PinDir(t)
	if _, err := Open(dir); !errors.Is(err, ErrNotAttached) {
		t.Fatalf("Open before create: %v, want ErrNotAttached", err)
	}
	s, err := OpenOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.unpinAll()
		s.Close()
	})
	return s
}

// TestLiveRulesetRoundTrip checks that the pinned maps are the source of
// truth: a second handle sees what the first wrote, and failed changes
// leave the ruleset as it was.
func TestLiveRulesetRoundTrip(t *testing.T) {
	s := openLive(t)
	r := rules.Rule{Priority: 5, Action: rules.Drop, Match: rules.Match{
		Src:   netip.MustParsePrefix("10.0.0.0/8"),
		Proto: rules.Proto{Set: true, Num: 6}, Dport: rules.PortRange{Set: true, Lo: 22, Hi: 22}}}
	id1, err := s.AddRule(r)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.AddRule(rules.Rule{Priority: 1, Action: rules.Pass})
	if err != nil {
		t.Fatal(err)
	}
	if id1 != 1 || id2 != 2 {
		t.Fatalf("ids %d, %d; want 1, 2", id1, id2)
	}
	if _, err := s.SetPolicy(rules.Drop); err != nil {
		t.Fatal(err)
	}
	before, err := s.Ruleset()
	if err != nil {
		t.Fatal(err)
	}

	bad := r
	bad.Match.Dst = netip.MustParsePrefix("2001:db8::/32") // family mismatch
	if _, err := s.AddRule(bad); err == nil {
		t.Fatal("AddRule accepted a rule mixing IPv4 and IPv6")
	}
	if err := s.DeleteRules([]uint32{1, 99}); err == nil {
		t.Fatal("DeleteRules accepted an unknown id")
	}

	// A second handle (as the next CLI invocation) reads the same state.
	s.Close()
	s2, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.maps, s.progs, s.lock = s2.maps, s2.progs, s2.lock // s is the one openLive cleans up
	after, err := s.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("ruleset changed by failed operations:\nbefore %+v\nafter  %+v", before, after)
	}
	want := []rules.Rule{{ID: 2, Priority: 1, Action: rules.Pass}, r}
	want[1].ID = 1
	if after.Policy != rules.Drop || !reflect.DeepEqual(after.Rules, want) {
		t.Fatalf("live ruleset %+v, want policy drop and %+v", after, want)
	}

	// Ids are never reused.
	if err := s.DeleteRules([]uint32{2}); err != nil {
		t.Fatal(err)
	}
	if id, err := s.AddRule(rules.Rule{Priority: 1, Action: rules.Pass}); err != nil || id != 3 {
		t.Fatalf("AddRule after delete: id %d, %v; want 3", id, err)
	}
}

// TestLiveUpdateIsAtomic replays frames through the live maps while rules
// change as fast as they can, and checks that every verdict is one the
// reference model gives under a ruleset that was live during that run:
// never a mix of two.
func TestLiveUpdateIsAtomic(t *testing.T) {
	s := openLive(t)
	frames := [][]byte{
		fixtures.UDP("10.1.2.3", "192.0.2.1", 1000, 53), fixtures.UDP("10.200.0.1", "192.0.2.77", 53, 1024),
		fixtures.TCPSyn("192.0.2.1", "10.1.2.3", 443, 8080), fixtures.TCPSyn("198.51.100.5", "203.0.113.9", 22, 22),
		fixtures.UDP("2001:db8::1", "2001:db8:ffff::9", 5353, 53), fixtures.TCPSyn("fd00::1", "2001:db8:1::5", 1, 443),
		fixtures.Echo("10.1.2.3", "192.0.2.1"), fixtures.Echo("fd00::1", "2001:db8::1"), fixtures.ARP(),
	}
	// Operations cycle through rules whose matches overlap these frames in
	// different ways, so consecutive rulesets disagree on many frames.
	candidates := []rules.Rule{
		{Priority: 10, Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("10.0.0.0/8")}},
		{Priority: 5, Action: rules.Pass, Match: rules.Match{Src: netip.MustParsePrefix("10.1.2.3/32")}},
		{Priority: 20, Action: rules.Drop, Match: rules.Match{Proto: rules.Proto{Set: true, Num: 17}, Dport: rules.PortRange{Set: true, Lo: 1, Hi: 1024}}},
		{Priority: 1, Action: rules.Drop, Match: rules.Match{Dst: netip.MustParsePrefix("2001:db8::/32")}},
		{Priority: 15, Action: rules.Pass, Match: rules.Match{Proto: rules.Proto{Set: true, Num: 6}}},
		{Priority: 30, Action: rules.Drop, Match: rules.Match{Dst: netip.MustParsePrefix("192.0.2.0/24"), Sport: rules.PortRange{Set: true, Lo: 53, Hi: 443}}},
	}

	history := []*rules.Ruleset{{Policy: rules.Pass}} // history[k] is version k
	tr, err := s.NewInstance(true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Its counts by rank would follow the live commits to other rules.
	if _, err := tr.RuleCounters(); err == nil {
		t.Error("an instance on the live maps gave rule counters")
	}
	replay := startLiveReplay(tr, frames)

	live := map[uint32]bool{}
	for op := 0; op < 150; op++ {
		c := candidates[op%len(candidates)]
		var err error
		replay.changing()
		if id := uint32(op%7 + 1); live[id] && op%3 == 0 {
			err = s.DeleteRules([]uint32{id})
			delete(live, id)
		} else if op%11 == 10 {
			policy := rules.Drop
			if op%2 == 0 {
				policy = rules.Pass
			}
			_, err = s.SetPolicy(policy)
		} else {
			var id uint32
			id, err = s.AddRule(c)
			live[id] = true
		}
		if err != nil {
			replay.finish()
			t.Fatalf("op %d: %v", op, err)
		}
		rs, err := s.Ruleset()
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, rs)
		replay.changed()
	}
	if err := replay.finish(); err != nil {
		t.Fatal(err)
	}
	replay.check(t, history)
}

// TestFullRuleset: the 4097th rule is refused with a clear error and the
// live ruleset stays as it was; Replace keeps the counter slots of rules
// it does not change.
func TestFullRuleset(t *testing.T) {
	s := openLive(t)
	rs := &rules.Ruleset{Policy: rules.Pass}
	for i := 0; i < rules.MaxRules; i++ {
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Priority: uint32(i % 7), Action: rules.Drop,
			Match: rules.Match{Dport: rules.PortRange{Set: true, Lo: uint16(i), Hi: uint16(i)}}})
	}
	if err := s.Replace(rs); err != nil {
		t.Fatal(err)
	}
	_, slotsBefore, err := readRuleset(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AddRule(rules.Rule{Action: rules.Drop})
	if err == nil || err.Error() != "the ruleset already holds 4096 rules, the most xdpfw supports" {
		t.Fatalf("AddRule on a full ruleset: %v", err)
	}
	// Replace with one rule changed: the other 4095 keep their slots.
	rs.Rules[10].Action = rules.Pass
	if err := s.Replace(rs); err != nil {
		t.Fatal(err)
	}
	live, slotsAfter, err := readRuleset(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Rules) != rules.MaxRules {
		t.Fatalf("%d rules live, want %d", len(live.Rules), rules.MaxRules)
	}
	for id, slot := range slotsBefore {
		if id != 11 && slotsAfter[id] != slot {
			t.Fatalf("rule %d moved from slot %d to %d", id, slot, slotsAfter[id])
		}
	}
}

// TestLiveInstanceRefusesLoad: an instance on the live maps cannot load a
// ruleset: a commit of its own would write the live state's maps outside
// its lock and write path. The live ruleset stays as it was.
func TestLiveInstanceRefusesLoad(t *testing.T) {
	s := openLive(t)
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("192.0.2.0/24")}}); err != nil {
		t.Fatal(err)
	}
	before, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := s.NewInstance(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Load(&rules.Ruleset{Policy: rules.Drop}); err == nil {
		t.Error("a live instance loaded a ruleset of its own")
	}
	if after, err := s.RulesetWithSets(); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("the live ruleset after a live instance's Load: %+v (%v), want %+v", after, err, before)
	}
}
