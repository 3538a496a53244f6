package loader

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mbits "math/bits"
	mrand "math/rand/v2"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The address buckets (xdp/layout.h, enum addr_buckets): a generation's
// are built whole by each commit from its keys and written over the old
// ones, which packets stopped reading when the last commit switched away.

// bucketKey is one key of the buckets and its atom; IPv4 uses the first
// four bytes of addr.
type bucketKey struct {
	tag, len uint8
	addr     [16]byte
	atom     uint16
}

// word4 is an IPv4 key as the program compares a slot: tag, length, atom
// (zero here) and address, little-endian.
func (k *bucketKey) word4() uint64 {
	return uint64(k.tag|layout.AddrSlotUsed) | uint64(k.len)<<8 | uint64(binary.LittleEndian.Uint32(k.addr[:4]))<<32
}

// hash4 is the program's hash of an IPv4 key in a generation of the
// address seed given, before the bucket multipliers: its slot word XOR
// the seed as a word (xdp/layout.h, enum addr_hash).
func (k *bucketKey) hash4(seed uint32) uint64 { return k.word4() ^ seedWord(seed) }

// hash6 is hash4 for IPv6: the fold of the 128 bits, the first half,
// XOR the head when seeded, multiplied by ADDR_HASH6 ^ the seed as a
// word << 1, which parts keys the public fold makes one (xdp/layout.h,
// enum addr_hash).
func (k *bucketKey) hash6(seed uint32) uint64 {
	a := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(k.addr[4*i:])) }
	head := uint64(k.tag|layout.AddrSlotUsed) | uint64(k.len)<<8
	hi := a(1)<<32 | a(0)
	if seed != 0 {
		hi ^= head
	}
	return hi*(layout.AddrHash6^seedWord(seed)<<1) ^ (a(3)<<32 | a(2)) ^ head
}

// seedWord is a generation's address seed as the program widens it.
func seedWord(seed uint32) uint64 { return uint64(seed) | uint64(seed)<<32 }

// buckets2 are a key's two buckets among 1 << bits.
func buckets2(h uint64, bits uint32) [2]uint32 {
	return [2]uint32{uint32(h * layout.AddrHash1 >> (64 - bits)), uint32(h * layout.AddrHash2 >> (64 - bits))}
}

// bucketBits is the bits of m's buckets a generation: it has 1 << bits.
func bucketBits(m *ebpf.Map) uint32 { return uint32(mbits.Len32(m.MaxEntries()/numGens)) - 1 }

// bucketBitsFor is the bits a generation of n keys, slots to a bucket,
// takes: the fewest that leave at least half the slots free, from
// ADDR_BUCKET_BITS_MIN to ADDR_BUCKET_BITS (xdp/layout.h).
func bucketBitsFor(n, slots int) uint32 {
	b := uint32(layout.AddrBucketBitsMin)
	for b < layout.AddrBucketBits && n > slots<<b/2 {
		b++
	}
	return b
}

// errNoFit: place found no room for a key after its kicks.
var errNoFit = errors.New("two buckets full for a key")

