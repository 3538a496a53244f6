package loader

import "github.com/xdpfw/xdpfw/pkg/rules"

// Constants mirrored from xdp/layout.h. TestLayoutMatchesObject checks them
// against the map sizes of the compiled object.
const (
	numGens     = 2
	vecPerGen   = 2*rules.AddrAtoms + rules.ProtoKeys + 2*rules.PortAtoms
	ruleDefSize = 500
	metaMagic   = 0x78647066
	metaVersion = 2
	portChunk   = 256
	portChunks  = 65536 / portChunk
)

// vecBase is where each field's atoms start within a generation's vectors.
var vecBase = func() [rules.NumFields]uint32 {
	var b [rules.NumFields]uint32
	for f := 1; f < rules.NumFields; f++ {
		b[f] = b[f-1] + uint32(rules.AtomCapacity[f-1])
	}
	return b
}()

// gen_conf.flags
const (
	gfSrc4Host = 1 << iota
	gfSrc4LPM
	gfSrc6Host
	gfSrc6LPM
	gfDst4Host
	gfDst4LPM
	gfDst6Host
	gfDst6LPM
	gfPorts
)

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
	xdpfwMapAddr6Host, xdpfwMapAddr6Lpm, xdpfwMapProtoAtoms, xdpfwMapPortAtoms,
	xdpfwMapVectors, xdpfwMapRanks,
}
