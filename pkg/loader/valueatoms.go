package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The value dimensions' atoms live in value_atoms sized to the ruleset
// (xdp/layout.h, enum chunk_base): each generation has the same number
// of entries, the chunks of the common dimensions and of the rare ones
// of a chunk each at fixed places, then those of the large rare ones in
// use. This file lays a generation's chunks out and writes them; grow.go
// makes the map larger when they do not fit.

// A generation's least entries (the common dimensions' chunks) and its
// most (every value dimension's).
const (
	chunksCommon    = layout.ChunksCommon
	maxChunksPerGen = layout.ChunksPerGen
)

// chunksPerGen is the entries each generation has in m.
func chunksPerGen(m *ebpf.Map) uint32 { return m.MaxEntries() / numGens }

// chunksOf is the chunks of a value dimension with n keys.
func chunksOf(n int) uint32 { return uint32(n+chunkSize-1) / chunkSize }

// chunkLayout is where each value dimension of values (nil: not in use)
// starts in a generation's part of value_atoms, and the entries the
// generation takes: the dimensions with a base below CHUNKS_COMMON at
// it, the large rare ones in use after them.
func chunkLayout(values *[classifier.NumDims][]uint16) (base [layout.NumDims]uint32, need uint32) {
	need = chunksCommon
	for d, table := range values {
		switch {
		case chunkBase[d] < chunksCommon:
			base[d] = chunkBase[d]
		case table != nil:
			base[d] = need
			need += chunksOf(len(table))
		}
	}
	return base, need
}

// writeValues writes each value dimension's key -> atom table in chunks
// into generation gen's part of m, as base lays them out.
func writeValues(m *ebpf.Map, gen uint32, values *[classifier.NumDims][]uint16, base *[layout.NumDims]uint32) error {
	start := gen * chunksPerGen(m)
	for d, table := range values {
		if table == nil {
			continue
		}
		n := chunksOf(len(table))
		keys := make([]uint32, n)
		chunks := make([]xdpfwAtomChunk, n)
		for c := range chunks {
			keys[c] = start + base[d] + uint32(c)
			copy(chunks[c].Atom[:], table[c*chunkSize:])
		}
		if err := putAll(m, keys, chunks); err != nil {
			return fmt.Errorf("%s table: %w", classifier.DimNames[d], err)
		}
	}
	return nil
}

// newValueAtoms makes a value_atoms map of perGen entries a generation
// holding the live generation's chunks of old, at the same place in its
// part: the live config (whose bases are within the part) indexes it as
// it did old, so a program given it decides as the one reading old does.
func newValueAtoms(spec *ebpf.MapSpec, old *ebpf.Map, live, perGen uint32) (*ebpf.Map, error) {
	ms := spec.Copy()
	ms.MaxEntries = numGens * perGen
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create a value_atoms map of %d entries: %w", ms.MaxEntries, err)
	}
	n := chunksPerGen(old)
	var (
		keys []uint32
		vals []xdpfwAtomChunk
	)
	err = forEachBatch(old, 256, func(ks []uint32, vs []xdpfwAtomChunk) error {
		for i, k := range ks {
			if k/n == live {
				keys, vals = append(keys, live*perGen+k%n), append(vals, vs[i])
			}
		}
		return nil
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("copy the live value atoms: %w", err)
	}
	if err := putAll(m, keys, vals); err != nil {
		m.Close()
		return nil, fmt.Errorf("copy the live value atoms: %w", err)
	}
	return m, nil
}
