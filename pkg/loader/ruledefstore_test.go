package loader

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// defMaps is a pair of empty definition maps, as the object makes them.
func defMaps(t *testing.T) *xdpfwMaps {
	t.Helper()
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	m := &xdpfwMaps{}
	for name, f := range map[string]**ebpf.Map{xdpfwMapRuleDefs: &m.RuleDefs, xdpfwMapRuleDefsLong: &m.RuleDefsLong} {
		if *f, err = ebpf.NewMap(spec.Maps[name]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*f).Close() })
	}
	return m
}

// TestDefStoreShares: commit after commit, each writing the inactive
// generation from the live one with some rules added, removed or
// rewritten (to a short or long definition, or back to what that
// generation held), the store reads back what was written, the live
// generation reads the same half-way through a write (after its first
// step, where a crash may stop it), and it holds one entry per rule and
// definition: one for a rule both generations hold alike.
func TestDefStoreShares(t *testing.T) {
	m := defMaps(t)
	rng := rand.New(rand.NewPCG(16, 1))
	def := func(id uint32) []byte {
		n := 8 + rng.IntN(70)
		if rng.IntN(6) == 0 {
			n = 100 + rng.IntN(400) // rule_defs_long
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = byte(id)
		return b
	}
	var want [numGens]map[uint32][]byte
	for gen := range want {
		want[gen] = map[uint32][]byte{}
	}
	read := func(step int, what string) storedDefs {
		t.Helper()
		st, err := readRuleDefs(m, [numGens]int{})
		if err != nil {
			t.Fatalf("step %d, %s: %v", step, what, err)
		}
		return st
	}
	for step := range 300 {
		gen := uint32(step % 2)
		live := 1 - gen
		next := maps.Clone(want[live])
		for range rng.IntN(8) {
			id := uint32(1 + rng.IntN(60))
			switch r := rng.IntN(4); {
			case r == 0:
				delete(next, id)
			case r == 1 && want[gen][id] != nil:
				next[id] = want[gen][id] // back to what gen held
			default:
				next[id] = def(id)
			}
		}
		st := read(step, "before")
		p := planDefs(gen, &st, next)
		if err := p.leave(m); err != nil {
			t.Fatal(err)
		}
		if half := read(step, "half-way"); !maps.EqualFunc(half.def[live], want[live], bytes.Equal) {
			t.Fatalf("step %d: the live generation changed half-way", step)
		}
		if err := p.get(m); err != nil {
			t.Fatal(err)
		}
		want[gen] = next
		got := read(step, "after")
		for g := range got.def {
			if !maps.EqualFunc(got.def[g], want[g], bytes.Equal) {
				t.Fatalf("step %d: generation %d reads %d definitions, want %d", step, g, len(got.def[g]), len(want[g]))
			}
		}
		entries := 0
		for id, b := range want[0] {
			entries++
			if o, ok := want[1][id]; ok && !bytes.Equal(o, b) {
				entries++
			}
		}
		for id := range want[1] {
			if _, ok := want[0][id]; !ok {
				entries++
			}
		}
		if n := countEntries(t, m.RuleDefs) + countEntries(t, m.RuleDefsLong); n != entries {
			t.Fatalf("step %d: %d entries stored, want %d", step, n, entries)
		}
	}
}

func countEntries(t *testing.T, m *ebpf.Map) int {
	t.Helper()
	n := 0
	var k xdpfwRuleDefKey
	it := m.Iterate()
	for it.Next(&k, new([]byte)) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