// place puts n keys into nb buckets of slots each, every
// key in one of its two (choices), by cuckoo insertion: a key finding
// both full takes a slot from one, whose key moves on the same way. It
// gives each bucket's keys and which buckets overflow (a key of theirs
// sits in its second bucket). The random choices are seeded, so a
// ruleset always gets the same buckets for one address seed. Keys are
// numbered in 32 bits, half the room of an int: a set load of 10M
// prefixes placed them in 133 MB.
func place(n, nb, slots int, choices func(i int) [2]uint32) (in [][]int32, overflow []bool, err error) {
	if n > math.MaxInt32 {
		return nil, nil, fmt.Errorf("%d keys are more than can be placed", n)
	}
	in = make([][]int32, nb)
	backing := make([]int32, nb*slots) // one allocation: appends stay in place
	for b := range in {
		in[b] = backing[b*slots : b*slots : (b+1)*slots]
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range int32(n) {
		cur := i
		for kick := 0; ; kick++ {
			c := choices(int(cur))
			if len(in[c[0]]) < slots {
				in[c[0]] = append(in[c[0]], cur)
				break
			}
			if len(in[c[1]]) < slots {
				in[c[1]] = append(in[c[1]], cur)
				break
			}
			if kick == 500 {
				return nil, nil, fmt.Errorf("%d keys do not fit %d buckets: %w", n, nb, errNoFit)
			}
			b, s := c[rng.IntN(2)], rng.IntN(slots)
			cur, in[b][s] = in[b][s], cur
		}
	}
	overflow = make([]bool, nb)
	for b, keys := range in {
		for _, i := range keys {
			if first := choices(int(i))[0]; first != uint32(b) {
				overflow[first] = true
			}
		}
	}
	return in, overflow, nil
}

// addrSeedTries is how many seeds a commit draws for its generation's
// buckets before it gives up: keys that share both buckets under one seed
// part under another, so a placement that fails by chance (rare at half
// the slots) is not a refused commit.
const addrSeedTries = 8

// writeBuckets builds generation gen's buckets of both families from h4
// and h6 with a fresh random seed, drawing another while a family's keys
// do not fit, and writes all of them. It gives the seed, which the
// generation's config records for the program.
func writeBuckets(m *xdpfwMaps, gen uint32, h4, h6 []bucketKey) (uint32, error) {
	var (
		seed uint32
		b4   []xdpfwAddr4Bucket
		b6   []xdpfwAddr6Bucket
		err  error
	)
	for range addrSeedTries {
		if seed, err = newAddrSeed(); err != nil {
			return 0, err
		}
		if b4, err = layBuckets4(bucketBits(m.Addr4Host), h4, seed); err == nil {
			b6, err = layBuckets6(bucketBits(m.Addr6Host), h6, seed)
		}
		if !errors.Is(err, errNoFit) {
			break
		}
	}
	if err == nil {
		err = putBuckets(m.Addr4Host, gen, b4)
	}
	if err == nil {
		err = putBuckets(m.Addr6Host, gen, b6)
	}
	return seed, err
}

// newAddrSeed is a fresh address seed: random, never 0 (no seed).
func newAddrSeed() (uint32, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("a seed for the address buckets: %w", err)
		}
		if s := binary.LittleEndian.Uint32(b[:]); s != 0 {
			return s, nil
		}
	}
}

// putBuckets writes vals as generation gen's buckets of m, whose bits
// they are as many as.
func putBuckets[V any](m *ebpf.Map, gen uint32, vals []V) error {
	bits := bucketBits(m)
	idx := make([]uint32, len(vals))
	for b := range idx {
		idx[b] = gen<<bits + uint32(b)
	}
	return putAll(m, idx, vals)
}

// layBuckets4 places IPv4 keys in 1 << bits buckets by their hash in a
// generation of the seed given.
func layBuckets4(bits uint32, keys []bucketKey, seed uint32) ([]xdpfwAddr4Bucket, error) {
	in, overflow, err := place(len(keys), 1<<bits, layout.Addr4Slots, func(i int) [2]uint32 { return buckets2(keys[i].hash4(seed), bits) })
	if err != nil {
		return nil, fmt.Errorf("address table: %w", err)
	}
	vals := make([]xdpfwAddr4Bucket, 1<<bits)
	for b := range vals {
		if overflow[b] {
			vals[b].Flags = layout.AddrBOverflow
		}
		for s, i := range in[b] {
			k := &keys[i]
			sl := &vals[b].Slot[s]
			sl.Tag, sl.Len, sl.Atom = k.tag|layout.AddrSlotUsed, k.len, k.atom
			copy(sl.Addr[:], k.addr[:4])
		}
	}
	return vals, nil
}

