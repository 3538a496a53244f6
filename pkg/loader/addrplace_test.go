package loader

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestPrefixHashAgreesWithModel: rulesets whose tables each take the
// three ways a prefix is found (hosts only in the hash; prefixes of the
// longest lengths in the hash, probed longest first; shorter ones in the
// trie, after every probe missed), with prefixes nested in each other,
// so a wrong probe order or a missed fall-through to the trie picks the
// wrong rule. Every frame's verdict must be the reference model's.
func TestPrefixHashAgreesWithModel(t *testing.T) {
	privtest.Require(t)
	inst, err := NewInstance(&rules.Ruleset{Policy: rules.Pass}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 30 {
		// Nested prefixes around two addresses per family, of up to
		// fourteen lengths, so a table has more lengths than the hash takes
		// and as many or fewer prefixes than hashMinPrefixes.
		rs := &rules.Ruleset{Policy: rules.Pass}
		var addrs []netip.Addr
		for _, base := range []string{"10.20.30.40", "10.20.99.7", "2001:db8:aa:bb::1", "2001:db8:aa:cc::9"} {
			a := netip.MustParseAddr(base)
			addrs = append(addrs, a)
			for range 1 + rng.IntN(14) {
				bits := rng.IntN(a.BitLen() + 1)
				p, _ := a.Prefix(bits)
				r := rules.Rule{ID: uint32(len(rs.Rules) + 1), Priority: uint32(rng.IntN(4)), Action: []rules.Action{rules.Pass, rules.Drop}[rng.IntN(2)]}
				if rng.IntN(2) == 0 {
					r.Match.Src = p
				} else {
					r.Match.Dst = p
				}
				rs.Rules = append(rs.Rules, r)
			}
		}
		if err := inst.Load(rs); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			src, dst := near(rng, addrs), near(rng, addrs)
			if src.Is4() != dst.Is4() {
				continue
			}
			frame := fixtures.UDP(src.String(), dst.String(), 1000, 53)
			got, err := inst.Run(frame)
			if err != nil {
				t.Fatal(err)
			}
			if want := model.Evaluate(rs, frame); got != want {
				t.Fatalf("round %d, %s -> %s: datapath %+v, reference model %+v\nrules:\n%s",
					round, src, dst, got, want, rules.FormatYAML(rs))
			}
		}
	}
}

// near is one of addrs with its last bits flipped at random: inside some
// of the prefixes around it and outside the longer ones.
func near(rng *rand.Rand, addrs []netip.Addr) netip.Addr {
	b := addrs[rng.IntN(len(addrs))].AsSlice()
	flip := rng.IntN(len(b)*8 + 1)
	for i := len(b)*8 - flip; i < len(b)*8; i++ {
		if rng.IntN(2) == 0 {
			b[i/8] ^= 0x80 >> (i % 8)
		}
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		panic(fmt.Sprint("bad address ", b))
	}
	return a
}

// TestBucketsFull: a full ruleset whose every rule names a source and a
// destination host, random ones, so each family's buckets hold 8192 keys
// (the IPv6 ones two thirds full, many keys in their second bucket):
// every key is found, and an address next to one is not.
func TestBucketsFull(t *testing.T) {
	privtest.Require(t)
	for _, bytes := range []int{4, 16} {
		rng := rand.New(rand.NewPCG(1, uint64(bytes)))
		seen := map[netip.Addr]bool{}
		var addrs []netip.Addr
		for len(addrs) < 2*rules.MaxRules+2 {
			b := make([]byte, bytes)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			b[0] = 10 | 0x20*byte(bytes/16) // 10/8 or 2a00::/8: unicast
			if a, _ := netip.AddrFromSlice(b); !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
		rs := &rules.Ruleset{Policy: rules.Pass}
		for i := range rules.MaxRules {
			rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Action: rules.Drop, Match: rules.Match{
				Src: netip.PrefixFrom(addrs[2*i], bytes*8), Dst: netip.PrefixFrom(addrs[2*i+1], bytes*8)}})
		}
		inst, err := NewInstance(rs, true)
		if err != nil {
			t.Fatal(err)
		}
		v4, v6, err := readBuckets(&inst.objs.xdpfwMaps)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(v4) + len(v6); n != 2*rules.MaxRules {
			t.Errorf("%d keys in the buckets, want %d", n, 2*rules.MaxRules)
		}
		for range 600 {
			i := rng.IntN(rules.MaxRules)
			for _, f := range []struct{ src, dst netip.Addr }{{addrs[2*i], addrs[2*i+1]}, {addrs[2*i], addrs[2*i+3]}} {
				frame := fixtures.UDP(f.src.String(), f.dst.String(), 1000, 53)
				got, err := inst.Run(frame)
				if err != nil {
					t.Fatal(err)
				}
				if want := model.Evaluate(rs, frame); got != want {
					t.Fatalf("%s -> %s: datapath %+v, reference model %+v", f.src, f.dst, got, want)
				}
			}
		}
		inst.Close()
	}
}
