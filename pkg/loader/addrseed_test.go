package loader

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// crafted6 are n IPv6 hosts of 2001:db8:aa::/48, one a /64, whose keys
// as sources in generation gen fold to one word by the public constants
// alone (bucketKey.hash6 of seed 0): the second half of each is that
// word XOR its first half's product XOR the key's head.
func crafted6(gen uint32, n int) []netip.Addr {
	const target = 0x0123456789abcdef
	head := uint64(addrTag(gen, 0)|layout.AddrSlotUsed) | 128<<8
	var out []netip.Addr
	for i := range n {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0xaa, byte(gen), byte(i + 1)})
		hi := binary.LittleEndian.Uint64(a[:8])
		binary.LittleEndian.PutUint64(a[8:], target^hi*layout.AddrHash6^head)
		out = append(out, netip.AddrFrom16(a))
	}
	return out
}

// crafted4 are n IPv4 hosts of 10/8 whose keys as sources in generation
// gen share both buckets among 1 << bits unseeded (bucketKey.hash4 of
// seed 0).
func crafted4(gen, bits uint32, n int) []netip.Addr {
	byPair := map[[2]uint32][]netip.Addr{}
	for i := uint32(1); ; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		k := bucketKey{tag: addrTag(gen, 0), len: 32}
		copy(k.addr[:], a.AsSlice())
		pair := buckets2(k.hash4(0), bits)
		if byPair[pair] = append(byPair[pair], a); len(byPair[pair]) == n {
			return byPair[pair]
		}
	}
}