// layBuckets6 is layBuckets4 for IPv6.
func layBuckets6(bits uint32, keys []bucketKey, seed uint32) ([]xdpfwAddr6Bucket, error) {
	in, overflow, err := place(len(keys), 1<<bits, layout.Addr6Slots, func(i int) [2]uint32 { return buckets2(keys[i].hash6(seed), bits) })
	if err != nil {
		return nil, fmt.Errorf("address table: %w", err)
	}
	vals := make([]xdpfwAddr6Bucket, 1<<bits)
	for b := range vals {
		if overflow[b] {
			vals[b].Flags = layout.AddrBOverflow
		}
		for s, i := range in[b] {
			k := &keys[i]
			sl := &vals[b].Slot[s]
			sl.Tag, sl.Len, sl.Atom, sl.Addr = k.tag|layout.AddrSlotUsed, k.len, k.atom, k.addr
		}
	}
	return vals, nil
}

// readBuckets lists the keys in both families' buckets of both
// generations (tests, and the previous layout's shape).
func readBuckets(m *xdpfwMaps) (v4, v6 []bucketKey, err error) {
	all := func(uint32) bool { return true }
	if v4, err = bucketKeys4(m.Addr4Host, all); err == nil {
		v6, err = bucketKeys6(m.Addr6Host, all)
	}
	return v4, v6, err
}

// bucketKeys4 lists the keys in m's IPv4 buckets whose index in says.
func bucketKeys4(m *ebpf.Map, in func(idx uint32) bool) ([]bucketKey, error) {
	idx, b4, err := readAll[uint32, xdpfwAddr4Bucket](m)
	if err != nil {
		return nil, err
	}
	var keys []bucketKey
	for i, b := range b4 {
		if !in(idx[i]) {
			continue
		}
		for _, s := range b.Slot {
			if s.Tag&layout.AddrSlotUsed != 0 {
				k := bucketKey{tag: s.Tag &^ layout.AddrSlotUsed, len: s.Len, atom: s.Atom}
				copy(k.addr[:], s.Addr[:])
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// bucketKeys6 is bucketKeys4 for IPv6.
func bucketKeys6(m *ebpf.Map, in func(idx uint32) bool) ([]bucketKey, error) {
	idx, b6, err := readAll[uint32, xdpfwAddr6Bucket](m)
	if err != nil {
		return nil, err
	}
	var keys []bucketKey
	for i, b := range b6 {
		if !in(idx[i]) {
			continue
		}
		for _, s := range b.Slot {
			if s.Tag&layout.AddrSlotUsed != 0 {
				keys = append(keys, bucketKey{tag: s.Tag &^ layout.AddrSlotUsed, len: s.Len, atom: s.Atom, addr: s.Addr})
			}
		}
	}
	return keys, nil
}

// newAddrBuckets makes an address bucket map of 1 << bits buckets a
// generation, of the family of old (v6), holding the keys of old's live
// generation placed anew by the live config's seed: the program given it
// finds them as the one reading old does.
func newAddrBuckets(spec *ebpf.MapSpec, old *ebpf.Map, live, bits uint32, v6 bool, seed uint32) (*ebpf.Map, error) {
	ms := spec.Copy()
	ms.MaxEntries = numGens << bits
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create an address bucket map of %d entries: %w", ms.MaxEntries, err)
	}
	oldBits := bucketBits(old)
	isLive := func(idx uint32) bool { return idx>>oldBits == live }
	if v6 {
		err = relayBuckets(m, old, live, isLive, bucketKeys6, func(keys []bucketKey) ([]xdpfwAddr6Bucket, error) { return layBuckets6(bits, keys, seed) })
	} else {
		err = relayBuckets(m, old, live, isLive, bucketKeys4, func(keys []bucketKey) ([]xdpfwAddr4Bucket, error) { return layBuckets4(bits, keys, seed) })
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("copy the live address buckets: %w", err)
	}
	return m, nil
}

// relayBuckets writes the keys read of from's generation gen (isLive) as
// that generation's buckets of to, placed by lay.
func relayBuckets[V any](to, from *ebpf.Map, gen uint32, isLive func(uint32) bool,
	read func(*ebpf.Map, func(uint32) bool) ([]bucketKey, error), lay func([]bucketKey) ([]V, error)) error {
	keys, err := read(from, isLive)
	if err != nil {
		return err
	}
	vals, err := lay(keys)
	if err != nil {
		return err
	}
	return putBuckets(to, gen, vals)
}
