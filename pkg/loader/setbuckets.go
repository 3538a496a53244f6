package loader

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// A set's bucket array for one family (xdp/layout.h, struct set4_bucket
// and set6_bucket), mapped into this process: the program reads a slot's
// words in order, so Go writes each word with one atomic store, an IPv6
// slot's address before its first word, and never moves a key within a
// live array. A key whose buckets are both full is placed by building the
// set a new array (newBuckets) and swapping it into the set's slot.

const (
	bktWords   = 8                 // words per bucket: flags, then the slots
	bkt4KeyMsk = uint64(1)<<40 - 1 // an IPv4 slot word's key: address and length
)

// bkey is a key as its slot holds it: IPv4, the slot word without its
// flags (address | length | used << 32); IPv6, the first word without
// its flags (length | state << 16) and the address's two halves.
type bkey struct{ w, hi, lo uint64 }

// bslot is a used slot: its key and flags.
type bslot struct {
	key   bkey
	flags uint8
}

// keyOf is p's key.
func keyOf(p netip.Prefix) bkey {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		return bkey{w: uint64(binary.LittleEndian.Uint32(b[:])) | uint64(uint8(p.Bits())|layout.SetBktUsed)<<32}
	}
	b := a.As16()
	return bkey{w: uint64(p.Bits()) | layout.Set6SlotUsed<<16, hi: binary.LittleEndian.Uint64(b[:8]), lo: binary.LittleEndian.Uint64(b[8:])}
}

// prefix is the prefix of a key of the family v6 says.
func (k bkey) prefix(v6 bool) netip.Prefix {
	if !v6 {
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], uint32(k.w))
		return netip.PrefixFrom(netip.AddrFrom4(a), int(uint8(k.w>>32)&^layout.SetBktUsed))
	}
	var a [16]byte
	binary.LittleEndian.PutUint64(a[:8], k.hi)
	binary.LittleEndian.PutUint64(a[8:], k.lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), int(uint8(k.w)))
}

// buckets are k's two buckets among nb (element numbers) in an array of
// the seed given, as the program computes them: an IPv4 key's slot word
// XOR the seed, an IPv6 key's seeded fold (hash6), hashed two ways.
func (k bkey) buckets(v6 bool, nb uint32, seed uint64) [2]uint32 {
	h := k.w ^ seed
	if v6 {
		h = k.hash6(seed)
	}
	return [2]uint32{
		1 + uint32((h*layout.SetBktHash1)>>32*uint64(nb)>>32),
		1 + uint32((h*layout.SetBktHash2)>>32*uint64(nb)>>32),
	}
}

// hash6 folds an IPv6 key to the word its buckets come from, in an array
// of the seed given: the mix of the first half with the seed makes which
// keys fold to one word (and so share their buckets at every size)
// unknowable to whoever writes the list. Seed 0 adds nothing: the fold
// of arrays made before seeds (layout 18).
func (k bkey) hash6(seed uint64) uint64 {
	return k.hi*layout.SetBktHash6 ^ k.lo ^ k.w ^ seedMix(k.hi, seed)
}

// newSeed is a fresh array's seed: random, never 0 (no seed).
func newSeed() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("a seed for a set's buckets: %w", err)
		}
		if s := binary.LittleEndian.Uint64(b[:]); s != 0 {
			return s, nil
		}
	}
}

// setBuckets is one mapped array.
type setBuckets struct {
	m    *ebpf.Map
	mem  []byte
	v6   bool
	seed uint64 // the head's, fixed for the array's life
}

// mapBuckets maps m, which it then owns.
func mapBuckets(m *ebpf.Map, v6 bool) (*setBuckets, error) {
	size := int(m.MaxEntries()) * int(m.ValueSize())
	size = (size + unix.Getpagesize() - 1) &^ (unix.Getpagesize() - 1)
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map a set's buckets: %w", err)
	}
	b := &setBuckets{m: m, mem: mem, v6: v6}
	b.seed = loadWord(b.word(0, 3))
	return b, nil
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

func loadWord(w *uint64) uint64 { return atomic.LoadUint64(w) }

// The head's words: nbuckets | lens << 32; trie_max | count << 32; tombs.
func (b *setBuckets) nbuckets() uint32 { return uint32(loadWord(b.word(0, 0))) }
func (b *setBuckets) count() uint32    { return uint32(loadWord(b.word(0, 1)) >> 32) }
func (b *setBuckets) trieMax() uint8   { return uint8(loadWord(b.word(0, 1))) }
func (b *setBuckets) tombs() uint32    { return uint32(loadWord(b.word(0, 2))) }

