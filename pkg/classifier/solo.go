package classifier

// Solo gives, when every rule of t sets conditions on one dimension only
// (a denylist's hosts, prefixes and ports), the tables the datapath
// classifies without vectors (GF_SOLO): t with each atom it stores (the
// address entries', the value tables', the interfaces') replaced by the
// rank of the first rule on that dimension accepting the atom, plus one,
// or 0 when none does. A packet's first match is then the lowest such
// rank over its dimensions: a rule matches exactly when its dimension's
// value meets it, as every atom of every other dimension accepts it, but
// for ARP and neighbour discovery, which no rule without a protocol
// condition matches: the datapath knows those frames from parsing and
// counts only the protocol's entry for them. ok is false for any other
// ruleset: a rule on several dimensions or none, an atom accepting some
// of the other dimensions' rules but not all (or, for those frames, any),
// or a rule accepting atom 0 of its dimension (the datapath leaves 0,
// "none", in a dimension it does not look up). The vectors stay as they
// are, indexed by the atoms; the datapath does not read them.
func (t *Tables) Solo() (solo *Tables, ok bool) {
	if len(t.Order) == 0 || t.Wild.Summary() != 0 {
		return nil, false
	}
	for r := range t.Order {
		n := 0
		for _, set := range constrained(&t.Order[r].Match) {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, false
		}
	}
	// Each rule is in the Primary of its one dimension.
	var all BitVec
	for d := range t.Primary {
		all = all.or(&t.Primary[d])
	}
	var ranks [NumDims][]uint16
	for d, vecs := range t.Vectors {
		others := all.andNot(&t.Primary[d])
		ranks[d] = make([]uint16, len(vecs))
		for a := range vecs {
			if acc := vecs[a].and(&others); acc != others && d != DimProto {
				return nil, false
			}
			on := vecs[a].and(&t.Primary[d])
			if r := on.first(); r >= 0 {
				if a == 0 {
					return nil, false
				}
				ranks[d][a] = uint16(r + 1)
			}
		}
	}
	// The protocol's classes: all the other rules accepted, or, for ARP
	// and neighbour discovery, none.
	others := all.andNot(&t.Primary[DimProto])
	for k, a := range t.Values[DimProto] {
		want := others
		if neighbourKey(k) {
			want = BitVec{}
		}
		if t.Vectors[DimProto][a].and(&others) != want {
			return nil, false
		}
	}
	s := *t
	// A dimension no rule is on holds only zeros: not looked up.
	for d := range s.Used {
		s.Used[d] = s.Used[d] && t.Primary[d].first() >= 0
	}
	s.Src = soloPrefixes(t.Src, ranks[DimSrc])
	s.Dst = soloPrefixes(t.Dst, ranks[DimDst])
	for d, table := range t.Values {
		if table == nil {
			continue
		}
		s.Values[d] = make([]uint16, len(table))
		for k, a := range table {
			s.Values[d][k] = ranks[d][a]
		}
	}
	s.Ifaces = make([]IfaceAtom, len(t.Ifaces))
	for i, e := range t.Ifaces {
		s.Ifaces[i] = IfaceAtom{Name: e.Name, Atom: uint32(ranks[DimIface][e.Atom])}
	}
	return &s, true
}

func soloPrefixes(in []PrefixAtom, ranks []uint16) []PrefixAtom {
	out := make([]PrefixAtom, len(in))
	for i, e := range in {
		out[i] = PrefixAtom{Prefix: e.Prefix, Atom: uint32(ranks[e.Atom])}
	}
	return out
}
