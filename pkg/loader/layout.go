package loader

import "github.com/xdpfw/xdpfw/pkg/rules"

// Constants mirrored from xdp/layout.h. TestLayoutMatchesObject checks them
// against the map sizes of the compiled object.
const (
	numGens     = 2
	ruleDefSize = 500
	metaMagic   = 0x78647066
	metaVersion = 6
	chunkSize   = 256
)

// vecBase is where each dimension's atoms start within a generation's
// vectors; vecPerGen is their total and vecAll the all-ones vector after
// both generations.
var vecBase, vecPerGen = func() (b [rules.NumDims]uint32, n uint32) {
	for d := range rules.NumDims {
		b[d] = n
		n += uint32(rules.AtomCapacity[d])
	}
	return b, n
}()

var vecAll = numGens * vecPerGen

// chunkBase is where each value dimension's chunks start within a
// generation's value_atoms; chunksPerGen is their total.
var chunkBase, chunksPerGen = func() (b [rules.NumDims]uint32, n uint32) {
	for d := range rules.NumDims {
		b[d] = n
		n += uint32((rules.ValueKeys[d] + chunkSize - 1) / chunkSize)
	}
	return b, n
}()

// gen_conf.flags: address tables in use, then one bit per dimension.
const (
	gfSrc4Host = 1 << iota
	gfSrc4LPM
	gfSrc6Host
	gfSrc6LPM
	gfDst4Host
	gfDst4LPM
	gfDst6Host
	gfDst6LPM
)

func gfUse(d int) uint32 { return 1 << (8 + d) }

// gfWriting marks a generation a commit is writing (see view.commit). It
// is Go's alone: only the inactive generation ever carries it, and the
// program reads only the active one's config.
const gfWriting = 1 << 31

// verdict_stats indices (enum stat).
const (
	statPass = iota
	statDrop
	statDefault
	statMalformed
	statNeighbor
	numStats
)

// StatNames names verdict_stats entries for output, in index order.
var StatNames = [numStats]string{"pass", "drop", "default", "malformed", "neighbor"}

// addrTag is the tag byte of an address-table key: generation | dir << 1.
func addrTag(gen uint32, dir int) uint8 { return uint8(gen) | uint8(dir)<<1 }

// The maps a replay instance shares with the live program: exactly the
// ones the datapath reads to classify.
var classifierMaps = []string{
	xdpfwMapActive, xdpfwMapGenConf, xdpfwMapAddr4Host, xdpfwMapAddr4Lpm,
	xdpfwMapAddr6Host, xdpfwMapAddr6Lpm, xdpfwMapValueAtoms, xdpfwMapIfaceAtoms,
	xdpfwMapVectors, xdpfwMapRanks,
	xdpfwMapSet4Host, xdpfwMapSet4Lpm, xdpfwMapSet6Host, xdpfwMapSet6Lpm,
}
