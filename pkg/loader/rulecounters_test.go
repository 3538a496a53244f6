package loader

import (
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// counterMaps makes the maps a rule's counters are read from: the slots'
// and the ranks' counters, the rank entries and the configs.
func counterMaps(t *testing.T) *xdpfwMaps {
	t.Helper()
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	m := &xdpfwMaps{}
	for name, p := range map[string]**ebpf.Map{
		xdpfwMapRuleStats: &m.RuleStats, xdpfwMapRankStats: &m.RankStats,
		xdpfwMapRanks: &m.Ranks, xdpfwMapGenConf: &m.GenConf,
	} {
		if *p, err = ebpf.NewMap(spec.Maps[name]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*p).Close() })
	}
	return m
}

// perCPUCounts is n counters, one per CPU, distinct for each (key, cpu),
// and their sum.
func perCPUCounts(key uint32) ([]xdpfwCounter, Counter) {
	per := make([]xdpfwCounter, ebpf.MustPossibleCPU())
	var sum Counter
	for c := range per {
		per[c] = xdpfwCounter{Packets: uint64(key) + uint64(c)*1000 + 1, Bytes: uint64(key)*60 + uint64(c)}
		sum.add(per[c])
	}
	return per, sum
}

func plus(a, b Counter) Counter { return Counter{a.Packets + b.Packets, a.Bytes + b.Bytes} }

// TestRuleCounters: each rule gets the sum over CPUs of its own slot,
// on both sides of a batch's edge and at the last slot; slots past the
// highest a rule has are not needed, and a rule at a slot never counted
// reads zero.
func TestRuleCounters(t *testing.T) {
	m := counterMaps(t)
	last := m.RuleStats.MaxEntries() - 1
	slots := map[uint32]uint32{7: 0, 8: perCPUBatch - 1, 9: perCPUBatch, 10: 300, 11: last, 12: 5}
	want := map[uint32]Counter{12: {}}
	for id, slot := range slots {
		if id == 12 {
			continue
		}
		per, sum := perCPUCounts(slot)
		if err := m.RuleStats.Put(slot, per); err != nil {
			t.Fatal(err)
		}
		want[id] = sum
	}
	got, err := ruleCounters(m, slots)
	if err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("rule %d at slot %d: %+v, want %+v", id, slots[id], got[id], w)
		}
	}
	if len(got) != len(slots) {
		t.Errorf("%d rules' counters, want %d", len(got), len(slots))
	}
	// No rules: nothing to read.
	if got, err := ruleCounters(m, nil); err != nil || len(got) != 0 {
		t.Errorf("no rules: %v, %v", got, err)
	}
}

