package loader

import (
	"errors"
	"iter"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// A set's entries through its handle: where each prefix lives (kindOf),
// the longest-match lookups a change computes its answers from, and
// writing, removing and listing entries (setstore.go has the maps).

// entry is one set entry in the kernel's terms.
type entry struct {
	p   netip.Prefix
	val setVal
}

// famOf is p's family index: 0 IPv4, 1 IPv6.
func famOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// lookup finds the longest entry of length <= maxLen containing p's
// address; ok is false when there is none. Entries of the bucket lengths
// are in the family's buckets, the others in its trie; a set of layout
// 12 keeps its hosts in the hashes, the rest in the tries.
func (h *setHandle) lookup(p netip.Prefix, maxLen int) (setVal, bool, error) {
	var v setVal
	a := p.Addr()
	if maxLen < 0 {
		return v, false, nil
	}
	var err error
	switch b := h.bkt[famOf(p)]; {
	case b != nil:
		found := false
		for _, l := range b.lens() {
			if int(l) > maxLen {
				continue
			}
			if e, s, ok := b.find(keyOf(netip.PrefixFrom(a, int(l)))); ok {
				sl, _ := b.at(e, s)
				v, found = setVal{Flags: sl.flags, Len: l}, true
				break
			}
		}
		// the trie may hold a longer match only below trie_max
		if tm := int(b.trieMax()); found && tm <= int(v.Len)+1 || !found && tm == 0 {
			return v, found, nil
		}
		var t setVal
		if a.Is4() {
			err = h.inner[kindLPM4].Lookup(layout.Set4LpmKey{Prefixlen: uint32(maxLen), Addr: a.As4()}, &t)
		} else {
			err = h.inner[kindLPM6].Lookup(layout.Set6LpmKey{Prefixlen: uint32(maxLen), Addr: a.As16()}, &t)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) || err == nil && found && t.Len <= v.Len {
			return v, found, nil
		}
		return t, err == nil, err
	case maxLen == a.BitLen():
		if a.Is4() {
			err = h.inner[kindHost4].Lookup(layout.Set4Key{Addr: a.As4()}, &v)
		} else {
			err = h.inner[kindHost6].Lookup(layout.Set6Key{Addr: a.As16()}, &v)
		}
		if err == nil || !errors.Is(err, ebpf.ErrKeyNotExist) {
			return v, err == nil, err
		}
	}
	if a.Is4() {
		err = h.inner[kindLPM4].Lookup(layout.Set4LpmKey{Prefixlen: uint32(min(maxLen, 31)), Addr: a.As4()}, &v)
	} else {
		err = h.inner[kindLPM6].Lookup(layout.Set6LpmKey{Prefixlen: uint32(min(maxLen, 127)), Addr: a.As16()}, &v)
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return v, false, nil
	}
	return v, err == nil, err
}

// has reports whether p is an element in set generation g.
func (h *setHandle) has(p netip.Prefix, g uint32) (bool, error) {
	v, ok, err := h.lookup(p, p.Bits())
	return ok && int(v.Len) == p.Bits() && v.Flags&setElem(g) != 0, err
}

// covered reports whether a strict ancestor of p is an element in set
// generation g: the MEMBER bit of the longest shorter entry says exactly
// that, as long as every shorter change is already written.
func (h *setHandle) covered(p netip.Prefix, g uint32) (bool, error) {
	v, ok, err := h.lookup(p, p.Bits()-1)
	return ok && v.Flags&setMember(g) != 0, err
}

// kindOf says which map holds p: its family's bucket array for a
// prefix of a bucket length, else its trie; in a set of layout 12, the
// kinds kindOf gives.
func (h *setHandle) kindOf(p netip.Prefix) int {
	fam := famOf(p)
	if b := h.bkt[fam]; b != nil {
		if b.holds(uint8(p.Bits())) {
			return kindBkt4 + fam
		}
		return kindLPM4 + 2*fam
	}
	return kindOf(p)
}

// write puts entries: into the buckets, their lengths admitted first
// where there is room, or into the tries, trie_max raised first; each
// other kind in one batch.
func (h *setHandle) write(es []entry) error {
	var (
		k4h []layout.Set4Key
		k6h []layout.Set6Key
		k4p []layout.Set4LpmKey
		k6p []layout.Set6LpmKey
		v   [numKinds][]setVal
		bkt [2][]bslot
	)
	h.admit(prefixesOf(es))
	// Each kind's slices sized first: grown by appends, a million entries'
	// were copied some twenty times into fresh memory.
	kinds := make([]uint8, len(es))
	var n [numKinds + 2]int // and the two bucket kinds
	for i, e := range es {
		kinds[i] = uint8(h.kindOf(e.p))
		n[kinds[i]]++
	}
	bkt[0], bkt[1] = make([]bslot, 0, n[kindBkt4]), make([]bslot, 0, n[kindBkt6])
	k4h, k6h = make([]layout.Set4Key, 0, n[kindHost4]), make([]layout.Set6Key, 0, n[kindHost6])
	k4p, k6p = make([]layout.Set4LpmKey, 0, n[kindLPM4]), make([]layout.Set6LpmKey, 0, n[kindLPM6])
	for k := range v {
		v[k] = make([]setVal, 0, n[k])
	}
	for i, e := range es {
		a, kind := e.p.Addr(), int(kinds[i])
		switch kind {
		case kindBkt4, kindBkt6:
			bkt[kind-kindBkt4] = append(bkt[kind-kindBkt4], bslot{keyOf(e.p), e.val.Flags})
			continue
		case kindHost4:
			k4h = append(k4h, layout.Set4Key{Addr: a.As4()})
		case kindHost6:
			k6h = append(k6h, layout.Set6Key{Addr: a.As16()})
		case kindLPM4:
			k4p = append(k4p, layout.Set4LpmKey{Prefixlen: uint32(e.p.Bits()), Addr: a.As4()})
		case kindLPM6:
			k6p = append(k6p, layout.Set6LpmKey{Prefixlen: uint32(e.p.Bits()), Addr: a.As16()})
		}
		v[kind] = append(v[kind], e.val)
	}
	return errors.Join(
		h.putBuckets(0, bkt[0]),
		h.putBuckets(1, bkt[1]),
		putBatch(h.inner[kindHost4], k4h, v[kindHost4]),
		putBatch(h.inner[kindLPM4], k4p, v[kindLPM4]),
		putBatch(h.inner[kindHost6], k6h, v[kindHost6]),
		putBatch(h.inner[kindLPM6], k6p, v[kindLPM6]),
	)
}

// prefixesOf yields es's prefixes.
func prefixesOf(es []entry) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		for _, e := range es {
			if !yield(e.p) {
				return
			}
		}
	}
}

