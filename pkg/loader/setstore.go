package loader

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The storage of one named set: four inner maps in the slot of the
// set4_host, set4_lpm, set6_host and set6_lpm outer maps. Elements carry
// their answer for both set generations (xdp/layout.h); in the resting
// state every entry is an element of both, value setClean.

// The kinds of inner map, in the order of setHandle.inner.
const (
	kindHost4 = iota
	kindLPM4
	kindHost6
	kindLPM6
	numKinds
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
var setTemplates = sync.OnceValue(func() [numKinds]*ebpf.MapSpec {
	spec, err := loadXdpfw()
	if err != nil {
		panic(err) // the embedded object: every test loads it
	}
	var t [numKinds]*ebpf.MapSpec
	for kind, name := range [numKinds]string{xdpfwMapSet4Host, xdpfwMapSet4Lpm, xdpfwMapSet6Host, xdpfwMapSet6Lpm} {
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
}

func (h *setHandle) Close() {
	for _, m := range h.inner {
		if m != nil {
			m.Close()
		}
	}
}

// newSetMaps creates the inner maps of a new set, hashes sized for caps.
func newSetMaps(slot uint32, caps [2]uint32) (*setHandle, error) {
	h := &setHandle{slot: slot}
	for kind := range numKinds {
		m, err := ebpf.NewMap(innerSpec(kind, caps[kind/2]))
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("create set map: %w", mapFull(err))
		}
		h.inner[kind] = m
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
	return nil
}

// openSetMaps opens the inner maps in slot.
func openSetMaps(m *xdpfwMaps, slot uint32) (*setHandle, error) {
	h := &setHandle{slot: slot}
	for kind := range numKinds {
		if err := m.setOuter(kind).Lookup(slot, &h.inner[kind]); err != nil {
			h.Close()
			return nil, fmt.Errorf("open set maps in slot %d: %w", slot, err)
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
// address; ok is false when there is none. Hosts (the full length) are
// in the hash, everything shorter in the trie.
func (h *setHandle) lookup(p netip.Prefix, maxLen int) (setVal, bool, error) {
	var v setVal
	a := p.Addr()
	if maxLen < 0 {
		return v, false, nil
	}
	var err error
	if maxLen == a.BitLen() {
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

// write puts entries, each kind in one batch.
func (h *setHandle) write(es []entry) error {
	var (
		k4h []layout.Set4Key
		k6h []layout.Set6Key
		k4p []layout.Set4LpmKey
		k6p []layout.Set6LpmKey
		v   [numKinds][]setVal
	)
	for _, e := range es {
		a, kind := e.p.Addr(), kindOf(e.p)
		switch kind {
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
		switch kindOf(p) {
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
	if uint32(want) <= def.HostCap[fam] {
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
