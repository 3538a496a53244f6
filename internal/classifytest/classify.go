// Package classifytest is test code shared by the tests of two packages:
// Classify, the datapath's classification in Go (and ClassifySolo, that
// of a generation in solo form). pkg/classifier's tests
// check Compile with it and pkg/loader's benchmarks count the vector words
// a packet costs. Only tests import it.
package classifytest

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Classify runs the datapath's classification (xdp/xdpfw.c) over compiled
// tables in Go: the same lookups, the same candidate words, the same AND.
// It exists to test Compile without BPF (Classify(Compile(rs)) must agree
// with Evaluate(rs)) and to count the words a packet costs. sets are the
// ruleset's sets, which the tables name but do not hold. It returns the
// rank of the first matching rule or -1, and how many words it ANDed.
func Classify(t *classifier.Tables, sets rules.Sets, p *model.Packet) (rank, words int) {
	var vecs [classifier.NumDims]*classifier.BitVec
	cand := t.Wild.Summary()
	for d := range classifier.NumDims {
		if !t.Used[d] {
			vecs[d] = &allRules // VEC_ALL: no summary bits, every rule
			continue
		}
		a := atom(t, sets, d, p)
		vecs[d] = &t.Vectors[d][a]
		cand |= t.Summary(d, a)
	}
	for w := 0; w < classifier.VecWords; w++ {
		if cand&(1<<w) == 0 {
			continue
		}
		words++
		m := ^uint64(0)
		for _, v := range vecs {
			m &= v[w]
		}
		if m != 0 {
			for b := 0; b < 64; b++ {
				if m&(1<<b) != 0 {
					return w*64 + b, words
				}
			}
		}
	}
	return -1, words
}

var allRules = func() (v classifier.BitVec) {
	for i := range v {
		v[i] = ^uint64(0)
	}
	return v
}()

// atom is dimension d's atom for p, as the datapath's atoms() finds it.
func atom(t *classifier.Tables, sets rules.Sets, d int, p *model.Packet) uint32 {
	isIP := p.Kind == model.KindIPv4 || p.Kind == model.KindIPv6
	value := func(key int, present bool) uint32 {
		if !present {
			return 0
		}
		return uint32(t.Values[d][key])
	}
	switch d {
	case classifier.DimSrc:
		return lookupAddr(t.Src, p.Kind, p.Src)
	case classifier.DimDst:
		return lookupAddr(t.Dst, p.Kind, p.Dst)
	case classifier.DimProto:
		return value(protoKey(p), true)
	case classifier.DimSport:
		return value(int(p.Sport), p.HasPorts)
	case classifier.DimDport:
		return value(int(p.Dport), p.HasPorts)
	case classifier.DimL4:
		if p.HasTCPFlags {
			return value(int(p.TCPFlags), true)
		}
		return value(int(p.ICMPType)<<8|int(p.ICMPCode), p.HasICMP)
	case classifier.DimVLAN:
		return value(int(p.VLAN[0]), true)
	case classifier.DimInnerVLAN:
		return value(int(p.VLAN[1]), true)
	case classifier.DimDSCP:
		return value(int(p.DSCP), isIP)
	case classifier.DimTTL:
		return value(int(p.TTL), isIP)
	case classifier.DimLen:
		return value(min(p.Len, 65535), true) // 65535 and over count as 65535
	case classifier.DimSrcSet:
		return value(setMask(sets, t.SrcSets, p.Src), isIP)
	case classifier.DimDstSet:
		return value(setMask(sets, t.DstSets, p.Dst), isIP)
	case classifier.DimCT:
		return value(int(p.CT), true) // the caller's state: the datapath looks it up for every packet
	case classifier.DimIface:
		for _, e := range t.Ifaces {
			if e.Name == p.Iface {
				return e.Atom
			}
		}
	}
	return 0
}

// setMask is the set dimension's key: bit j for membership in refs[j].
func setMask(sets rules.Sets, refs []string, a netip.Addr) int {
	mask := 0
	for j, name := range refs {
		if s := sets[name]; s != nil && s.Contains(a) {
			mask |= 1 << j
		}
	}
	return mask
}

// lookupAddr is the longest-prefix match over a field's entries (the
// datapath's host hash, then LPM trie, give the same answer).
func lookupAddr(entries []classifier.PrefixAtom, kind model.Kind, a netip.Addr) uint32 {
	if kind != model.KindIPv4 && kind != model.KindIPv6 {
		return 0
	}
	best, atom := -1, uint32(0)
	for _, e := range entries {
		if e.Prefix.Contains(a) && e.Prefix.Bits() > best {
			best, atom = e.Prefix.Bits(), e.Atom
		}
	}
	return atom
}

// protoKey is the protocol dimension's key for a decoded frame, as the
// datapath computes it (proto_dim_key in xdp/xdpfw.c).
func protoKey(p *model.Packet) int {
	switch p.Kind {
	case model.KindARP:
		return classifier.PKeyARP
	case model.KindIPv4, model.KindIPv6:
	default:
		return classifier.PKeyNonIP
	}
	slot := int(p.Proto)
	if p.ND {
		slot = classifier.ProtoSlotND
	}
	group := int(p.Frag) * 2
	if p.Kind == model.KindIPv6 {
		group++
	}
	return group*classifier.ProtoSpan + slot
}

// ClassifySolo runs the datapath's classification of a generation in
// solo form (classifier.Tables.Solo, solo_match in xdp/xdpfw.c): the
// lowest rank any looked-up dimension's entry names, ARP and neighbour
// discovery counting only the protocol's. It returns the rank or -1.
func ClassifySolo(t *classifier.Tables, sets rules.Sets, p *model.Packet) int {
	best := -1
	for d := range classifier.NumDims {
		if !t.Used[d] || (d != classifier.DimProto && (p.Kind == model.KindARP || p.ND)) {
			continue
		}
		if v := int(atom(t, sets, d, p)); v > 0 && (best < 0 || v-1 < best) {
			best = v - 1
		}
	}
	return best
}
