package classifier

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// PrefixAtom maps one address prefix to its atom. Host prefixes (/32,
// /128) go to the datapath's hash maps, shorter ones to its LPM tries.
type PrefixAtom struct {
	Prefix netip.Prefix
	Atom   uint32
}

// IfaceAtom maps an input interface, by name, to its atom.
type IfaceAtom struct {
	Name string
	Atom uint32
}

// Tables is the exact content of one generation of the classifier maps.
// An atom is a class of values that match the same rules; atom 0 of every
// dimension is the class of "no value present or no entry found", which
// only rules without a condition on that dimension match.
type Tables struct {
	Policy rules.Action
	Order  []rules.Rule // rank r is Order[r]

	Src, Dst []PrefixAtom
	Values   [NumDims][]uint16 // key -> atom for value dimensions in use
	Ifaces   []IfaceAtom
	// SrcSets and DstSets name the sets the rules reference; bit j of a
	// set dimension's key stands for the j-th.
	SrcSets, DstSets []string

	// Used[d]: some rule sets a condition on d. The datapath looks up
	// only these; the others match every rule. Proto is always used: it
	// keeps ARP, non-IP frames and ND apart.
	Used    [NumDims]bool
	Vectors [NumDims][]BitVec // indexed by atom

	// Primary[d] holds the rules whose primary dimension is d: the first
	// of primaryOrder they constrain. Wild holds the rules that set none.
	Primary [NumDims]BitVec
	Wild    BitVec
}

// primaryOrder ranks dimensions by how few values they usually match, so
// a rule's primary dimension is its most selective condition.
var primaryOrder = [NumDims]int{
	DimSrc, DimDst, DimSrcSet, DimDstSet, DimDport, DimSport, DimL4, DimIface,
	DimInnerVLAN, DimVLAN, DimTTL, DimDSCP, DimLen, DimProto, DimCT,
}

// Summary is the summary word the datapath stores for an atom: the words
// that hold rules with primary dimension d accepting this value. Every
// rule that matches a packet sets a bit in its primary dimension's
// summary (or is in Wild), so OR-ing the summaries and Wild's names every
// word that can hold a match: for most packets a few, whatever the rule
// count.
func (t *Tables) Summary(d int, atom uint32) uint64 {
	v := t.Vectors[d][atom].and(&t.Primary[d])
	return v.Summary()
}