// TestAddrBucketsCrafted: a tool adding a rule per attacking address,
// fed hosts whose keys share both their buckets by the public hash (seven
// IPv6 /128s of one /48 folding to one word, fifteen IPv4 hosts: one more
// than the two buckets' slots), in both generations. Each commit places
// its generation's keys by a seed of its own, so every rule is added, and
// the datapath finds each host as the reference model does. Unseeded, the
// commit of the seventh IPv6 (fifteenth IPv4) host of a generation failed
// ("two buckets full for a key"), and every commit after it.
func TestAddrBucketsCrafted(t *testing.T) {
	s, tr := openLiveInstance(t)
	bits4 := bucketBits(s.maps.Addr4Host)
	var hosts []netip.Addr
	for gen := range uint32(numGens) {
		hosts = append(hosts, crafted6(gen, 12)...)
		hosts = append(hosts, crafted4(gen, bits4, layout.Addr4Slots*2+1)...)
	}
	for _, a := range hosts {
		if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{Src: netip.PrefixFrom(a, a.BitLen())}}); err != nil {
			t.Fatalf("rule for %s: %v", a, err)
		}
	}
	if b4, b6 := bucketBits(s.maps.Addr4Host), bucketBits(s.maps.Addr6Host); b4 != bits4 || b6 != layout.AddrBucketBitsMin {
		t.Fatalf("address buckets grew to %d and %d bits: the test wants them as a new state's", b4, b6)
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, a := range hosts {
		next := a.Next()
		for _, src := range []netip.Addr{a, next} {
			dst := "192.0.2.1"
			if a.Is6() {
				dst = "2001:db8::1"
			}
			frames = append(frames, fixtures.UDP(src.String(), dst, 1000, 53))
		}
	}
	checkAgainstModel(t, tr, live, frames)
	err = s.read(func(v *view) error {
		if v.conf[0].AddrSeed == 0 || v.conf[1].AddrSeed == 0 {
			t.Errorf("address seeds %#x and %#x: want both drawn", v.conf[0].AddrSeed, v.conf[1].AddrSeed)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAddrSeedsAgree: the live generation's buckets placed by Go's hash
// of any seed are found by the program's of the seed its config records:
// seed 0 (no seed: a generation of layout 18), ones of a single bit or
// all bits in either half of the widened word, and random ones, for
// prefixes of several lengths of both families in both directions.
func TestAddrSeedsAgree(t *testing.T) {
	privtest.Require(t)
	rng := rand.New(rand.NewPCG(3, 4))
	rs := &rules.Ruleset{Policy: rules.Pass}
	var addrs []netip.Addr
	for range 60 {
		b := make([]byte, 4+12*rng.IntN(2))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = 10 | 0x20*byte(len(b)/16)
		a, _ := netip.AddrFromSlice(b)
		addrs = append(addrs, a)
		p, _ := a.Prefix([]int{a.BitLen(), a.BitLen() - 8, a.BitLen() / 2}[rng.IntN(3)])
		r := rules.Rule{ID: uint32(len(rs.Rules) + 1), Action: rules.Drop}
		if rng.IntN(2) == 0 {
			r.Match.Src = p
		} else {
			r.Match.Dst = p
		}
		rs.Rules = append(rs.Rules, r)
	}
	inst, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	m := &inst.objs.xdpfwMaps
	v, err := readView(m)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for range 400 {
		src, dst := near(rng, addrs), near(rng, addrs)
		if src.Is4() == dst.Is4() {
			frames = append(frames, fixtures.UDP(src.String(), dst.String(), 1000, 53))
		}
	}
	for _, seed := range []uint32{0, 1, 1 << 31, 0xffffffff, rng.Uint32(), rng.Uint32()} {
		t.Run(fmt.Sprintf("seed %#x", seed), func(t *testing.T) {
			if err := replaceGenBuckets(m, v.active, seed); err != nil {
				t.Fatal(err)
			}
			checkAgainstModel(t, inst, rs, frames)
		})
	}
}

// replaceGenBuckets places generation gen's keys anew by seed and
// records the seed in its config, as a commit would have.
func replaceGenBuckets(m *xdpfwMaps, gen, seed uint32) error {
	isGen := func(bits uint32) func(uint32) bool { return func(idx uint32) bool { return idx>>bits == gen } }
	b4, b6 := bucketBits(m.Addr4Host), bucketBits(m.Addr6Host)
	err := relayBuckets(m.Addr4Host, m.Addr4Host, gen, isGen(b4), bucketKeys4,
		func(keys []bucketKey) ([]xdpfwAddr4Bucket, error) { return layBuckets4(b4, keys, seed) })
	if err == nil {
		err = relayBuckets(m.Addr6Host, m.Addr6Host, gen, isGen(b6), bucketKeys6,
			func(keys []bucketKey) ([]xdpfwAddr6Bucket, error) { return layBuckets6(b6, keys, seed) })
	}
	if err != nil {
		return err
	}
	var c xdpfwGenConfig
	if err := readGenConf(m.GenConf, gen, &c); err != nil {
		return err
	}
	c.AddrSeed = seed
	return writeGenConf(m.GenConf, gen, &c)
}

// TestAddrBucketsHeadsCrafted: IPv6 rules of one /64, by source and by
// destination at four lengths, whose second halves cancel their keys'
// heads (tag and length, in bytes 8 and 9): the eight keys fold to one
// word whatever the first half's multiplier, so before the seed reached
// the head every seed put them in the same two buckets (six slots) and
// the ruleset could never be committed.
func TestAddrBucketsHeadsCrafted(t *testing.T) {
	privtest.Require(t)
	rs := &rules.Ruleset{Policy: rules.Pass}
	var frames [][]byte
	for dir := range 2 {
		for _, bits := range []int{128, 120, 112, 104} {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0xaa, 0x00, 0x01, 0x11 ^ byte(dir<<1), 0x22 ^ byte(bits), 0x33, 0x44, 0x55}
			p := netip.PrefixFrom(netip.AddrFrom16(a), bits)
			r := rules.Rule{ID: uint32(len(rs.Rules) + 1), Action: rules.Drop}
			src, dst := p.Addr().String(), "2001:db8::1"
			if dir == 0 {
				r.Match.Src = p
			} else {
				r.Match.Dst = p
				src, dst = dst, src
			}
			rs.Rules = append(rs.Rules, r)
			frames = append(frames, fixtures.UDP(src, dst, 1000, 53))
		}
	}
	inst, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	checkAgainstModel(t, inst, rs, frames)
}
