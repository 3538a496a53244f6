package loader

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"

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

// lookup finds the longest entry of length <= maxLen containing p's
// address; ok is false when there is none. IPv4 entries of the bucket
// lengths are in the buckets (hosts in the hash in a set of layout 12),
// IPv6 hosts in the hash, everything else in the trie.
func (h *setHandle) lookup(p netip.Prefix, maxLen int) (setVal, bool, error) {
	var v setVal
	a := p.Addr()
	if maxLen < 0 {
		return v, false, nil
	}
	var err error
	switch {
	case a.Is4() && h.bkt != nil:
		found := false
		for _, l := range h.bkt.lens() {
			if int(l) > maxLen {
				continue
			}
			if s := h.bkt.find(slotKey(netip.PrefixFrom(a, int(l)))); s != nil {
				w := atomic.LoadUint64(s)
				v, found = setVal{Flags: uint8(w >> 40), Len: l}, true
				break
			}
		}
		// the trie may hold a longer match only below trie_max
		if tm := int(h.bkt.trieMax()); found && tm <= int(v.Len)+1 || !found && tm == 0 {
			return v, found, nil
		}
		var t setVal
		err = h.inner[kindLPM4].Lookup(layout.Set4LpmKey{Prefixlen: uint32(maxLen), Addr: a.As4()}, &t)
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

// kindOf says which map holds p: kindBkt4 for an IPv4 prefix of a
// bucket length, else the kinds kindOf gives.
func (h *setHandle) kindOf(p netip.Prefix) int {
	if h.bkt != nil && p.Addr().Is4() {
		if slices.Contains(h.bkt.lens(), uint8(p.Bits())) {
			return kindBkt4
		}
		return kindLPM4
	}
	return kindOf(p)
}

// write puts entries: IPv4 ones into the buckets, their lengths admitted
// first where there is room, or into the trie, trie_max raised first;
// each other kind in one batch.
func (h *setHandle) write(es []entry) error {
	var (
		k4h []layout.Set4Key
		k6h []layout.Set6Key
		k4p []layout.Set4LpmKey
		k6p []layout.Set6LpmKey
		v   [numKinds][]setVal
		bkt []uint64
	)
	if h.bkt != nil {
		h.admit(es)
	}
	for _, e := range es {
		a, kind := e.p.Addr(), h.kindOf(e.p)
		switch kind {
		case kindBkt4:
			bkt = append(bkt, slotKey(e.p)|uint64(e.val.Flags)<<40)
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
		h.putBuckets(bkt),
		putBatch(h.inner[kindHost4], k4h, v[kindHost4]),
		putBatch(h.inner[kindLPM4], k4p, v[kindLPM4]),
		putBatch(h.inner[kindHost6], k6h, v[kindHost6]),
		putBatch(h.inner[kindLPM6], k6p, v[kindLPM6]),
	)
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
		switch h.kindOf(p) {
		case kindBkt4:
			h.bkt.del(slotKey(p))
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
	if h.bkt != nil {
		for _, w := range h.bkt.words() {
			p := slotPrefix(w)
			out = append(out, entry{p, setVal{Flags: uint8(w >> 40), Len: uint8(p.Bits())}})
		}
	}
	k4h, v4h, err := readAll[layout.Set4Key, setVal](h.inner[kindHost4])
	if err != nil {
		return nil, err
	}
	for i, k := range k4h {
		out = append(out, entry{netip.PrefixFrom(netip.AddrFrom4(k.Addr), 32), v4h[i]})
	}
	k4p, v4p, err := readAll[layout.Set4LpmKey, setVal](h.inner[kindLPM4])
	if err != nil {
		return nil, err
	}
	for i, k := range k4p {
		out = append(out, entry{netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen)), v4p[i]})
	}
	k6h, v6h, err := readAll[layout.Set6Key, setVal](h.inner[kindHost6])
	if err != nil {
		return nil, err
	}
	for i, k := range k6h {
		out = append(out, entry{netip.PrefixFrom(netip.AddrFrom16(k.Addr), 128), v6h[i]})
	}
	k6p, v6p, err := readAll[layout.Set6LpmKey, setVal](h.inner[kindLPM6])
	if err != nil {
		return nil, err
	}
	for i, k := range k6p {
		out = append(out, entry{netip.PrefixFrom(netip.AddrFrom16(k.Addr), int(k.Prefixlen)), v6p[i]})
	}
	return out, nil
}

// elements lists the set's elements in set generation g, sorted.
func (h *setHandle) elements(g uint32) ([]netip.Prefix, error) {
	es, err := h.entries()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(es))
	for _, e := range es {
		if e.val.Flags&setElem(g) != 0 {
			out = append(out, e.p)
		}
	}
	return rules.SortPrefixes(out), nil
}
