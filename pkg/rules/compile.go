package rules

import (
	"fmt"
	"net/netip"
	"sort"
)

// Classifier fields, numbered as enum field in xdp/layout.h.
const (
	FieldSrc = iota
	FieldDst
	FieldProto
	FieldSport
	FieldDport
	NumFields
)

// Protocol keys beyond the 256 IP protocol numbers (xdp/layout.h).
const (
	ProtoKeyNonIP = 256 // neither IP nor ARP
	ProtoKeyND    = 257 // ICMPv6 neighbour discovery
	ProtoKeyARP   = 258
	ProtoKeys     = 259
)

// Atom capacities per field and generation (xdp/layout.h). Each rule adds
// at most one prefix per address field and one range per port field, so
// these bounds always hold; Compile checks them anyway.
const (
	AddrAtoms = MaxRules + 1
	PortAtoms = 2*MaxRules + 1
)

// AtomCapacity is the vector slots each field has per generation.
var AtomCapacity = [NumFields]int{AddrAtoms, AddrAtoms, ProtoKeys, PortAtoms, PortAtoms}

// VecWords is the number of 64-bit words in a rule vector.
const VecWords = MaxRules / 64

// BitVec is a rule vector: bit r is set when the rule ranked r matches.
type BitVec [VecWords]uint64

func (v *BitVec) set(r int)   { v[r/64] |= 1 << (r % 64) }
func (v *BitVec) clear(r int) { v[r/64] &^= 1 << (r % 64) }
func (v *BitVec) or(o *BitVec) {
	for i := range v {
		v[i] |= o[i]
	}
}
func (v *BitVec) Has(r int) bool { return v[r/64]&(1<<(r%64)) != 0 }

// Summary has bit w set when word w of the vector is non-zero.
func (v *BitVec) Summary() uint64 {
	var s uint64
	for i, w := range v {
		if w != 0 {
			s |= 1 << i
		}
	}
	return s
}

func (v *BitVec) and(o *BitVec) BitVec {
	var out BitVec
	for i := range v {
		out[i] = v[i] & o[i]
	}
	return out
}

// PrefixAtom maps one address prefix to its atom. Host prefixes (/32,
// /128) go to the datapath's hash maps, shorter ones to its LPM tries.
type PrefixAtom struct {
	Prefix netip.Prefix
	Atom   uint32
}

// Tables is the exact content of one generation of the classifier maps.
// An atom is a class of field values that match the same rules; atom 0
// of every field is the class of "no value present or no entry found",
// which only rules without a condition on that field match.
type Tables struct {
	Policy Action
	Order  []Rule // rank r is Order[r]

	Src, Dst     []PrefixAtom
	Proto        [ProtoKeys]uint32
	Sport, Dport []uint32 // 65536 entries each; nil when no rule matches that port

	Vectors [NumFields][]BitVec // indexed by atom

	// Primary[f] holds the rules whose primary field is f: the first
	// field of primaryOrder they set. Wild holds the rules that set none.
	Primary [NumFields]BitVec
	Wild    BitVec
}

// primaryOrder ranks fields by how few values they usually match, so a
// rule's primary field is its most selective condition: addresses, then
// ports, then the protocol.
var primaryOrder = [NumFields]int{FieldSrc, FieldDst, FieldDport, FieldSport, FieldProto}

// Summary is the summary word the datapath stores for an atom: the words
// that hold rules with primary field f accepting this value. Every rule
// that matches a packet sets a bit in its primary field's summary (or is
// in Wild), so OR-ing the five summaries and Wild's names every word that
// can hold a match: for most packets a few, whatever the rule count.
func (t *Tables) Summary(f int, atom uint32) uint64 {
	v := t.Vectors[f][atom].and(&t.Primary[f])
	return v.Summary()
}

// Compile turns a valid ruleset into classifier tables. The result depends
// only on the ruleset, so the same ruleset always gives the same tables.
func Compile(rs *Ruleset) (*Tables, error) {
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	t := &Tables{Policy: rs.Policy, Order: Sorted(rs.Rules)}
	c := compiler{order: t.Order}
	t.Src, t.Vectors[FieldSrc] = c.addrField(func(m *Match) netip.Prefix { return m.Src })
	t.Dst, t.Vectors[FieldDst] = c.addrField(func(m *Match) netip.Prefix { return m.Dst })
	t.Vectors[FieldProto] = c.protoField(&t.Proto)
	t.Sport, t.Vectors[FieldSport] = c.portField(func(m *Match) PortRange { return m.Sport })
	t.Dport, t.Vectors[FieldDport] = c.portField(func(m *Match) PortRange { return m.Dport })
	t.Primary, t.Wild = primaries(t.Order)
	for f, vs := range t.Vectors {
		if len(vs) > AtomCapacity[f] {
			return nil, fmt.Errorf("field %d needs %d classes, more than its %d", f, len(vs), AtomCapacity[f])
		}
	}
	return t, nil
}

