package loader

import (
	"encoding/binary"
	"fmt"
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

// buckets2 are a key's two buckets.
func buckets2(h uint64) [2]uint32 {
	return [2]uint32{uint32(h * layout.AddrHash1 >> (64 - layout.AddrBucketBits)), uint32(h * layout.AddrHash2 >> (64 - layout.AddrBucketBits))}
}

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
				return nil, nil, fmt.Errorf("%d keys do not fit %d buckets", n, nb)
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
	in, overflow, err := place(len(keys), layout.AddrBuckets, layout.Addr4Slots, func(i int) [2]uint32 { return buckets2(keys[i].word4()) })
	if err != nil {
		return fmt.Errorf("address table: %w", err)
	}
	idx := make([]uint32, layout.AddrBuckets)
	vals := make([]xdpfwAddr4Bucket, layout.AddrBuckets)
	for b := range vals {
		idx[b] = gen*layout.AddrBuckets + uint32(b)
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
	in, overflow, err := place(len(keys), layout.AddrBuckets, layout.Addr6Slots, func(i int) [2]uint32 { return buckets2(keys[i].hash6()) })
	if err != nil {
		return fmt.Errorf("address table: %w", err)
	}
	idx := make([]uint32, layout.AddrBuckets)
	vals := make([]xdpfwAddr6Bucket, layout.AddrBuckets)
	for b := range vals {
		idx[b] = gen*layout.AddrBuckets + uint32(b)
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
	_, b4, err := readAll[uint32, xdpfwAddr4Bucket](m.Addr4Host)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range b4 {
		for _, s := range b.Slot {
			if s.Tag&layout.AddrSlotUsed != 0 {
				k := bucketKey{tag: s.Tag &^ layout.AddrSlotUsed, len: s.Len, atom: s.Atom}
				copy(k.addr[:], s.Addr[:])
				v4 = append(v4, k)
			}
		}
	}
	_, b6, err := readAll[uint32, xdpfwAddr6Bucket](m.Addr6Host)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range b6 {
		for _, s := range b.Slot {
			if s.Tag&layout.AddrSlotUsed != 0 {
				v6 = append(v6, bucketKey{tag: s.Tag &^ layout.AddrSlotUsed, len: s.Len, atom: s.Atom, addr: s.Addr})
			}
		}
	}
	return v4, v6, nil
}
