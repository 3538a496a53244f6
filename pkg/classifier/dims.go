package classifier

import "github.com/xdpfw/xdpfw/pkg/layout"

// Classifier dimensions: enum dim in xdp/layout.h.
const (
	DimSrc       = layout.DimSrc
	DimDst       = layout.DimDst
	DimProto     = layout.DimProto // family, fragment class and protocol in one key
	DimSport     = layout.DimSport
	DimDport     = layout.DimDport
	DimL4        = layout.DimL4 // TCP flags, or ICMP type << 8 | code
	DimVLAN      = layout.DimVlan
	DimInnerVLAN = layout.DimIvlan
	DimDSCP      = layout.DimDscp
	DimTTL       = layout.DimTtl
	DimLen       = layout.DimLen
	DimIface     = layout.DimIface
	DimSrcSet    = layout.DimSset // which of the referenced source sets hold the source address
	DimDstSet    = layout.DimDset
	DimCT        = layout.DimCt // connection-tracking state (layout.CtNew...)
	NumDims      = layout.NumDims
)

// DimNames name the dimensions in messages.
var DimNames = [NumDims]string{
	DimSrc: "src", DimDst: "dst", DimProto: "proto", DimSport: "sport", DimDport: "dport", DimCT: "ct-state",
	DimL4: "l4", DimVLAN: "vlan", DimInnerVLAN: "inner-vlan", DimDSCP: "dscp", DimTTL: "ttl", DimLen: "length",
	DimIface: "iface", DimSrcSet: "src-set", DimDstSet: "dst-set",
}

// The protocol dimension's keys (xdp/layout.h): for IP frames
// (frag*2 + isIPv6)*ProtoSpan + protocol, protocol ProtoSlotND standing
// for neighbour discovery; then one key for non-IP frames and one for ARP.
const (
	ProtoSpan   = layout.ProtoSpan
	ProtoSlotND = layout.ProtoNd
	PKeyNonIP   = layout.PkeyNonip
	PKeyARP     = layout.PkeyArp
	ProtoKeys   = layout.ProtoKeys
)

// VLANKeys is the VLAN dimensions' key count: ids 0-4095 and VLANNone.
const VLANKeys = layout.VlanKeys

// Atom capacities per dimension and generation (xdp/layout.h). Address
// and range bounds always hold (one prefix or range per rule); L4 sets
// are not ranges, so Compile checks every bound anyway.
const (
	AddrAtoms  = layout.AddrAtoms
	RangeAtoms = layout.RangeAtoms
	L4Atoms    = layout.L4Atoms
	IfaceAtoms = layout.IfaceAtoms
)

// AtomCapacity is the atoms each dimension has room for per generation.
var AtomCapacity = func() (c [NumDims]int) {
	for d := range c {
		c[d] = int(layout.AtomBase[d+1] - layout.AtomBase[d])
	}
	return c
}()

// SetKeys is the set dimensions' key count: bit j of the key is set when
// the address is in the j-th set the rules reference in that direction.
const SetKeys = layout.SetKeys

// ValueKeys is each value dimension's key count (0: keyed otherwise).
var ValueKeys = [NumDims]int{
	DimProto: ProtoKeys, DimSport: layout.U16Keys, DimDport: layout.U16Keys, DimL4: layout.U16Keys,
	DimVLAN: VLANKeys, DimInnerVLAN: VLANKeys, DimDSCP: layout.DscpKeys, DimTTL: layout.TtlKeys, DimLen: layout.U16Keys,
	DimSrcSet: SetKeys, DimDstSet: SetKeys, DimCT: ctKeyCount,
}

// ctKeyCount is the ct-state dimension's key count: every value of
// enum ct_state fits below it.
const ctKeyCount = layout.CtKeys
