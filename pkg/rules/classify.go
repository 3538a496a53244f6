package rules

import "net/netip"

// Classify runs the datapath's classification (xdp/xdpfw.c) over compiled
// tables in Go: the same lookups, the same candidate words, the same AND.
// It exists to test Compile without BPF (Classify(Compile(rs)) must agree
// with Evaluate(rs)) and to count the words a packet costs. It returns the
// rank of the first matching rule or -1, and how many words it ANDed.
func (t *Tables) Classify(p *Packet) (rank, words int) {
	atoms := [NumFields]uint32{
		FieldSrc:   lookupAddr(t.Src, p.Kind, p.Src),
		FieldDst:   lookupAddr(t.Dst, p.Kind, p.Dst),
		FieldProto: t.Proto[protoKey(p)],
		FieldSport: lookupPort(t.Sport, p, p.Sport),
		FieldDport: lookupPort(t.Dport, p, p.Dport),
	}
	cand := t.Wild.Summary()
	for f, a := range atoms {
		cand |= t.Summary(f, a)
	}
	for w := 0; w < VecWords; w++ {
		if cand&(1<<w) == 0 {
			continue
		}
		words++
		m := ^uint64(0)
		for f, a := range atoms {
			m &= t.Vectors[f][a][w]
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

func lookupPort(table []uint32, p *Packet, port uint16) uint32 {
	if !p.HasPorts || table == nil {
		return 0
	}
	return table[port]
}

// protoKey is the datapath's protocol table index for a decoded frame.
func protoKey(p *Packet) int {
	switch {
	case p.Kind == KindARP:
		return ProtoKeyARP
	case p.ND:
		return ProtoKeyND
	case p.HasProto:
		return int(p.Proto)
	}
	return ProtoKeyNonIP
}
