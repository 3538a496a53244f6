package loader

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The storage of one named set: four inner maps in the slot of the
// set4_host, set4_lpm, set6_host and set6_lpm outer maps, and an IPv4
// bucket array in set4_bkt's (setbuckets.go), which holds the IPv4
// entries of the lengths its head lists; set4_host then stays empty. A
// set made by layout 12 has no bucket array and keeps its IPv4 hosts in
// set4_host. Elements carry their answer for both set generations
// (xdp/layout.h); in the resting state every entry is an element of
// both, value setClean.

// The kinds of inner map, in the order of setHandle.inner, then the
// bucket array's (setHandle.bkt).
const (
	kindHost4 = iota
	kindLPM4
	kindHost6
	kindLPM6
	numKinds
	kindBkt4 = numKinds
)

const (
	setMember0 = 1 << layout.SetMemberShift // SET_MEMBER(g) = setMember0 << g
	setElem0   = 1 << layout.SetElemShift   // SET_ELEM(g) = setElem0 << g
	setClean   = setMember0 | setMember0<<1 | setElem0 | setElem0<<1

	maxSets       = layout.MaxSets
	setDefPending = layout.SetDefPending
	setDefLoading = layout.SetDefLoading
	setDefDropped = layout.SetDefDropped
	minHostCap    = layout.SetHostEntries // the templates' size, the least a set gets
)

func setMember(g uint32) uint8 { return setMember0 << g }
func setElem(g uint32) uint8   { return setElem0 << g }

// setVal is struct set_val, an element's value.
type setVal = layout.SetVal

// kindOf says which inner map holds p: hosts in the hashes, the rest in
// the tries.
func kindOf(p netip.Prefix) int {
	switch {
	case p.Addr().Is4() && p.Bits() == 32:
		return kindHost4
	case p.Addr().Is4():
		return kindLPM4
	case p.Bits() == 128:
		return kindHost6
	}
	return kindLPM6
}

// setTemplates are the inner map templates of xdp/xdpfw.c, by kind.
var setTemplates = sync.OnceValue(func() [numKinds + 1]*ebpf.MapSpec {
	spec, err := loadXdpfw()
	if err != nil {
		panic(err) // the embedded object: every test loads it
	}
	var t [numKinds + 1]*ebpf.MapSpec
	for kind, name := range [...]string{xdpfwMapSet4Host, xdpfwMapSet4Lpm, xdpfwMapSet6Host, xdpfwMapSet6Lpm, xdpfwMapSet4Bkt} {
		t[kind] = spec.Maps[name].InnerMap
	}
	return t
})

// innerSpec is the spec of an inner map of kind: its template in
// xdp/xdpfw.c, but host hashes get cap entries (the kernel lets an inner
// map's size differ from the template's).
func innerSpec(kind int, cap uint32) *ebpf.MapSpec {
	s := setTemplates()[kind].Copy()
	s.Name = [numKinds]string{"xdpfw_set4h", "xdpfw_set4p", "xdpfw_set6h", "xdpfw_set6p"}[kind]
	if kind == kindHost4 || kind == kindHost6 {
		s.MaxEntries = cap
	}
	return s
}

// hostCap is the hash size for n host entries: a power of two (the
// kernel rounds the bucket count up to one anyway) with room to grow.
func hostCap(n int) uint32 {
	n += n / 4
	if n < minHostCap {
		return minHostCap
	}
	return 1 << bits.Len(uint(n-1))
}

func (m *xdpfwMaps) setOuter(kind int) *ebpf.Map {
	return [numKinds]*ebpf.Map{m.Set4Host, m.Set4Lpm, m.Set6Host, m.Set6Lpm}[kind]
}

// setHandle is one set's inner maps.
type setHandle struct {
	slot  uint32
	inner [numKinds]*ebpf.Map
	bkt   *setBuckets // nil: a set of layout 12
	outer *ebpf.Map   // set4_bkt, where a new array is swapped in
}

func (h *setHandle) Close() {
	for _, m := range h.inner {
		if m != nil {
			m.Close()
		}
	}
	if h.bkt != nil {
		h.bkt.Close()
	}
}

