package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// A rule's counters are in two places. The datapath counts each frame a
// rule decides in rank_stats, by the rule's rank in the live generation
// (so a cold frame asks for the counter's line together with the rank
// entry's, not after it); rule_stats, by the rule's slot, is Go's. Before
// a commit rewrites a generation, foldRankCounts moves what that
// generation's ranks counted into rule_stats. A rule's count is its
// rule_stats slot plus its ranks' counters in both generations
// (ruleCounters).
//
// A rank's counter belongs to the rule in its rank entry's slot, as the
// slot's counter does: a rule that apply pairs with a live one takes its
// slot and its counts, whatever its id. A slot given to a new rule is
// zeroed, and so are the rank counters of the slot's earlier rules
// (zeroRankCounts): the new rule starts from zero, as before rank
// counters.
//
// Like foldSlot's, the move is two writes, with the state's lock held, so
// no reader sees it half done; a death between them counts the moved
// frames twice. None is lost.

// rankCounter is the rank_stats entry of rank in generation gen.
func rankCounter(gen, rank uint32) uint32 { return rank*numGens + gen }

// rankEntries reads the rank entries of both generations.
func rankEntries(m *xdpfwMaps) ([]xdpfwRankEntry, error) {
	keys, vals, err := readAll[uint32, xdpfwRankEntry](m.Ranks)
	if err != nil {
		return nil, err
	}
	out := make([]xdpfwRankEntry, numGens*layout.MaxRules)
	for i, k := range keys {
		if int(k) < len(out) {
			out[k] = vals[i]
		}
	}
	return out, nil
}

// rankCounts adds to into, by rule id, what both generations' ranks
// counted for the rules slots gives, each rank's counter to the rule in
// its entry's slot; confs are the generations' configs. A generation
// being written has none: its counters were moved before it was marked.
func rankCounts(m *xdpfwMaps, confs *[numGens]xdpfwGenConfig, slots map[uint32]uint32, into map[uint32]Counter) error {
	n := uint32(0)
	for _, c := range confs {
		if c.Flags&gfWriting == 0 {
			n = max(n, min(uint32(c.Nrules), layout.MaxRules))
		}
	}
	if n == 0 {
		return nil
	}
	counts, err := sumsPerCPU(m.RankStats, int(n*numGens))
	if err != nil {
		return err
	}
	ranks, err := rankEntries(m)
	if err != nil {
		return err
	}
	owner := make(map[uint32]uint32, len(slots)) // slot -> rule id
	for id, slot := range slots {
		owner[slot] = id
	}
	for gen, c := range confs {
		if c.Flags&gfWriting != 0 {
			continue
		}
		for r := range min(uint32(c.Nrules), layout.MaxRules) {
			e := ranks[uint32(gen)*layout.MaxRules+r]
			if id, ok := owner[e.Slot]; ok {
				sum := into[id]
				sum.Packets += counts[rankCounter(uint32(gen), r)].Packets
				sum.Bytes += counts[rankCounter(uint32(gen), r)].Bytes
				into[id] = sum
			}
		}
	}
	return nil
}

