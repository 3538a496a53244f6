package loader

import (
	"bytes"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Where the stored rule definitions live (ruledef.go gives their bytes):
// one entry per rule and content, whose gens says which generations hold
// it, in key slot 0 or 1 of the rule's id (xdp/layout.h). A definition
// that fits the short values is in rule_defs, a longer one in
// rule_defs_long. The class follows from a definition's length alone, so
// writes know which map holds an entry and reads refuse a definition in
// the wrong map. Both maps allocate an entry when it is written.

// fitsShort reports whether a definition of n bytes belongs in rule_defs.
func fitsShort(n int) bool { return n <= layout.RuleDefShortBytes }

// storedDefs are the stored definitions as read: each generation's, by
// rule id, and the key slot of the entry that holds it (one entry, the
// same slot, when both generations hold the same definition).
type storedDefs struct {
	def  [numGens]map[uint32][]byte
	slot [numGens]map[uint32]uint32
}

// genBit is generation gen's bit in an entry's gens.
func genBit(gen uint32) uint16 { return 1 << gen }

// readRuleDefs reads every stored definition of both generations; hint
// is about how many each holds (its config's rule count; 0: unknown).
// The maps are made at that size: grown entry by entry, their rehashing
// cost a `rule add` at 4095 rules about 2 ms.
func readRuleDefs(m *xdpfwMaps, hint [numGens]int) (storedDefs, error) {
	var st storedDefs
	for gen := range st.def {
		st.def[gen] = make(map[uint32][]byte, hint[gen])
		st.slot[gen] = make(map[uint32]uint32, hint[gen])
	}
	err := readDefMap(m.RuleDefs, &st, func(d *xdpfwRuleDefShort) (uint16, []byte) { return d.Gens, bounded(d.Data[:], uint32(d.Len)) }, fitsShort)
	if err == nil {
		err = readDefMap(m.RuleDefsLong, &st, longEntry, func(n int) bool { return !fitsShort(n) })
	}
	return st, err
}

func longEntry(d *xdpfwRuleDef) (uint16, []byte) { return d.Gens, bounded(d.Data[:], uint32(d.Len)) }

// bounded is data's first n bytes, or nil when n overruns it.
func bounded(data []byte, n uint32) []byte {
	if n > uint32(len(data)) {
		return nil
	}
	return data[:n]
}

// readDefMap adds the entries in mp to st. A definition takes tens of
// bytes of its value: the map is read a small batch at a time into the
// same buffers, and only the bytes used are kept.
func readDefMap[V any](mp *ebpf.Map, st *storedDefs, entry func(*V) (gens uint16, data []byte), belongs func(int) bool) error {
	return forEachBatch(mp, 256, func(keys []xdpfwRuleDefKey, vals []V) error {
		total := 0
		for i, k := range keys {
			gens, d := entry(&vals[i])
			if k.Slot >= numGens || gens == 0 || gens>>numGens != 0 || d == nil || !belongs(len(d)) {
				return fmt.Errorf("rule %d: stored definition is corrupt", k.Id)
			}
			total += len(d)
		}
		buf := make([]byte, 0, total)
		for i, k := range keys {
			gens, d := entry(&vals[i])
			start := len(buf)
			buf = append(buf, d...)
			if err := st.add(k.Id, k.Slot, gens, buf[start:len(buf):len(buf)]); err != nil {
				return err
			}
		}
		return nil
	})
}

// add records the entry of rule id in slot for the generations of gens,
// refusing a second definition of the rule in a generation, and two
// entries in one slot.
func (st *storedDefs) add(id, slot uint32, gens uint16, def []byte) error {
	for gen := range uint32(numGens) {
		s, had := st.slot[gen][id]
		switch {
		case gens&genBit(gen) != 0 && had:
			return fmt.Errorf("rule %d: stored twice in generation %d", id, gen)
		case gens&genBit(gen) == 0 && had && s == slot:
			return fmt.Errorf("rule %d: two stored definitions in slot %d", id, slot)
		}
	}
	for gen := range uint32(numGens) {
		if gens&genBit(gen) != 0 {
			st.def[gen][id], st.slot[gen][id] = def, slot
		}
	}
	return nil
}

// defPuts are entries to write, by class (short, long).
type defPuts struct {
	keys  [2][]xdpfwRuleDefKey
	short []xdpfwRuleDefShort
	long  []xdpfwRuleDef
}

func defClass(b []byte) int {
	if fitsShort(len(b)) {
		return 0
	}
	return 1
}

func (p *defPuts) add(id, slot uint32, gens uint16, b []byte) {
	k := xdpfwRuleDefKey{Id: id, Slot: slot}
	if c := defClass(b); c == 0 {
		d := xdpfwRuleDefShort{Len: uint16(len(b)), Gens: gens}
		copy(d.Data[:], b)
		p.keys[c], p.short = append(p.keys[c], k), append(p.short, d)
	} else {
		d := xdpfwRuleDef{Len: uint16(len(b)), Gens: gens}
		copy(d.Data[:], b)
		p.keys[c], p.long = append(p.keys[c], k), append(p.long, d)
	}
}

func (p *defPuts) write(m *xdpfwMaps) error {
	if err := putAll(m.RuleDefs, p.keys[0], p.short); err != nil {
		return err
	}
	return putAll(m.RuleDefsLong, p.keys[1], p.long)
}

// writeDefs makes generation gen's stored rule definitions defs, given
// what is stored (st), without changing what the other, live generation
// reads (planDefs says how).
func writeDefs(m *xdpfwMaps, gen uint32, st *storedDefs, defs map[uint32][]byte) error {
	p := planDefs(gen, st, defs)
	if err := p.leave(m); err != nil {
		return err
	}
	return p.get(m)
}

// defPlan is a generation's definitions written in two steps, so no
// generation ever holds two definitions of a rule: first gen's bit
// leaves the entries gen no longer holds (an entry the live generation
// holds too is rewritten in place with its bit alone, else deleted, as
// is an entry whose content moves to the other map), then the entries
// gen gets are written (the live generation's entry, when it holds the
// same definition, rewritten with both bits; else a new one in the slot
// the live generation does not use). Only the rules whose definition in
// gen changes are written. A crash in between leaves gen, which is not
// live, without some definitions: the next commit writes them.
type defPlan struct {
	gone           [2][]xdpfwRuleDefKey // by class
	leaving, given defPuts
}

func planDefs(gen uint32, st *storedDefs, defs map[uint32][]byte) *defPlan {
	live := 1 - gen
	p := &defPlan{}
	del := func(id, slot uint32, b []byte) {
		p.gone[defClass(b)] = append(p.gone[defClass(b)], xdpfwRuleDefKey{Id: id, Slot: slot})
	}
	write := func(id uint32, want []byte, wanted bool) {
		cg, hasG := st.def[gen][id]
		ca, hasA := st.def[live][id]
		sg, sa := st.slot[gen][id], st.slot[live][id]
		shared := hasG && hasA && sg == sa
		switch {
		case !wanted:
			if shared {
				p.leaving.add(id, sa, genBit(live), ca)
			} else if hasG {
				del(id, sg, cg)
			}
		case hasG && bytes.Equal(cg, want):
		case hasA && bytes.Equal(ca, want):
			if hasG {
				del(id, sg, cg)
			}
			p.given.add(id, sa, genBit(live)|genBit(gen), ca)
		default:
			slot := uint32(0)
			switch {
			case shared:
				p.leaving.add(id, sa, genBit(live), ca)
				slot = 1 - sa
			case hasG:
				slot = sg
				if defClass(cg) != defClass(want) {
					del(id, sg, cg)
				}
			case hasA:
				slot = 1 - sa
			}
			p.given.add(id, slot, genBit(gen), want)
		}
	}
	for id, b := range defs {
		write(id, b, true)
	}
	for id := range st.def[gen] {
		if _, ok := defs[id]; !ok {
			write(id, nil, false)
		}
	}
	return p
}

// leave is the plan's first step: gen's bit taken from what it leaves.
func (p *defPlan) leave(m *xdpfwMaps) error {
	if err := deleteKeys(m.RuleDefs, p.gone[0]); err != nil {
		return err
	}
	if err := deleteKeys(m.RuleDefsLong, p.gone[1]); err != nil {
		return err
	}
	return p.leaving.write(m)
}

// get is the second: gen's bit on what it gets.
func (p *defPlan) get(m *xdpfwMaps) error { return p.given.write(m) }
