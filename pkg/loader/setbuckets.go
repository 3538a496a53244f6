package loader

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// A set's IPv4 bucket array (xdp/layout.h, struct set4_bucket), mapped
// into this process: the program reads each slot as one word, so Go
// writes each with one atomic store, and never moves a key within a
// live array. A key whose buckets are both full is placed by building
// the set a new array (build) and swapping it into the set's slot.

const (
	bktWords   = 8                 // words per bucket: flags, then the slots
	bktKeyMask = uint64(1)<<40 - 1 // a slot word's key: address and length
)

// setBuckets is one mapped array.
type setBuckets struct {
	m   *ebpf.Map
	mem []byte
}

// mapBuckets maps m, which it then owns.
func mapBuckets(m *ebpf.Map) (*setBuckets, error) {
	size := int(m.MaxEntries()) * int(m.ValueSize())
	size = (size + unix.Getpagesize() - 1) &^ (unix.Getpagesize() - 1)
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map a set's buckets: %w", err)
	}
	return &setBuckets{m: m, mem: mem}, nil
}

func (b *setBuckets) Close() {
	if b.mem != nil {
		unix.Munmap(b.mem)
		b.mem = nil
	}
	b.m.Close()
}

// word is word i of element e (element 0 is the head).
func (b *setBuckets) word(e uint32, i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&b.mem[int(e)*bktWords*8+i*8]))
}

// The head's words: nbuckets | lens << 32, and trie_max | count << 32.
func (b *setBuckets) nbuckets() uint32 { return uint32(atomic.LoadUint64(b.word(0, 0))) }
func (b *setBuckets) count() uint32    { return uint32(atomic.LoadUint64(b.word(0, 1)) >> 32) }
func (b *setBuckets) trieMax() uint8   { return uint8(atomic.LoadUint64(b.word(0, 1))) }

// lens are the lengths in the buckets, longest first.
func (b *setBuckets) lens() []uint8 {
	var out []uint8
	for w := atomic.LoadUint64(b.word(0, 0)) >> 32; w&0xff != 0; w >>= 8 {
		out = append(out, uint8(w))
	}
	return out
}

func (b *setBuckets) setHead(lens []uint8, trieMax uint8, count uint32) {
	var l uint64
	for i, n := range lens {
		l |= uint64(n) << (8 * i)
	}
	atomic.StoreUint64(b.word(0, 0), uint64(b.nbuckets())|l<<32)
	atomic.StoreUint64(b.word(0, 1), uint64(trieMax)|uint64(count)<<32)
}

// slotKey is p's slot word without its flags.
func slotKey(p netip.Prefix) uint64 {
	a := p.Masked().Addr().As4()
	return uint64(binary.LittleEndian.Uint32(a[:])) | uint64(uint8(p.Bits())|layout.SetBktUsed)<<32
}

// slotPrefix is the prefix of a slot word.
func slotPrefix(w uint64) netip.Prefix {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], uint32(w))
	return netip.PrefixFrom(netip.AddrFrom4(a), int(uint8(w>>32)&^layout.SetBktUsed))
}

// bucketsOf are key's two buckets among nb (element numbers).
func bucketsOf(key uint64, nb uint32) [2]uint32 {
	return [2]uint32{
		1 + uint32((key*layout.SetBktHash1)>>32*uint64(nb)>>32),
		1 + uint32((key*layout.SetBktHash2)>>32*uint64(nb)>>32),
	}
}

// find gives the slot holding key, or nil.
func (b *setBuckets) find(key uint64) *uint64 {
	for _, e := range bucketsOf(key, b.nbuckets()) {
		for s := 1; s < bktWords; s++ {
			if w := b.word(e, s); atomic.LoadUint64(w)&bktKeyMask == key {
				return w
			}
		}
	}
	return nil
}

