package loader

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Where the stored rule definitions live (ruledef.go gives their bytes):
// one entry per generation and rule, in rule_defs when the definition
// fits its short values, else in rule_defs_long. The class follows from
// a definition's length alone, so writes know which map holds the old
// one and reads refuse a definition in the wrong map. Both maps allocate
// an entry when it is written (xdp/layout.h says why).

// fitsShort reports whether a definition of n bytes belongs in rule_defs.
func fitsShort(n int) bool { return n <= layout.RuleDefShortBytes }

// longDefSize is a rule_defs_long value's size: also the size of every
// rule_defs value in layout 14, which kept all definitions there.
const longDefSize = uint32(unsafe.Sizeof(xdpfwRuleDef{}))

// readRuleDefs reads every stored definition of both generations; hint
// is about how many each holds (its config's rule count; 0: unknown).
// The maps are made at that size: grown entry by entry, their rehashing
// cost a `rule add` at 4095 rules about 2 ms.
func readRuleDefs(m *xdpfwMaps, hint [numGens]int) ([numGens]map[uint32][]byte, error) {
	defs := [numGens]map[uint32][]byte{}
	for gen := range defs {
		defs[gen] = make(map[uint32][]byte, hint[gen])
	}
	longData := func(d *xdpfwRuleDef) []byte { return bounded(d.Data[:], d.Len) }
	if m.RuleDefs.ValueSize() == longDefSize {
		// A state of layout 14, read (to list it, or to move it) before
		// migrate builds its rule_defs anew. Its rule_defs holds every
		// definition; rule_defs_long is migrate's empty stand-in, or the
		// new one of a migration cut short, which pins rule_defs after
		// it (replaceMapPins): either way not this state's to read.
		err := readDefMap(m.RuleDefs, &defs, longData, func(int) bool { return true })
		return defs, err
	}
	err := readDefMap(m.RuleDefs, &defs, func(d *xdpfwRuleDefShort) []byte { return bounded(d.Data[:], d.Len) }, fitsShort)
	if err == nil {
		err = readDefMap(m.RuleDefsLong, &defs, longData, func(n int) bool { return !fitsShort(n) })
	}
	return defs, err
}

// bounded is data's first n bytes, or nil when n overruns it.
func bounded(data []byte, n uint32) []byte {
	if n > uint32(len(data)) {
		return nil
	}
	return data[:n]
}

// readDefMap adds the definitions in mp to defs. A definition takes tens
// of bytes of its value: the map is read a small batch at a time into
// the same buffers, and only the bytes used are kept.
func readDefMap[V any](mp *ebpf.Map, defs *[numGens]map[uint32][]byte, data func(*V) []byte, belongs func(int) bool) error {
	return forEachBatch(mp, 256, func(keys []xdpfwRuleDefKey, vals []V) error {
		total := 0
		for i, k := range keys {
			d := data(&vals[i])
			if k.Gen >= numGens || d == nil || !belongs(len(d)) {
				return fmt.Errorf("rule %d: stored definition is corrupt", k.Id)
			}
			if _, dup := defs[k.Gen][k.Id]; dup {
				return fmt.Errorf("rule %d: stored twice in generation %d", k.Id, k.Gen)
			}
			total += len(d)
		}
		buf := make([]byte, 0, total)
		for i, k := range keys {
			start := len(buf)
			buf = append(buf, data(&vals[i])...)
			defs[k.Gen][k.Id] = buf[start:len(buf):len(buf)]
		}
		return nil
	})
}

// writeDefs makes generation gen's stored rule definitions defs, given
// the ones it holds (old): only those that differ are written, and those
// of rules no longer there deleted, first (each map has room for two
// full rulesets, not for the old and the new one of a generation besides
// the other's), as is the old definition of a rule that moves to the
// other map. A crash in between leaves the generation, which is not the
// live one, without some definitions: the next commit writes them.
func writeDefs(m *xdpfwMaps, gen uint32, old, defs map[uint32][]byte) error {
	var (
		short               []xdpfwRuleDefShort
		long                []xdpfwRuleDef
		shortKeys, longKeys []xdpfwRuleDefKey
		gone                [2][]xdpfwRuleDefKey // by class: short, long
	)
	class := func(b []byte) int {
		if fitsShort(len(b)) {
			return 0
		}
		return 1
	}
	for id, b := range defs {
		k := xdpfwRuleDefKey{Gen: gen, Id: id}
		o, had := old[id]
		if had && bytes.Equal(o, b) {
			continue
		}
		if had && class(o) != class(b) {
			gone[class(o)] = append(gone[class(o)], k)
		}
		if class(b) == 0 {
			var d xdpfwRuleDefShort
			d.Len = uint32(copy(d.Data[:], b))
			shortKeys, short = append(shortKeys, k), append(short, d)
		} else {
			var d xdpfwRuleDef
			d.Len = uint32(copy(d.Data[:], b))
			longKeys, long = append(longKeys, k), append(long, d)
		}
	}
	for id, o := range old {
		if _, ok := defs[id]; !ok {
			gone[class(o)] = append(gone[class(o)], xdpfwRuleDefKey{Gen: gen, Id: id})
		}
	}
	if err := deleteKeys(m.RuleDefs, gone[0]); err != nil {
		return err
	}
	if err := deleteKeys(m.RuleDefsLong, gone[1]); err != nil {
		return err
	}
	if err := putAll(m.RuleDefs, shortKeys, short); err != nil {
		return err
	}
	return putAll(m.RuleDefsLong, longKeys, long)
}
