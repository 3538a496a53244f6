package loader

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
)

// What layout 15 kept otherwise, read (to list a state, or to move it)
// until migrate builds its maps anew.

// readGenConf reads generation gen's config into c. Layout 15's values
// were this layout's without chunk_base (its rare dimensions had fixed
// places), shorter: read, they leave it zero.
func readGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConf) error {
	if m.ValueSize() == uint32(unsafe.Sizeof(*c)) {
		return m.Lookup(gen, c)
	}
	raw := make([]byte, m.ValueSize())
	if err := m.Lookup(gen, raw); err != nil {
		return err
	}
	*c = xdpfwGenConf{}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(c)), unsafe.Offsetof(c.ChunkBase)), raw)
	return nil
}

// The rule definitions of layout 15: one entry per generation and
// rule, keyed (generation, id), with a 32-bit length. Its rule_defs
// values were 128 bytes, which tells such a state; its rule_defs_long
// values have this layout's size, so their entries tell themselves: a
// layout-15 entry's second half-word is 0 where this layout's gens is
// not. A migration cut short may have pinned the new rule_defs_long
// before rule_defs (pinsLast), holding this layout's entries.

// prevDefShort is layout 15's rule_defs value.
type prevDefShort struct {
	Len  uint32
	Data [124]byte
}

// prevShortDefSize tells a rule_defs of layout 15.
const prevShortDefSize = uint32(unsafe.Sizeof(prevDefShort{}))

// readPrevDefs reads the definitions of a layout-15 state into st. A
// migration cut after pinning the new rule_defs_long leaves its entries,
// the live ruleset's definitions longer than this layout's short ones,
// for both generations, beside the old rule_defs, which holds those of
// 85 to 124 bytes too: the new entries are read first, and an old one
// of a generation a new one holds is left. The old entries take key
// slots of their own (numGens + gen), which nothing writes.
func readPrevDefs(m *xdpfwMaps, st *storedDefs) error {
	type prevEntry struct {
		gen, id uint32
		def     []byte
	}
	var old []prevEntry
	// Layout 15's keys are (gen, id): read as this layout's (id, slot).
	prev := func(k xdpfwRuleDefKey, d []byte) error {
		if k.Id >= numGens || d == nil {
			return fmt.Errorf("rule %d: stored definition is corrupt", k.Slot)
		}
		old = append(old, prevEntry{gen: k.Id, id: k.Slot, def: append([]byte(nil), d...)})
		return nil
	}
	err := forEachBatch(m.RuleDefsLong, 256, func(keys []xdpfwRuleDefKey, vals []xdpfwRuleDef) error {
		for i, k := range keys {
			d := &vals[i]
			var err error
			if d.Gens == 0 {
				err = prev(k, bounded(d.Data[:], uint32(d.Len)))
			} else if gens, b := longEntry(d); k.Slot >= numGens || gens>>numGens != 0 || b == nil {
				err = fmt.Errorf("rule %d: stored definition is corrupt", k.Id)
			} else {
				err = st.add(k.Id, k.Slot, gens, append([]byte(nil), b...))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = forEachBatch(m.RuleDefs, 256, func(keys []xdpfwRuleDefKey, vals []prevDefShort) error {
		for i, k := range keys {
			if err := prev(k, bounded(vals[i].Data[:], vals[i].Len)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range old {
		if _, held := st.def[e.gen][e.id]; held {
			continue
		}
		if err := st.add(e.id, numGens+e.gen, genBit(e.gen), e.def); err != nil {
			return err
		}
	}
	return nil
}