// remove deletes entries, each kind in one batch.
func (h *setHandle) remove(ps []netip.Prefix) error {
	var (
		k4h []layout.Set4Key
		k6h []layout.Set6Key
		k4p []layout.Set4LpmKey
		k6p []layout.Set6LpmKey
	)
	for _, p := range ps {
		a := p.Addr()
		switch kind := h.kindOf(p); kind {
		case kindBkt4, kindBkt6:
			h.bkt[kind-kindBkt4].del(keyOf(p))
		case kindHost4:
			k4h = append(k4h, layout.Set4Key{Addr: a.As4()})
		case kindHost6:
			k6h = append(k6h, layout.Set6Key{Addr: a.As16()})
		case kindLPM4:
			k4p = append(k4p, layout.Set4LpmKey{Prefixlen: uint32(p.Bits()), Addr: a.As4()})
		case kindLPM6:
			k6p = append(k6p, layout.Set6LpmKey{Prefixlen: uint32(p.Bits()), Addr: a.As16()})
		}
	}
	return errors.Join(
		deleteBatch(h.inner[kindHost4], k4h), deleteBatch(h.inner[kindLPM4], k4p),
		deleteBatch(h.inner[kindHost6], k6h), deleteBatch(h.inner[kindLPM6], k6p),
	)
}

// entries reads every entry of the set.
func (h *setHandle) entries() ([]entry, error) {
	var out []entry
	err := h.eachEntry(func(n int) { out = make([]entry, 0, n) }, func(p netip.Prefix, v setVal) {
		out = append(out, entry{p, v})
	})
	return out, err
}

// eachEntry calls fn with every entry of the set, after size with how
// many there are (or a few more), so a caller can make its list at its
// size: a million entries grown by appends left as much again in
// garbage, whose fresh pages cost more than the reading. The buckets
// are read in place, not listed first.
func (h *setHandle) eachEntry(size func(n int), fn func(netip.Prefix, setVal)) error {
	n := 0
	for _, b := range h.bkt {
		if b != nil {
			n += min(int(b.count()), int(b.nbuckets())*b.slots())
		}
	}
	k4h, v4h, err := readAll[layout.Set4Key, setVal](h.inner[kindHost4])
	if err != nil {
		return err
	}
	k4p, v4p, err := readAll[layout.Set4LpmKey, setVal](h.inner[kindLPM4])
	if err != nil {
		return err
	}
	k6h, v6h, err := readAll[layout.Set6Key, setVal](h.inner[kindHost6])
	if err != nil {
		return err
	}
	k6p, v6p, err := readAll[layout.Set6LpmKey, setVal](h.inner[kindLPM6])
	if err != nil {
		return err
	}
	size(n + len(k4h) + len(k4p) + len(k6h) + len(k6p))
	for _, b := range h.bkt {
		if b == nil {
			continue
		}
		for sl := range b.each {
			p := sl.key.prefix(b.v6)
			fn(p, setVal{Flags: sl.flags, Len: uint8(p.Bits())})
		}
	}
	for i, k := range k4h {
		fn(netip.PrefixFrom(netip.AddrFrom4(k.Addr), 32), v4h[i])
	}
	for i, k := range k4p {
		fn(netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen)), v4p[i])
	}
	for i, k := range k6h {
		fn(netip.PrefixFrom(netip.AddrFrom16(k.Addr), 128), v6h[i])
	}
	for i, k := range k6p {
		fn(netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen)), v6p[i])
	}
	return nil
}

// elements lists the set's elements in set generation g, sorted, made
// from the entries as they are read: a list of the entries first was
// 64 MB more of a 1M-element set.
func (h *setHandle) elements(g uint32) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := h.eachEntry(func(n int) { out = make([]netip.Prefix, 0, n) }, func(p netip.Prefix, v setVal) {
		if v.Flags&setElem(g) != 0 {
			out = append(out, p)
		}
	})
	if err != nil {
		return nil, err
	}
	return rules.SortPrefixes(out), nil
}