// newSetMaps creates the inner maps of a new set, hashes sized for caps.
func newSetMaps(m *xdpfwMaps, slot uint32, caps [2]uint32) (*setHandle, error) {
	h := &setHandle{slot: slot, outer: m.Set4Bkt}
	for kind := range numKinds {
		m, err := ebpf.NewMap(innerSpec(kind, caps[kind/2]))
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("create set map: %w", mapFull(err))
		}
		h.inner[kind] = m
	}
	var err error
	if h.bkt, err = newBuckets(layout.SetBktMin, nil, nil, 0); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// install puts h's maps into its slot. Each outer-map update waits for
// packets in flight (the kernel's synchronize_rcu), about 10 ms here.
func (h *setHandle) install(m *xdpfwMaps) error {
	for kind := range numKinds {
		if err := m.setOuter(kind).Put(h.slot, h.inner[kind]); err != nil {
			return fmt.Errorf("install set maps: %w", err)
		}
	}
	if err := m.Set4Bkt.Put(h.slot, h.bkt.m); err != nil {
		return fmt.Errorf("install set maps: %w", err)
	}
	return nil
}

// openSetMaps opens the inner maps in slot.
func openSetMaps(m *xdpfwMaps, slot uint32) (*setHandle, error) {
	h := &setHandle{slot: slot, outer: m.Set4Bkt}
	for kind := range numKinds {
		if err := m.setOuter(kind).Lookup(slot, &h.inner[kind]); err != nil {
			h.Close()
			return nil, fmt.Errorf("open set maps in slot %d: %w", slot, err)
		}
	}
	var bm *ebpf.Map
	switch err := m.Set4Bkt.Lookup(slot, &bm); {
	case errors.Is(err, ebpf.ErrKeyNotExist):
	case err != nil:
		h.Close()
		return nil, fmt.Errorf("open set maps in slot %d: %w", slot, err)
	default:
		if h.bkt, err = mapBuckets(bm); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// waitForPackets returns once every packet that was being classified
// when it was called has finished: updating an outer map makes the
// kernel wait for an RCU grace period. Re-installing the slot's own map
// changes nothing else.
func waitForPackets(m *xdpfwMaps, slot uint32) error {
	var inner *ebpf.Map
	if err := m.Set4Lpm.Lookup(slot, &inner); err != nil {
		return fmt.Errorf("wait for packets in flight: %w", err)
	}
	defer inner.Close()
	if err := m.Set4Lpm.Put(slot, inner); err != nil {
		return fmt.Errorf("wait for packets in flight: %w", err)
	}
	return nil
}

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

// admit updates the buckets' head for es's IPv4 entries before any is
// written: lengths the buckets take (admit), and trie_max for the rest.
func (h *setHandle) admit(es []entry) {
	counts := map[uint8]int{}
	for _, e := range es {
		if e.p.Addr().Is4() {
			counts[uint8(e.p.Bits())]++
		}
	}
	if len(counts) == 0 {
		return
	}
	b := h.bkt
	lens, trieMax := admit(b.lens(), b.trieMax(), counts), b.trieMax()
	for l := range counts {
		if !slices.Contains(lens, l) {
			trieMax = max(trieMax, l+1)
		}
	}
	b.setHead(lens, trieMax, b.count())
}

// place writes the IPv4 entries of es that go to the buckets in one
// placement, so a large load builds the array once; writing es after
// rewrites them in place.
func (h *setHandle) place(es []entry) error {
	if h.bkt == nil {
		return nil
	}
	h.admit(es)
	var words []uint64
	for _, e := range es {
		if h.kindOf(e.p) == kindBkt4 {
			words = append(words, slotKey(e.p)|uint64(e.val.Flags)<<40)
		}
	}
	return h.putBuckets(words)
}

// putBuckets writes slot words into the bucket array. More than it has
// room for, or one whose buckets are both full, and the set gets a new
// array with all its keys.
func (h *setHandle) putBuckets(words []uint64) error {
	b := h.bkt
	if len(words) == 0 {
		return nil
	}
	fresh := 0
	for _, w := range words {
		if b.find(w&bktKeyMask) == nil {
			fresh++
		}
	}
	var left []uint64
	if need := int(b.count()) + fresh; need*4 > int(b.nbuckets())*layout.SetBktSlots*3 {
		left = words
	} else {
		for _, w := range words {
			if !b.put(w&bktKeyMask, uint8(w>>40)) {
				left = append(left, w)
			}
		}
	}
	if len(left) == 0 {
		return nil
	}
	return h.rebuildBuckets(left)
}

// rebuildBuckets builds the set a new bucket array with its keys and
// words (which replace a key's flags) and swaps it into the set's slot:
// a packet reads the old array or the new, each whole.
func (h *setHandle) rebuildBuckets(words []uint64) error {
	b, left := h.bkt, words
	all := b.words()
	pos := make(map[uint64]int, len(all)+len(left))
	for i, w := range all {
		pos[w&bktKeyMask] = i
	}
	for _, w := range left {
		if i, ok := pos[w&bktKeyMask]; ok {
			all[i] = w
		} else {
			pos[w&bktKeyMask] = len(all)
			all = append(all, w)
		}
	}
	nb := max(b.nbuckets(), bucketsFor(len(all)+len(all)/4)) // room to grow
	bigger, err := newBuckets(nb, all, b.lens(), b.trieMax())
	if err != nil {
		return err
	}
	if err := h.outer.Put(h.slot, bigger.m); err != nil {
		bigger.Close()
		return fmt.Errorf("swap a set's buckets: %w", err)
	}
	b.Close()
	h.bkt = bigger
	return nil
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

// grow replaces a host hash that cannot take want entries with a bigger
// copy. The copy answers exactly as the original for both generations,
// so swapping it in is invisible to packets.
func (h *setHandle) grow(m *xdpfwMaps, def *xdpfwSetDef, fam int, want int) error {
	if uint32(want) <= def.HostCap[fam] || fam == 0 && h.bkt != nil {
		return nil
	}
	kind := kindHost4 + 2*fam
	bigger, err := ebpf.NewMap(innerSpec(kind, hostCap(want)))
	if err != nil {
		return fmt.Errorf("grow set: %w", mapFull(err))
	}
	old := h.inner[kind]
	if fam == 0 {
		err = copyMap[layout.Set4Key](old, bigger)
	} else {
		err = copyMap[layout.Set6Key](old, bigger)
	}
	if err == nil {
		err = m.setOuter(kind).Put(h.slot, bigger)
	}
	if err != nil {
		bigger.Close()
		return fmt.Errorf("grow set: %w", err)
	}
	old.Close()
	h.inner[kind] = bigger
	def.HostCap[fam] = bigger.MaxEntries()
	return nil
}

func copyMap[K any](from, to *ebpf.Map) error {
	keys, vals, err := readAll[K, setVal](from)
	if err != nil {
		return err
	}
	return putBatch(to, keys, vals)
}

// putBatch and deleteBatch use batch syscalls for every map type; LPM
// tries have them too on the kernels xdpfw supports.
func putBatch[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	for off := 0; off < len(keys); off += 1 << 16 {
		end := min(off+1<<16, len(keys))
		if _, err := m.BatchUpdate(keys[off:end], vals[off:end], nil); err != nil {
			return fmt.Errorf("update set: %w", mapFull(err))
		}
	}
	return nil
}

func deleteBatch[K any](m *ebpf.Map, keys []K) error {
	for off := 0; off < len(keys); off += 1 << 16 {
		end := min(off+1<<16, len(keys))
		if _, err := m.BatchDelete(keys[off:end], nil); err != nil {
			return fmt.Errorf("delete from set: %w", err)
		}
	}
	return nil
}

// byLength sorts prefixes shortest first (ancestors before descendants),
// then by address, which is also the order tries fill fastest in.
func byLength(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if a.Bits() != b.Bits() {
			return a.Bits() - b.Bits()
		}
		return a.Addr().Compare(b.Addr())
	})
}
