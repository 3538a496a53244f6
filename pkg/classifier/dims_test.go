package classifier

import (
	"testing"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestDimensionTables checks the tables Go keeps by dimension against the
// generated layout: every dimension has room for its atoms, and each value
// dimension's chunks in value_atoms hold exactly its keys.
func TestDimensionTables(t *testing.T) {
	for d := range NumDims {
		if AtomCapacity[d] <= 0 {
			t.Errorf("%s: capacity %d (layout.AtomBase lacks it?)", DimNames[d], AtomCapacity[d])
		}
		if k := ValueKeys[d]; k > 0 {
			// the next base of any dimension, in value_atoms' order
			next := uint32(layout.ChunksPerGen)
			for e := range NumDims {
				if ValueKeys[e] > 0 && layout.ChunkBase[e] > layout.ChunkBase[d] {
					next = min(next, layout.ChunkBase[e])
				}
			}
			if want := uint32((k + layout.Chunk - 1) / layout.Chunk); next-layout.ChunkBase[d] != want {
				t.Errorf("%s: %d chunks in the layout, %d keys need %d", DimNames[d], next-layout.ChunkBase[d], k, want)
			}
		}
	}
}