// zeroRankCounts zeroes the rank counters of generations gens (whose
// configs are confs) that belong to slots: slots being given to new
// rules, whose earlier rules' counts must not become theirs.
func zeroRankCounts(m *xdpfwMaps, confs *[numGens]xdpfwGenConfig, slots []uint32, gens ...uint32) error {
	if len(slots) == 0 {
		return nil
	}
	ranks, err := rankEntries(m)
	if err != nil {
		return err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	zero := make(map[uint32]bool, len(slots)) // a reset of every rule's has thousands
	for _, slot := range slots {
		zero[slot] = true
	}
	var keys []uint32
	for _, gen := range gens {
		for r := range min(uint32(confs[gen].Nrules), layout.MaxRules) {
			if zero[ranks[gen*layout.MaxRules+r].Slot] {
				keys = append(keys, rankCounter(gen, r))
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := m.RankStats.BatchUpdate(keys, make([]xdpfwCounter, len(keys)*ncpu), nil); err != nil {
		return fmt.Errorf("reset rank counters: %w", err)
	}
	return nil
}

// ruleCounters sums each rule of slots' counters: its rule_stats slot
// and its ranks' counters in both generations.
func ruleCounters(m *xdpfwMaps, slots map[uint32]uint32) (map[uint32]Counter, error) {
	top := -1
	for _, slot := range slots {
		top = max(top, int(slot))
	}
	kept, err := sumsPerCPU(m.RuleStats, top+1)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]Counter, len(slots))
	for id, slot := range slots {
		out[id] = kept[slot]
	}
	var confs [numGens]xdpfwGenConfig
	for gen := range confs {
		if err := readGenConf(m.GenConf, uint32(gen), &confs[gen]); err != nil {
			return nil, fmt.Errorf("read generation %d config: %w", gen, err)
		}
	}
	if err := rankCounts(m, &confs, slots, out); err != nil {
		return nil, err
	}
	return out, nil
}

// foldRankCounts moves what generation gen's ranks counted into the
// rule_stats slots their entries name, and zeroes them, before a commit
// rewrites gen (whose config is conf, as its last commit left it).
// Packets stopped counting in gen when the last commit switched away
// from it. Every rank moves, whether or not the ruleset being made live
// keeps its rule: a change that stops before its switch leaves the live
// rules live with what they counted (but for a slot it zeroed for a new
// rule: tx.zero). A slot no rule holds keeps what a deleted rule counted
// until the slot is given to a new rule, which zeroes it first.
func foldRankCounts(m *xdpfwMaps, gen uint32, conf *xdpfwGenConfig) error {
	n := min(uint32(conf.Nrules), layout.MaxRules)
	if conf.Flags&gfWriting != 0 || n == 0 {
		return nil
	}
	counts, ncpu, err := perCPU(m.RankStats, int(n*numGens))
	if err != nil {
		return err
	}
	var moved []uint32 // ranks with counts
	for r := range n {
		for _, c := range counts[int(rankCounter(gen, r))*ncpu:][:ncpu] {
			if c.Packets != 0 || c.Bytes != 0 {
				moved = append(moved, r)
				break
			}
		}
	}
	if len(moved) == 0 {
		return nil
	}
	ranks, err := rankEntries(m)
	if err != nil {
		return err
	}
	top := -1
	for _, r := range moved {
		top = max(top, int(ranks[gen*layout.MaxRules+r].Slot))
	}
	if top >= int(m.RuleStats.MaxEntries()) {
		return fmt.Errorf("a rank entry of generation %d names counter slot %d, past the %d there are", gen, top, m.RuleStats.MaxEntries())
	}
	kept, _, err := perCPU(m.RuleStats, top+1)
	if err != nil {
		return err
	}
	var keys, zeroKeys []uint32
	var vals []xdpfwCounter
	for _, r := range moved {
		e := ranks[gen*layout.MaxRules+r]
		zeroKeys = append(zeroKeys, rankCounter(gen, r))
		from := counts[int(rankCounter(gen, r))*ncpu:][:ncpu]
		into := kept[int(e.Slot)*ncpu:][:ncpu]
		for cpu := range into {
			into[cpu].Packets += from[cpu].Packets
			into[cpu].Bytes += from[cpu].Bytes
		}
		keys = append(keys, e.Slot)
		vals = append(vals, into...)
	}
	if len(keys) > 0 {
		if _, err := m.RuleStats.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("move rank counters to their rules: %w", err)
		}
	}
	if _, err := m.RankStats.BatchUpdate(zeroKeys, make([]xdpfwCounter, len(zeroKeys)*ncpu), nil); err != nil {
		return fmt.Errorf("zero rank counters: %w", err)
	}
	return nil
}