// put writes key's flags: over its slot, into an empty slot of its first
// bucket, or of its second (the first flagged overflowing before). It
// reports false when both are full.
func (b *setBuckets) put(key uint64, flags uint8) bool {
	w := key | uint64(flags)<<40
	if s := b.find(key); s != nil {
		atomic.StoreUint64(s, w)
		return true
	}
	bk := bucketsOf(key, b.nbuckets())
	for i, e := range bk {
		for s := 1; s < bktWords; s++ {
			if sl := b.word(e, s); atomic.LoadUint64(sl) == 0 {
				if i == 1 {
					f := b.word(bk[0], 0)
					atomic.StoreUint64(f, atomic.LoadUint64(f)|layout.SetBktOverflow)
				}
				atomic.StoreUint64(sl, w)
				b.addCount(1)
				return true
			}
		}
	}
	return false
}

// del empties key's slot, if it has one.
func (b *setBuckets) del(key uint64) {
	if s := b.find(key); s != nil {
		atomic.StoreUint64(s, 0)
		b.addCount(-1)
	}
}

func (b *setBuckets) addCount(d int) {
	w := b.word(0, 1)
	v := atomic.LoadUint64(w)
	atomic.StoreUint64(w, uint64(uint8(v))|uint64(uint32(int(v>>32)+d))<<32)
}

// words are every used slot's word.
func (b *setBuckets) words() []uint64 {
	out := make([]uint64, 0, b.count())
	for e := uint32(1); e <= b.nbuckets(); e++ {
		for s := 1; s < bktWords; s++ {
			if w := atomic.LoadUint64(b.word(e, s)); w != 0 {
				out = append(out, w)
			}
		}
	}
	return out
}

// bucketsFor is the array size for n keys: three quarters of the slots
// filled, where cuckoo placement always succeeds and greedy puts seldom
// find both buckets full.
func bucketsFor(n int) uint32 {
	nb := (n*4/3 + layout.SetBktSlots - 1) / layout.SetBktSlots
	return uint32(min(max(nb, layout.SetBktMin), layout.SetBktMax))
}

// newBuckets makes an array of nb buckets holding words (slot words with
// their flags), lens and trieMax in its head. It is not in any slot yet.
func newBuckets(nb uint32, words []uint64, lens []uint8, trieMax uint8) (*setBuckets, error) {
	if len(words) > int(nb)*layout.SetBktSlots {
		return nil, fmt.Errorf("a set's IPv4 buckets cannot hold %d entries", len(words))
	}
	in, overflow, err := place(len(words), int(nb), layout.SetBktSlots, func(i int) [2]uint32 {
		bk := bucketsOf(words[i]&bktKeyMask, nb)
		return [2]uint32{bk[0] - 1, bk[1] - 1}
	})
	if err != nil {
		return nil, fmt.Errorf("place a set's IPv4 entries: %w", err)
	}
	spec := setTemplates()[kindBkt4].Copy()
	spec.Name, spec.MaxEntries = "xdpfw_set4b", 1+nb
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, fmt.Errorf("create set map: %w", mapFull(err))
	}
	b, err := mapBuckets(m)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(b.word(0, 0), uint64(nb))
	b.setHead(lens, trieMax, uint32(len(words)))
	for i, keys := range in {
		e := uint32(i) + 1
		if overflow[i] {
			atomic.StoreUint64(b.word(e, 0), layout.SetBktOverflow)
		}
		for s, k := range keys {
			atomic.StoreUint64(b.word(e, s+1), words[k])
		}
	}
	return b, nil
}

// admit decides which of lens (the lengths of IPv4 entries about to be
// written, with their counts) the buckets take: those they hold, and new
// ones, most entries first, while there is room and the trie holds none
// of that length (none at or above trieMax). It gives the new list,
// longest first.
func admit(cur []uint8, trieMax uint8, counts map[uint8]int) []uint8 {
	out := slices.Clone(cur)
	cand := make([]uint8, 0, len(counts))
	for l := range counts {
		if l > 0 && !slices.Contains(out, l) && l+1 > trieMax {
			cand = append(cand, l)
		}
	}
	slices.SortFunc(cand, func(a, b uint8) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return int(b) - int(a)
	})
	for _, l := range cand {
		if len(out) == layout.SetBktLens {
			break
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b uint8) int { return int(b) - int(a) })
	return out
}
