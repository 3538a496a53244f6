// Package classifier is xdpfw's rule compiler: Compile turns a ruleset
// into Tables, the exact contents of one generation of the datapath's
// classifier maps (per dimension, the atoms of its values and the rule
// vector of each atom). It is pure Go: no root, no BPF.
package classifier

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Compile turns a valid ruleset into classifier tables. The result depends
// only on the ruleset, so the same ruleset always gives the same tables.
func Compile(rs *rules.Ruleset) (*Tables, error) {
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	t := &Tables{Policy: rs.Policy, Order: rules.Sorted(rs.Rules)}
	t.SrcSets, t.DstSets = rules.ReferencedSets(t.Order)
	c := compiler{order: t.Order, keys: keyContext{pk: protoKeySets{}, srcSets: t.SrcSets, dstSets: t.DstSets}}
	for r := range t.Order {
		for d, set := range constrained(&t.Order[r].Match) {
			t.Used[d] = t.Used[d] || set
		}
	}
	t.Used[DimProto] = true
	// Each dimension is compiled from the rules alone, into fields of t
	// no other writes, so they run side by side: at 4096 rules the
	// compile is most of a `rule add`, and its dimensions take similar
	// shares of it. Only the protocol's touches c.keys.pk.
	var wg sync.WaitGroup
	wg.Go(func() { t.Src, t.Vectors[DimSrc] = c.addrField(func(m *rules.Match) netip.Prefix { return m.Src }) })
	wg.Go(func() { t.Dst, t.Vectors[DimDst] = c.addrField(func(m *rules.Match) netip.Prefix { return m.Dst }) })
	for d := range NumDims {
		switch {
		case ValueKeys[d] == 0:
		case !t.Used[d]:
			t.Vectors[d] = []BitVec{c.wildcard(d)}
		default:
			wg.Go(func() { t.Values[d], t.Vectors[d] = c.valueDim(d) })
		}
	}
	wg.Go(func() { t.Ifaces, t.Vectors[DimIface] = c.ifaceDim() })
	t.Primary, t.Wild = primaries(t.Order)
	wg.Wait()
	for d, vs := range t.Vectors {
		if len(vs) > AtomCapacity[d] {
			return nil, fmt.Errorf("the rules need %d classes of %s, more than the %d there is room for", len(vs), DimNames[d], AtomCapacity[d])
		}
	}
	return t, nil
}

// primaries assigns each rule to the first dimension of primaryOrder it
// constrains.
func primaries(order []rules.Rule) (p [NumDims]BitVec, wild BitVec) {
	for r := range order {
		set := constrained(&order[r].Match)
		d := -1
		for _, cand := range primaryOrder {
			if set[cand] {
				d = cand
				break
			}
		}
		if d < 0 {
			wild.set(r)
		} else {
			p[d].set(r)
		}
	}
	return p, wild
}

// constrained reports which dimensions m sets a condition on.
func constrained(m *rules.Match) [NumDims]bool {
	return [NumDims]bool{
		DimSrc: m.Src.IsValid(), DimDst: m.Dst.IsValid(),
		DimProto: m.Proto.Set || m.Family != rules.FamilyAny || m.Fragment != rules.FragAnyPacket,
		DimSport: m.Sport.Set, DimDport: m.Dport.Set,
		DimL4:   m.TCPFlags.Set || m.ICMPType.Set || m.ICMPCode.Set,
		DimVLAN: m.VLAN.Set, DimInnerVLAN: m.InnerVLAN.Set,
		DimDSCP: m.DSCP.Set, DimTTL: m.TTL.Set, DimLen: m.Length.Set,
		DimIface:  m.Iface != "",
		DimSrcSet: m.SrcSet != "", DimDstSet: m.DstSet != "",
		DimCT: m.CTState != 0,
	}
}

type compiler struct {
	order []rules.Rule
	keys  keyContext
}

// atoms numbers distinct vectors in order of first appearance. They are
// found by a hash of the vector, not with the 512-byte vector as map key:
// a map holding a copy of every vector was most of what Compile allocated.
type atoms struct {
	ids  map[uint64][]uint32 // by hash: the atoms whose vectors have it
	vecs []BitVec
}

var atomSeed = maphash.MakeSeed()

// newAtoms starts with zero as atom 0. About n more vectors will be
// added: room for them from the start spares the copies of a growing
// slice of 512-byte vectors.
func newAtoms(zero BitVec, n int) *atoms {
	a := &atoms{ids: make(map[uint64][]uint32, n+1), vecs: make([]BitVec, 0, n+1)}
	a.id(&zero)
	return a
}

func (a *atoms) id(v *BitVec) uint32 {
	h := maphash.Comparable(atomSeed, *v)
	for _, id := range a.ids[h] {
		if a.vecs[id] == *v {
			return id
		}
	}
	id := uint32(len(a.vecs))
	a.ids[h] = append(a.ids[h], id)
	a.vecs = append(a.vecs, *v)
	return id
}

// wildcard is the vector of rules that set no condition on dimension d.
func (c *compiler) wildcard(d int) BitVec {
	var v BitVec
	for r := range c.order {
		if !constrained(&c.order[r].Match)[d] {
			v.set(r)
		}
	}
	return v
}