// primaries assigns each rule to the first field of primaryOrder it sets.
func primaries(order []Rule) (p [NumFields]BitVec, wild BitVec) {
	for r := range order {
		set := fieldsSet(&order[r].Match)
		f := -1
		for _, cand := range primaryOrder {
			if set[cand] {
				f = cand
				break
			}
		}
		if f < 0 {
			wild.set(r)
		} else {
			p[f].set(r)
		}
	}
	return p, wild
}

func fieldsSet(m *Match) [NumFields]bool {
	return [NumFields]bool{
		FieldSrc: m.Src.IsValid(), FieldDst: m.Dst.IsValid(), FieldProto: m.Proto.Set,
		FieldSport: m.Sport.Set, FieldDport: m.Dport.Set,
	}
}

type compiler struct {
	order []Rule
}

// atoms numbers distinct vectors in order of first appearance.
type atoms struct {
	ids  map[BitVec]uint32
	vecs []BitVec
}

func newAtoms(zero BitVec) *atoms {
	a := &atoms{ids: map[BitVec]uint32{}}
	a.id(&zero)
	return a
}

func (a *atoms) id(v *BitVec) uint32 {
	if id, ok := a.ids[*v]; ok {
		return id
	}
	id := uint32(len(a.vecs))
	a.ids[*v] = id
	a.vecs = append(a.vecs, *v)
	return id
}

// wildcard is the vector of rules that set no condition on a field.
func (c *compiler) wildcard(unset func(*Match) bool) BitVec {
	var v BitVec
	for r := range c.order {
		if unset(&c.order[r].Match) {
			v.set(r)
		}
	}
	return v
}

// addrField gives every distinct prefix the rules name the vector of rules
// whose prefix contains it: a longest-prefix lookup then yields exactly the
// rules whose prefix contains the address.
func (c *compiler) addrField(get func(*Match) netip.Prefix) ([]PrefixAtom, []BitVec) {
	wild := c.wildcard(func(m *Match) bool { return !get(m).IsValid() })
	byPrefix := map[netip.Prefix][]int{}
	for r := range c.order {
		if p := get(&c.order[r].Match); p.IsValid() {
			byPrefix[p] = append(byPrefix[p], r)
		}
	}
	prefixes := make([]netip.Prefix, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return prefixLess(prefixes[i], prefixes[j]) })

	a := newAtoms(wild)
	out := make([]PrefixAtom, 0, len(prefixes))
	for _, p := range prefixes {
		v := wild
		for bits := p.Bits(); bits >= 0; bits-- {
			anc, _ := p.Addr().Prefix(bits)
			for _, r := range byPrefix[anc] {
				v.set(r)
			}
		}
		out = append(out, PrefixAtom{Prefix: p, Atom: a.id(&v)})
	}
	return out, a.vecs
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}

// protoField fills the protocol key table. ND frames match only rules that
// name ICMPv6, ARP frames no rule, other non-IP frames rules without a
// protocol (their other fields then decide).
func (c *compiler) protoField(keys *[ProtoKeys]uint32) []BitVec {
	wild := c.wildcard(func(m *Match) bool { return !m.Proto.Set })
	a := newAtoms(wild)
	for k := 0; k < 256; k++ {
		v := wild
		for r := range c.order {
			if p := c.order[r].Match.Proto; p.Set && int(p.Num) == k {
				v.set(r)
			}
		}
		keys[k] = a.id(&v)
	}
	keys[ProtoKeyNonIP] = a.id(&wild)
	var nd, none BitVec
	for r := range c.order {
		if p := c.order[r].Match.Proto; p.Set && p.Num == 58 {
			nd.set(r)
		}
	}
	keys[ProtoKeyND] = a.id(&nd)
	keys[ProtoKeyARP] = a.id(&none)
	return a.vecs
}

// portField sweeps the 65536 ports once, keeping the vector of ranges that
// cover the current port. Frames without ports use atom 0.
func (c *compiler) portField(get func(*Match) PortRange) ([]uint32, []BitVec) {
	wild := c.wildcard(func(m *Match) bool { return !get(m).Set })
	a := newAtoms(wild)
	starts := map[int][]int{}
	ends := map[int][]int{}
	for r := range c.order {
		if pr := get(&c.order[r].Match); pr.Set {
			starts[int(pr.Lo)] = append(starts[int(pr.Lo)], r)
			ends[int(pr.Hi)+1] = append(ends[int(pr.Hi)+1], r)
		}
	}
	if len(starts) == 0 {
		return nil, a.vecs
	}
	table := make([]uint32, 65536)
	cur := wild
	id := a.id(&cur)
	for port := 0; port < 65536; port++ {
		es, se := ends[port], starts[port]
		if len(es) > 0 || len(se) > 0 {
			for _, r := range es {
				cur.clear(r)
			}
			for _, r := range se {
				cur.set(r)
			}
			id = a.id(&cur)
		}
		table[port] = id
	}
	return table, a.vecs
}