// TestRankCounters: a rule's count adds what the ranks of its slot
// counted in both generations to its slot's, whatever id the rank entry
// names (apply renumbers rules it pairs); ranks of a slot no live rule
// has count for nobody; a generation being written counts nothing.
// foldRankCounts moves one generation's ranks into their rules' slots
// and zeroes them, every live rule's count the same after as before.
// zeroRankCounts zeroes the ranks of the slots given, in both
// generations.
func TestRankCounters(t *testing.T) {
	m := counterMaps(t)
	// Generation 0 (two commits ago): rules 5, 2, 3 at ranks 0, 1, 2.
	// Generation 1 (live): rule 2 at rank 0, rule 4 at 1, and at 300
	// (past a batch's edge) rule 1, which an apply paired with 5: 5's
	// slot, a new id. Rule 3 was deleted, its slot 13 is free.
	slots := map[uint32]uint32{1: 10, 2: 11, 4: 12}
	entries := map[[2]uint32]xdpfwRankEntry{
		{0, 0}: {RuleId: 5, Slot: 10}, {0, 1}: {RuleId: 2, Slot: 11}, {0, 2}: {RuleId: 3, Slot: 13},
		{1, 0}: {RuleId: 2, Slot: 11}, {1, 1}: {RuleId: 4, Slot: 12}, {1, 300}: {RuleId: 1, Slot: 10},
	}
	owner := map[uint32]uint32{10: 1, 11: 2, 12: 4}
	want := map[uint32]Counter{1: {}, 2: {}, 4: {}}
	for slot, id := range map[uint32]uint32{10: 1, 11: 2, 12: 4} {
		per, sum := perCPUCounts(slot)
		if err := m.RuleStats.Put(slot, per); err != nil {
			t.Fatal(err)
		}
		want[id] = plus(want[id], sum)
	}
	for at, e := range entries {
		gen, rank := at[0], at[1]
		if err := m.Ranks.Put(gen*layout.MaxRules+rank, &e); err != nil {
			t.Fatal(err)
		}
		per, sum := perCPUCounts(1000 + rankCounter(gen, rank))
		if err := m.RankStats.Put(rankCounter(gen, rank), per); err != nil {
			t.Fatal(err)
		}
		if id, ok := owner[e.Slot]; ok {
			want[id] = plus(want[id], sum)
		}
	}
	confs := [numGens]xdpfwGenConfig{{Nrules: 3}, {Nrules: 301}}
	for gen := range confs {
		if err := writeGenConf(m.GenConf, uint32(gen), &confs[gen]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, want map[uint32]Counter) {
		t.Helper()
		got, err := ruleCounters(m, slots)
		if err != nil {
			t.Fatal(err)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: rule %d: %+v, want %+v", when, id, got[id], w)
			}
		}
	}
	check("both generations counted", want)

	// Generation 0 being written: its ranks count nothing (they were
	// moved before it was marked).
	if err := writeGenConf(m.GenConf, 0, &xdpfwGenConfig{Flags: gfWriting, Nrules: 3}); err != nil {
		t.Fatal(err)
	}
	writing := map[uint32]Counter{}
	for id, w := range want {
		writing[id] = w
		for at, e := range entries {
			if at[0] == 0 && owner[e.Slot] == id {
				_, sum := perCPUCounts(1000 + rankCounter(0, at[1]))
				writing[id] = Counter{w.Packets - sum.Packets, w.Bytes - sum.Bytes}
			}
		}
	}
	check("generation 0 being written", writing)
	if err := writeGenConf(m.GenConf, 0, &confs[0]); err != nil {
		t.Fatal(err)
	}

	if err := zeroRankCounts(m, &confs, []uint32{13}, 0, 1); err != nil {
		t.Fatal(err)
	}
	check("slot 13 reset", want)
	zeroed, err := sumsPerCPU(m.RankStats, 3*numGens)
	if err != nil {
		t.Fatal(err)
	}
	for at, e := range entries {
		if at[1] >= 3 {
			continue
		}
		if c := zeroed[rankCounter(at[0], at[1])]; (c == (Counter{})) != (e.Slot == 13) {
			t.Errorf("after resetting slot 13, generation %d rank %d counts %+v", at[0], at[1], c)
		}
	}

	if err := foldRankCounts(m, 0, &confs[0]); err != nil {
		t.Fatal(err)
	}
	check("generation 0 folded", want)
	counts, err := sumsPerCPU(m.RankStats, 3*numGens)
	if err != nil {
		t.Fatal(err)
	}
	for r := range uint32(3) {
		if c := counts[rankCounter(0, r)]; c != (Counter{}) {
			t.Errorf("generation 0 rank %d still counts %+v after the fold", r, c)
		}
		if c := counts[rankCounter(1, r)]; r < 2 && c == (Counter{}) {
			t.Errorf("generation 1 rank %d zeroed by generation 0's fold", r)
		}
	}
	// Folding again moves nothing.
	if err := foldRankCounts(m, 0, &confs[0]); err != nil {
		t.Fatal(err)
	}
	check("generation 0 folded twice", want)
}