// lens are the lengths in the buckets, longest first.
func (b *setBuckets) lens() []uint8 {
	var out []uint8
	for w := loadWord(b.word(0, 0)) >> 32; w&0xff != 0; w >>= 8 {
		out = append(out, uint8(w))
	}
	return out
}

// holds reports whether the buckets take length l.
func (b *setBuckets) holds(l uint8) bool {
	for w := loadWord(b.word(0, 0)) >> 32; w&0xff != 0; w >>= 8 {
		if uint8(w) == l {
			return true
		}
	}
	return false
}

func (b *setBuckets) setHead(lens []uint8, trieMax uint8, count uint32) {
	var l uint64
	for i, n := range lens {
		l |= uint64(n) << (8 * i)
	}
	atomic.StoreUint64(b.word(0, 0), uint64(b.nbuckets())|l<<32)
	atomic.StoreUint64(b.word(0, 1), uint64(trieMax)|uint64(count)<<32)
}

func (b *setBuckets) addCount(d int) {
	w := b.word(0, 1)
	v := loadWord(w)
	atomic.StoreUint64(w, uint64(uint8(v))|uint64(uint32(int(v>>32)+d))<<32)
}

// slots is the number of slots a bucket has.
func (b *setBuckets) slots() int {
	if b.v6 {
		return layout.Set6BktSlots
	}
	return layout.SetBktSlots
}

// first is the word of slot s that holds its flags and says it is used.
func (b *setBuckets) first(e uint32, s int) *uint64 {
	if b.v6 {
		return b.word(e, 1+3*s)
	}
	return b.word(e, 1+s)
}

// at reads slot s of bucket e: its key, flags, and whether it holds one.
func (b *setBuckets) at(e uint32, s int) (bslot, bool) {
	w := loadWord(b.first(e, s))
	if !b.v6 {
		return bslot{bkey{w: w & bkt4KeyMsk}, uint8(w >> 40)}, w != 0
	}
	if uint8(w>>16) != layout.Set6SlotUsed {
		return bslot{}, false
	}
	return bslot{bkey{w: w & 0xff00ff, hi: loadWord(b.word(e, 2+3*s)), lo: loadWord(b.word(e, 3+3*s))}, uint8(w >> 8)}, true
}

// word0 is the first word of a slot holding k with flags f.
func (b *setBuckets) word0(k bkey, f uint8) uint64 {
	if b.v6 {
		return k.w | uint64(f)<<8
	}
	return k.w | uint64(f)<<40
}

// find gives bucket and slot holding k.
func (b *setBuckets) find(k bkey) (uint32, int, bool) {
	for _, e := range k.buckets(b.v6, b.nbuckets(), b.seed) {
		for s := range b.slots() {
			if sl, ok := b.at(e, s); ok && sl.key == k {
				return e, s, true
			}
		}
	}
	return 0, 0, false
}

// put writes k's flags: over its slot, into a free slot of its first
// bucket, or of its second (the first flagged overflowing before). It
// reports false when both are full. An IPv6 slot is free only if never
// used: a deleted one stays a tombstone until the array is rebuilt,
// unless it holds k's own address (k deleted, then added again, as a
// feed's entries come and go), which a packet may read as k's at once.
func (b *setBuckets) put(k bkey, f uint8) bool {
	if e, s, ok := b.find(k); ok {
		atomic.StoreUint64(b.first(e, s), b.word0(k, f))
		return true
	}
	bk := k.buckets(b.v6, b.nbuckets(), b.seed)
	// Its own tombstone first, wherever it is, then a free slot.
	for pass := range 2 {
		for i, e := range bk {
			for s := range b.slots() {
				own := b.tombOf(e, s, k)
				if pass == 0 && own || pass == 1 && loadWord(b.first(e, s)) == 0 {
					b.putAt(k, f, bk[0], i, e, s, own)
					return true
				}
			}
		}
	}
	return false
}

// putAt writes k with flags f into slot s of bucket e, its i-th (first,
// whose flag says whether a key overflowed, or second), a tombstone of
// its own address (reuse) or a free slot.
func (b *setBuckets) putAt(k bkey, f uint8, first uint32, i int, e uint32, s int, reuse bool) {
	if i == 1 {
		fl := b.word(first, 0)
		atomic.StoreUint64(fl, loadWord(fl)|layout.SetBktOverflow)
	}
	// Counted before it is written (and uncounted after it is emptied,
	// in del): a change cut short leaves the count too high, which only
	// brings a rebuild (that counts anew) sooner, never below the slots
	// in use.
	b.addCount(1)
	if reuse {
		atomic.StoreUint64(b.word(0, 2), uint64(b.tombs()-1))
	} else if b.v6 {
		atomic.StoreUint64(b.word(e, 2+3*s), k.hi)
		atomic.StoreUint64(b.word(e, 3+3*s), k.lo)
	}
	atomic.StoreUint64(b.first(e, s), b.word0(k, f))
}

