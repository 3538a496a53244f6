package rules

import "net/netip"

// Classify runs the datapath's classification (xdp/xdpfw.c) over compiled
// tables in Go: the same lookups, the same candidate words, the same AND.
// It exists to test Compile without BPF (Classify(Compile(rs)) must agree
// with Evaluate(rs)) and to count the words a packet costs. It returns the
// rank of the first matching rule or -1, and how many words it ANDed.
func (t *Tables) Classify(p *Packet) (rank, words int) {
	var vecs [NumDims]*BitVec
	cand := t.Wild.Summary()
	for d := range NumDims {
		if !t.Used[d] {
			vecs[d] = &allRules // VEC_ALL: no summary bits, every rule
			continue
		}
		a := t.atom(d, p)
		vecs[d] = &t.Vectors[d][a]
		cand |= t.Summary(d, a)
	}
	for w := 0; w < VecWords; w++ {
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

var allRules = func() (v BitVec) {
	for i := range v {
		v[i] = ^uint64(0)
	}
	return v
}()

// atom is dimension d's atom for p, as the datapath's atoms() finds it.
func (t *Tables) atom(d int, p *Packet) uint32 {
	isIP := p.Kind == KindIPv4 || p.Kind == KindIPv6
	value := func(key int, present bool) uint32 {
		if !present {
			return 0
		}
		return uint32(t.Values[d][key])
	}
	switch d {
	case DimSrc:
		return lookupAddr(t.Src, p.Kind, p.Src)
	case DimDst:
		return lookupAddr(t.Dst, p.Kind, p.Dst)
	case DimProto:
		return value(ProtoKey(p), true)
	case DimSport:
		return value(int(p.Sport), p.HasPorts)
	case DimDport:
		return value(int(p.Dport), p.HasPorts)
	case DimL4:
		if p.HasTCPFlags {
			return value(int(p.TCPFlags), true)
		}
		return value(int(p.ICMPType)<<8|int(p.ICMPCode), p.HasICMP)
	case DimVLAN:
		return value(int(p.VLAN[0]), true)
	case DimInnerVLAN:
		return value(int(p.VLAN[1]), true)
	case DimDSCP:
		return value(int(p.DSCP), isIP)
	case DimTTL:
		return value(int(p.TTL), isIP)
	case DimLen:
		return value(int(clampLen(p.Len)), true)
	case DimSrcSet:
		return value(t.setMask(t.SrcSets, p.Src), isIP)
	case DimDstSet:
		return value(t.setMask(t.DstSets, p.Dst), isIP)
	case DimIface:
		for _, e := range t.Ifaces {
			if e.Name == p.Iface {
				return e.Atom
			}
		}
	}
	return 0
}

// setMask is the set dimension's key: bit j for membership in refs[j].
func (t *Tables) setMask(refs []string, a netip.Addr) int {
	mask := 0
	for j, name := range refs {
		if s := t.sets[name]; s != nil && s.Contains(a) {
			mask |= 1 << j
		}
	}
	return mask
}

// lookupAddr is the longest-prefix match over a field's entries (the
// datapath's host hash, then LPM trie, give the same answer).
func lookupAddr(entries []PrefixAtom, kind Kind, a netip.Addr) uint32 {
	if kind != KindIPv4 && kind != KindIPv6 {
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