// addrField gives every distinct prefix the rules name the vector of rules
// whose prefix contains it: a longest-prefix lookup then yields exactly the
// rules whose prefix contains the address.
func (c *compiler) addrField(get func(*rules.Match) netip.Prefix) ([]PrefixAtom, []BitVec) {
	var wild BitVec
	named := 0
	for r := range c.order {
		if get(&c.order[r].Match).IsValid() {
			named++
		}
	}
	// Sized at once: grown by assignment, the map's rehashing took more
	// of a 4096-rule compile than filling it.
	byPrefix := make(map[netip.Prefix][]int, named)
	for r := range c.order {
		if p := get(&c.order[r].Match); p.IsValid() {
			byPrefix[p] = append(byPrefix[p], r)
		} else {
			wild.set(r)
		}
	}
	prefixes := make([]netip.Prefix, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return prefixLess(prefixes[i], prefixes[j]) })

	// A prefix's ancestors are looked up only at the lengths the rules
	// use (by family), not at every length: a few lookups instead of up
	// to 129 per prefix.
	var lengths [2][]int // IPv4, IPv6; ascending
	for is6 := range lengths {
		var used [129]bool
		for p := range byPrefix {
			if p.Addr().Is6() == (is6 == 1) {
				used[p.Bits()] = true
			}
		}
		for bits, u := range used {
			if u {
				lengths[is6] = append(lengths[is6], bits)
			}
		}
	}

	a := newAtoms(wild, len(prefixes))
	out := make([]PrefixAtom, 0, len(prefixes))
	for _, p := range prefixes {
		v := wild
		is6 := 0
		if p.Addr().Is6() {
			is6 = 1
		}
		for _, bits := range lengths[is6] {
			if bits > p.Bits() {
				break
			}
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

// valueDim sweeps dimension d's keys once, keeping the vector of rules
// whose key set covers the current key (rules without a condition on d
// always). Where there is no value (no ports, a non-IP frame's DSCP) the
// datapath uses atom 0, the rules without a condition.
func (c *compiler) valueDim(d int) ([]uint16, []BitVec) {
	wild := c.wildcard(d)
	// Where each rule's intervals start, and end (the key after), sorted
	// by key for the sweep. Sorted lists, not maps by key: the sweep
	// visits every key (65536 per port dimension), and map lookups there
	// were most of a commit's compile time.
	sets := make([][]interval, len(c.order))
	n := 0
	for r := range c.order {
		sets[r] = c.keys.of(d, &c.order[r].Match)
		n += len(sets[r])
	}
	// Made at their size: grown by appends, 4096 rules' lists left twice
	// their size in garbage, fresh memory a CLI commit pays page faults for.
	starts, ends := make([]keyRule, 0, n), make([]keyRule, 0, n)
	for r := range c.order {
		for _, iv := range sets[r] {
			starts = append(starts, newKeyRule(iv.lo, r))
			ends = append(ends, newKeyRule(iv.hi+1, r))
		}
	}
	slices.Sort(starts)
	slices.Sort(ends)
	// The vector changes only where intervals start or end.
	changes := 0
	for _, keys := range [][]keyRule{starts, ends} {
		for i := range keys {
			if i == 0 || keys[i].key() != keys[i-1].key() {
				changes++
			}
		}
	}
	a := newAtoms(wild, min(changes, AtomCapacity[d]))
	table := make([]uint16, ValueKeys[d])
	cur := wild
	id := a.id(&cur)
	for k := range table {
		changed := false
		for ; len(ends) > 0 && ends[0].key() == k; ends = ends[1:] {
			cur.clear(ends[0].rule())
			changed = true
		}
		for ; len(starts) > 0 && starts[0].key() == k; starts = starts[1:] {
			cur.set(starts[0].rule())
			changed = true
		}
		if changed {
			id = a.id(&cur)
		}
		table[k] = uint16(id)
	}
	if d == DimProto {
		c.neighbourKeys(table, a, sets)
	}
	return table, a.vecs
}

// keyRule is a key where a rule's interval starts or ends, and the
// rule's rank, in one integer that sorts by key.
type keyRule uint64

func newKeyRule(key, rule int) keyRule { return keyRule(key)<<32 | keyRule(rule) }
func (k keyRule) key() int             { return int(k >> 32) }
func (k keyRule) rule() int            { return int(uint32(k)) }

// neighbourKeys redoes the keys whose frames even rules without any
// protocol condition must not match: ARP (no rule matches it) and ND
// (only rules naming ICMPv6 do, see model.Matches). sets are each rule's
// protocol keys.
func (c *compiler) neighbourKeys(table []uint16, a *atoms, sets [][]interval) {
	for k := range table {
		if !neighbourKey(k) {
			continue
		}
		var v BitVec
		for r := range c.order {
			for _, iv := range sets[r] {
				if iv.lo <= k && k <= iv.hi {
					v.set(r)
				}
			}
		}
		table[k] = uint16(a.id(&v))
	}
}

// neighbourKey says whether protocol key k is ARP's or neighbour
// discovery's: the frames the datapath itself lets pass (and, in a solo
// generation, lets match only rules on the protocol).
func neighbourKey(k int) bool {
	return k == PKeyARP || (k < PKeyNonIP && k%ProtoSpan == ProtoSlotND)
}

// ifaceDim gives each interface name the rules name its vector.
func (c *compiler) ifaceDim() ([]IfaceAtom, []BitVec) {
	wild := c.wildcard(DimIface)
	a := newAtoms(wild, 0)
	byName := map[string]*BitVec{}
	var names []string
	for r := range c.order {
		n := c.order[r].Match.Iface
		if n == "" {
			continue
		}
		if byName[n] == nil {
			v := wild
			byName[n] = &v
			names = append(names, n)
		}
		byName[n].set(r)
	}
	sort.Strings(names)
	out := make([]IfaceAtom, 0, len(names))
	for _, n := range names {
		out = append(out, IfaceAtom{Name: n, Atom: a.id(byName[n])})
	}
	return out, a.vecs
}
