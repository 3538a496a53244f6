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
)

// The storage of one named set: four inner maps in the slot of the
// set4_host, set4_lpm, set6_host and set6_lpm outer maps, and a bucket
// array per family in set4_bkt's and set6_bkt's (setbuckets.go), which
// holds the family's entries of the lengths its head lists; the host
// hashes then stay empty. A set made by layout 12 has no bucket arrays
// and keeps its hosts in the hashes. Elements carry their answer for both
// set generations (xdp/layout.h); in the resting state every entry is an
// element of both, value setClean.

// The kinds of inner map, in the order of setHandle.inner, then the
// bucket arrays' (setHandle.bkt).
const (
	kindHost4 = iota
	kindLPM4
	kindHost6
	kindLPM6
	numKinds
	kindBkt4 = numKinds
	kindBkt6 = numKinds + 1
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
var setTemplates = sync.OnceValue(func() [numKinds + 2]*ebpf.MapSpec {
	spec, err := objectSpec()
	if err != nil {
		panic(err) // the embedded object: every test loads it
	}
	var t [numKinds + 2]*ebpf.MapSpec
	for kind, name := range [...]string{xdpfwMapSet4Host, xdpfwMapSet4Lpm, xdpfwMapSet6Host, xdpfwMapSet6Lpm, xdpfwMapSet4Bkt, xdpfwMapSet6Bkt} {
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
	bkt   [2]*setBuckets // IPv4's, IPv6's; nil: a set of layout 12
	outer [2]*ebpf.Map   // set4_bkt, set6_bkt: where a new array is swapped in
}

// bktOuter are the outer maps of the bucket arrays, IPv4's then IPv6's.
func (m *xdpfwMaps) bktOuter() [2]*ebpf.Map { return [2]*ebpf.Map{m.Set4Bkt, m.Set6Bkt} }

func (h *setHandle) Close() {
	for _, m := range h.inner {
		if m != nil {
			m.Close()
		}
	}
	for _, b := range h.bkt {
		if b != nil {
			b.Close()
		}
	}
}

// newSetMaps creates the inner maps of a new set, hashes sized for caps.
func newSetMaps(m *xdpfwMaps, slot uint32, caps [2]uint32) (*setHandle, error) {
	h := &setHandle{slot: slot, outer: m.bktOuter()}
	for kind := range numKinds {
		m, err := ebpf.NewMap(innerSpec(kind, caps[kind/2]))
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("create set map: %w", mapFull(err))
		}
		h.inner[kind] = m
	}
	for fam := range 2 {
		var err error
		if h.bkt[fam], err = newBuckets(fam == 1, layout.SetBktMin, 0, nil, nil, 0); err != nil {
			h.Close()
			return nil, err
		}
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
	for fam, outer := range m.bktOuter() {
		if err := outer.Put(h.slot, h.bkt[fam].m); err != nil {
			return fmt.Errorf("install set maps: %w", err)
		}
	}
	return nil
}

// openSetMaps opens the inner maps in slot.
func openSetMaps(m *xdpfwMaps, slot uint32) (*setHandle, error) {
	h := &setHandle{slot: slot, outer: m.bktOuter()}
	for kind := range numKinds {
		if err := m.setOuter(kind).Lookup(slot, &h.inner[kind]); err != nil {
			h.Close()
			return nil, fmt.Errorf("open set maps in slot %d: %w", slot, err)
		}
	}
	for fam, outer := range h.outer {
		var bm *ebpf.Map
		switch err := outer.Lookup(slot, &bm); {
		case errors.Is(err, ebpf.ErrKeyNotExist):
		case err != nil:
			h.Close()
			return nil, fmt.Errorf("open set maps in slot %d: %w", slot, err)
		default:
			if h.bkt[fam], err = mapBuckets(bm, fam == 1); err != nil {
				h.Close()
				return nil, err
			}
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

// grow replaces a host hash that cannot take want entries with a bigger
// copy. The copy answers exactly as the original for both generations,
// so swapping it in is invisible to packets.
func (h *setHandle) grow(m *xdpfwMaps, def *xdpfwSetDef, fam int, want int) error {
	if uint32(want) <= def.HostCap[fam] || h.bkt[fam] != nil {
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