// TestRuleCountersAcrossCommits: through the state's own program and its
// write path, a rule's count stays whole while commits move its rank
// (a rule added above it) and fold what each generation counted; a rule
// added in a deleted rule's slot starts from zero, though the deleted
// rule's last frames were counted by rank in the generation the add
// rewrites; an apply without a rule, cut short before its switch,
// loses none of its counts; a rule replaced by another match starts from
// zero (by itself, it keeps its counts); a reset zeroes the rules named.
func TestRuleCountersAcrossCommits(t *testing.T) {
	dir := privtest.PinDir(t)
	defer removeState(dir)
	rule := func(yaml string) rules.Rule {
		return mustRuleset(t, "policy: pass\nrules:\n  - "+yaml+"\n").Rules[0]
	}
	var a, c uint32
	if err := Provision(dir, func(s *State) (err error) {
		a, err = s.AddRule(rule("{proto: udp, dport: 53, action: drop, priority: 20}"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dns, web := fixtures.UDP("192.0.2.7", "192.0.2.1", 1000, 53), fixtures.TCPSyn("192.0.2.7", "192.0.2.1", 1000, 80)
	send := func(frame []byte, n int) {
		t.Helper()
		for range n {
			if _, err := runFrame(s.progs.Xdpfw, frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(when string, want map[uint32]uint64) {
		t.Helper()
		_, rows, err := s.RuleList()
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint32]uint64{}
		for _, r := range rows {
			got[r.ID] = r.Packets
		}
		for id, n := range want {
			if got[id] != n {
				t.Errorf("%s: rule %d counted %d frames, want %d (all: %v)", when, id, got[id], n, got)
			}
		}
	}
	add := func(yaml string) uint32 {
		t.Helper()
		id, err := s.AddRule(rule(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	send(dns, 3)
	expect("first frames", map[uint32]uint64{a: 3})
	c = add("{proto: tcp, dport: 80, action: drop, priority: 10}") // above a: a's rank moves
	send(dns, 2)
	send(web, 1)
	expect("a's rank moved", map[uint32]uint64{a: 5, c: 1})
	d := add("{proto: tcp, dport: 81, action: drop, priority: 30}") // folds the first generation
	expect("first generation folded", map[uint32]uint64{a: 5, c: 1, d: 0})
	send(dns, 1)
	send(web, 4)
	if err := s.DeleteRules([]uint32{c}); err != nil { // folds the second
		t.Fatal(err)
	}
	expect("c deleted", map[uint32]uint64{a: 6, d: 0})
	e := add("{proto: udp, dport: 54, action: drop, priority: 40}") // c's slot, c's last counts folded away
	expect("e in c's slot", map[uint32]uint64{a: 6, d: 0, e: 0})
	send(dns, 1)
	expect("after the last commit", map[uint32]uint64{a: 7, d: 0, e: 0})

	// A change cut short before its switch leaves the live rules live
	// with all they counted, though the fold of the generation it was
	// rewriting ran for a ruleset without a.
	send(dns, 2)
	f := add("{proto: udp, dport: 55, action: drop, priority: 50}") // a's 2 stay in the other generation
	without := mustRuleset(t, `policy: pass
sets:
  cut: {family: ipv4, elements: [198.51.100.0/24]}
rules:
  - {proto: tcp, dport: 81, action: drop, priority: 30}
  - {proto: udp, dport: 54, action: drop, priority: 40}
  - {proto: udp, dport: 55, action: drop, priority: 50}
`)
	cutShort(t, s, "switch", func(func(int, int)) { s.Apply(without) })
	expect("an apply without a cut short", map[uint32]uint64{a: 9, d: 0, e: 0, f: 0})
	send(dns, 1)
	add("{proto: udp, dport: 56, action: drop, priority: 60}")
	expect("a commit after it", map[uint32]uint64{a: 10, d: 0, e: 0, f: 0})

	// Replaced by itself (its comment alone new), a keeps its counts;
	// replaced by another match
	// (web frames), it starts from zero under its id and priority, and
	// counts its new frames from its new slot, the old one's last
	// counts by rank folded away.
	replace := func(id uint32, yaml string) {
		t.Helper()
		if err := s.ReplaceRule(id, rule(yaml), true); err != nil {
			t.Fatal(err)
		}
	}
	replace(a, "{proto: udp, dport: 53, action: drop, priority: 99, comment: dns}")
	expect("a replaced by itself, a comment added", map[uint32]uint64{a: 10})
	send(dns, 1)
	replace(a, "{proto: tcp, dport: 80, action: drop}")
	expect("a replaced", map[uint32]uint64{a: 0})
	send(web, 2)
	send(dns, 1)
	add("{proto: udp, dport: 57, action: drop, priority: 70}")
	expect("a replaced, then a commit", map[uint32]uint64{a: 2})
	rs, err := s.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(rs.Rules, func(r rules.Rule) bool { return r.ID == a }); i < 0 || rs.Rules[i].Priority != 20 || rs.Rules[i].Match.Dport.Lo != 80 {
		t.Errorf("a after its replacement: %+v, want dport 80 at priority 20", rs.Rules)
	}

	// Reset: the rule named starts from zero, the others keep theirs;
	// what it counted by rank in the generation live before the last
	// commit is zeroed too, not folded back into it by the next. An
	// unknown id zeroes nothing; no id zeroes every rule.
	send(web, 3)
	g := add("{proto: udp, dport: 53, action: drop, priority: 5}")
	send(dns, 2)
	reset := func(ids ...uint32) int {
		t.Helper()
		n, err := s.ResetCounters(ids)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := reset(a); n != 1 {
		t.Errorf("ResetCounters(a) zeroed %d rules' counters, want 1", n)
	}
	expect("a reset", map[uint32]uint64{a: 0, g: 2})
	add("{proto: udp, dport: 58, action: drop, priority: 80}")
	expect("a reset, then a commit", map[uint32]uint64{a: 0, g: 2})
	send(web, 1)
	if _, err := s.ResetCounters([]uint32{a, 9999}); err == nil {
		t.Error("ResetCounters of an unknown id: no error")
	}
	expect("a reset refused", map[uint32]uint64{a: 1, g: 2})
	if rs, _ := s.Ruleset(); reset() != len(rs.Rules) {
		t.Errorf("ResetCounters() did not count every rule (%d)", len(rs.Rules))
	}
	expect("every rule reset", map[uint32]uint64{a: 0, g: 0})
}
