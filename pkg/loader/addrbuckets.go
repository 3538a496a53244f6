package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	mbits "math/bits"
	"math/rand/v2"

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

// hash6 is the program's hash of an IPv6 key, before the bucket
// multipliers.
func (k *bucketKey) hash6() uint64 {
	a := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(k.addr[4*i:])) }
	head := uint64(k.tag|layout.AddrSlotUsed) | uint64(k.len)<<8
	return (a(1)<<32|a(0))*layout.AddrHash6 ^ (a(3)<<32 | a(2)) ^ head
}

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
// ruleset always gets the same buckets.
func place(n, nb, slots int, choices func(i int) [2]uint32) (in [][]int, overflow []bool, err error) {
	in = make([][]int, nb)
	backing := make([]int, nb*slots) // one allocation: appends stay in place
	for b := range in {
		in[b] = backing[b*slots : b*slots : (b+1)*slots]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		cur := i
		for kick := 0; ; kick++ {
			c := choices(cur)
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
			if first := choices(i)[0]; first != uint32(b) {
				overflow[first] = true
			}
		}
	}
	return in, overflow, nil
}

// writeBuckets4 builds generation gen's IPv4 buckets from keys and
// writes all of them.
func writeBuckets4(m *ebpf.Map, gen uint32, keys []bucketKey) error {
	bits := bucketBits(m)
	in, overflow, err := place(len(keys), 1<<bits, layout.Addr4Slots, func(i int) [2]uint32 { return buckets2(keys[i].word4(), bits) })
	if err != nil {
		return fmt.Errorf("address table: %w", err)
	}
	idx := make([]uint32, 1<<bits)
	vals := make([]xdpfwAddr4Bucket, 1<<bits)
	for b := range vals {
		idx[b] = gen<<bits + uint32(b)
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
	return putAll(m, idx, vals)
}

// writeBuckets6 is writeBuckets4 for IPv6.
func writeBuckets6(m *ebpf.Map, gen uint32, keys []bucketKey) error {
	bits := bucketBits(m)
	in, overflow, err := place(len(keys), 1<<bits, layout.Addr6Slots, func(i int) [2]uint32 { return buckets2(keys[i].hash6(), bits) })
	if err != nil {
		return fmt.Errorf("address table: %w", err)
	}
	idx := make([]uint32, 1<<bits)
	vals := make([]xdpfwAddr6Bucket, 1<<bits)
	for b := range vals {
		idx[b] = gen<<bits + uint32(b)
		if overflow[b] {
			vals[b].Flags = layout.AddrBOverflow
		}
		for s, i := range in[b] {
			k := &keys[i]
			sl := &vals[b].Slot[s]
			sl.Tag, sl.Len, sl.Atom, sl.Addr = k.tag|layout.AddrSlotUsed, k.len, k.atom, k.addr
		}
	}
	return putAll(m, idx, vals)
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
// generation placed anew: the program given it finds them as the one
// reading old does.
func newAddrBuckets(spec *ebpf.MapSpec, old *ebpf.Map, live, bits uint32, v6 bool) (*ebpf.Map, error) {
	ms := spec.Copy()
	ms.MaxEntries = numGens << bits
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create an address bucket map of %d entries: %w", ms.MaxEntries, err)
	}
	oldBits := bucketBits(old)
	isLive := func(idx uint32) bool { return idx>>oldBits == live }
	read, write := bucketKeys4, writeBuckets4
	if v6 {
		read, write = bucketKeys6, writeBuckets6
	}
	keys, err := read(old, isLive)
	if err == nil {
		err = write(m, live, keys)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("copy the live address buckets: %w", err)
	}
	return m, nil
}
