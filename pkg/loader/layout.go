package loader

import "github.com/xdpfw/xdpfw/pkg/layout"

// The loader's names for the constants of xdp/layout.h (pkg/layout is
// generated from it).
const (
	numGens     = layout.NumGens
	metaMagic   = layout.MetaMagic
	metaVersion = layout.MetaVersion
	chunkSize   = layout.Chunk
)

// chunkBase is where each value dimension's chunks start within a
// generation's part of value_atoms were every one in use: the common
// ones' always (valueatoms.go).
var chunkBase = layout.ChunkBase

// gen_conf.flags: source address tables in use (the destination's are
// these << 4), then one bit per dimension.
const (
	gfSrc4Host = layout.GfSrc4Host
	gfSrc4LPM  = layout.GfSrc4Lpm
	gfSrc6Host = layout.GfSrc6Host
	gfSrc6LPM  = layout.GfSrc6Lpm
)

func gfUse(d int) uint32 { return 1 << (layout.GfUseShift + d) }

// gfWriting marks a generation a commit is writing (see tx.prepare). It
// is Go's alone: only the inactive generation ever carries it, and the
// program reads only the active one's config.
const gfWriting = 1 << 31

// StatNames names verdict_stats entries (enum stat) for output, in index
// order.
var StatNames = [layout.NumStats]string{"pass", "drop", "default", "malformed", "neighbor"}

// addrTag is the tag byte of an address-table key: generation | dir << 1.
func addrTag(gen uint32, dir int) uint8 { return uint8(gen) | uint8(dir)<<1 }

// The maps a replay instance shares with the live program: exactly the
// ones the datapath reads to classify.
var classifierMaps = []string{
	xdpfwMapActive, xdpfwMapGenConf, xdpfwMapAddr4Host, xdpfwMapAddr4Lpm,
	xdpfwMapAddr6Host, xdpfwMapAddr6Lpm, xdpfwMapValueAtoms, xdpfwMapIfaceAtoms,
	xdpfwMapVectors, xdpfwMapRanks,
	xdpfwMapSet4Host, xdpfwMapSet4Lpm, xdpfwMapSet6Host, xdpfwMapSet6Lpm, xdpfwMapSet4Bkt, xdpfwMapSet6Bkt,
}