// tombOf reports whether slot s of bucket e is an IPv6 tombstone whose
// address is k's. Its first word alone, written last, makes it k's slot:
// a packet reading the address after it reads k's, whatever length the
// deleted key had (a reader compares the length from that first word).
func (b *setBuckets) tombOf(e uint32, s int, k bkey) bool {
	return b.v6 && uint8(loadWord(b.first(e, s))>>16) == layout.Set6SlotTomb &&
		loadWord(b.word(e, 2+3*s)) == k.hi && loadWord(b.word(e, 3+3*s)) == k.lo
}

// del empties k's slot, if it has one: an IPv4 slot to zero, an IPv6
// slot to a tombstone.
func (b *setBuckets) del(k bkey) {
	if e, s, ok := b.find(k); ok {
		b.delAt(e, s)
	}
}

// delAt empties slot s of bucket e, which holds a key.
func (b *setBuckets) delAt(e uint32, s int) {
	if b.v6 {
		atomic.StoreUint64(b.first(e, s), layout.Set6SlotTomb<<16)
		atomic.StoreUint64(b.word(0, 2), uint64(b.tombs()+1))
	} else {
		atomic.StoreUint64(b.first(e, s), 0)
	}
	b.addCount(-1)
}

// each yields the used slots.
func (b *setBuckets) each(yield func(bslot) bool) {
	for e := uint32(1); e <= b.nbuckets(); e++ {
		for s := range b.slots() {
			if sl, ok := b.at(e, s); ok && !yield(sl) {
				return
			}
		}
	}
}

// bucketsFor is the array size for n keys of a family: three quarters of
// the slots filled, where cuckoo placement always succeeds and first-fit
// puts seldom find both buckets full.
func bucketsFor(v6 bool, n int) uint32 {
	slots := layout.SetBktSlots
	if v6 {
		slots = layout.Set6BktSlots
	}
	nb := (n*4/3 + slots - 1) / slots
	return uint32(min(max(nb, layout.SetBktMin), layout.SetBktMax))
}

// newBuckets makes an array of nb buckets holding n slots, slot(i) the
// i-th, lens and trieMax in its head, with a seed of its own. It is not
// in any set's slot yet.
func newBuckets(v6 bool, nb uint32, n int, slot func(int) bslot, lens []uint8, trieMax uint8) (*setBuckets, error) {
	kind, per := kindBkt4, layout.SetBktSlots
	if v6 {
		kind, per = kindBkt6, layout.Set6BktSlots
	}
	seed, err := newSeed()
	if err != nil {
		return nil, err
	}
	if n > int(nb)*per {
		return nil, fmt.Errorf("a set's buckets cannot hold %d entries", n)
	}
	in, overflow, err := place(n, int(nb), per, func(i int) [2]uint32 {
		bk := slot(i).key.buckets(v6, nb, seed)
		return [2]uint32{bk[0] - 1, bk[1] - 1}
	})
	if err != nil {
		return nil, fmt.Errorf("place a set's entries: %w", err)
	}
	spec := setTemplates()[kind].Copy()
	spec.Name, spec.MaxEntries = [...]string{kindBkt4: "xdpfw_set4b", kindBkt6: "xdpfw_set6b"}[kind], 1+nb
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, fmt.Errorf("create set map: %w", mapFull(err))
	}
	b, err := mapBuckets(m, v6)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(b.word(0, 0), uint64(nb))
	atomic.StoreUint64(b.word(0, 3), seed)
	b.seed = seed
	b.setHead(lens, trieMax, uint32(n))
	for i, keys := range in {
		e := uint32(i) + 1
		if overflow[i] {
			atomic.StoreUint64(b.word(e, 0), layout.SetBktOverflow)
		}
		for s, k := range keys {
			sl := slot(int(k))
			if v6 {
				atomic.StoreUint64(b.word(e, 2+3*s), sl.key.hi)
				atomic.StoreUint64(b.word(e, 3+3*s), sl.key.lo)
			}
			atomic.StoreUint64(b.first(e, s), b.word0(sl.key, sl.flags))
		}
	}
	return b, nil
}

// seedMix is the seeded mix of an IPv6 set key's first half hi
// (bkey.hash6), as the program's seed_mix: MurmurHash3's finalizer of
// hi ^ seed, or 0 when seed is 0 (no seed: the hash of layout 18), with
// no branch, as there.
func seedMix(hi, seed uint64) uint64 {
	keep := -((seed | -seed) >> 63)
	x := hi ^ seed
	x ^= x >> 33
	x *= layout.SetBktMix1
	x ^= x >> 33
	x *= layout.SetBktMix2
	x ^= x >> 33
	return x & keep
}
