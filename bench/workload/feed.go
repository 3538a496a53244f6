package workload

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Feed is a blocklist for the set benchmarks, shaped like a threat feed:
// half IPv4 /24s, 40% IPv4 hosts, 10% IPv6 (/64s and hosts), drawn at random from the whole unicast space. No entry
// overlaps another, so nft takes it as an interval set. The order is
// random, so the first n entries are spread over the space as the whole
// list is: each scale point is a prefix of the largest.
type Feed []netip.Prefix

// NewFeed draws n entries. The seed is fixed: every run sees the same feed.
func NewFeed(n int) Feed {
	rng := rand.New(rand.NewPCG(0x66656564, 1))
	blocks := make(map[uint32]bool, n) // /24s with an entry: true if listed whole
	hosts := make(map[uint32]bool, n/2)
	v6 := make(map[uint64]bool, n/10) // /64s with an entry
	out := make(Feed, 0, n)
	for len(out) < n {
		switch i := len(out); {
		case i%10 == 9:
			hi := 0x2000<<48 | rng.Uint64()>>3 // 2000::/3
			if v6[hi] {
				continue
			}
			v6[hi] = true
			bits := 64
			lo := uint64(0)
			if i%20 == 19 {
				bits, lo = 128, rng.Uint64()
			}
			out = append(out, netip.PrefixFrom(addr6(hi, lo), bits))
		case i%2 == 0:
			a := randomUnicast4(rng) &^ 0xff
			if _, used := blocks[a]; used {
				continue
			}
			blocks[a] = true
			out = append(out, netip.PrefixFrom(addr4(a), 24))
		default:
			a := randomUnicast4(rng)
			if blocks[a&^0xff] || hosts[a] {
				continue
			}
			blocks[a&^0xff], hosts[a] = false, true
			out = append(out, netip.PrefixFrom(addr4(a), 32))
		}
	}
	return out
}

// randomUnicast4 is an address in 1.0.0.0-223.255.255.255.
func randomUnicast4(rng *rand.Rand) uint32 {
	return 1<<24 + uint32(rng.Uint64()%(223<<24))
}

func addr4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

func addr6(hi, lo uint64) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
	}
	return netip.AddrFrom16(b)
}

// Set is the first n entries as a named set.
func (f Feed) Set(name string, n int) *rules.Set {
	return &rules.Set{Name: name, Prefixes: rules.SortPrefixes(append([]netip.Prefix(nil), f[:n]...))}
}

// Ruleset drops every source in the first n entries, in a set of that
// name: one rule, policy pass.
func (f Feed) Ruleset(name string, n int) *rules.Ruleset {
	return &rules.Ruleset{
		Policy: rules.Pass,
		Sets:   rules.Sets{name: f.Set(name, n)},
		Rules:  []rules.Rule{{ID: 1, Action: rules.Drop, Match: rules.Match{SrcSet: name}}},
	}
}

// WriteList writes the first n entries one per line, as a blocklist file.
func (f Feed) WriteList(w io.Writer, n int) error {
	for _, p := range f[:n] {
		if _, err := fmt.Fprintln(w, p); err != nil {
			return err
		}
	}
	return nil
}

// Traffic is frames frames, each a flow of its own, whose sources are
// spread over the whole feed: half are an address inside a random entry
// of the frame's family, half a random unicast address (almost all
// outside the feed). Protocols, destinations, ports and sizes are those
// of the standard mix.
func (f Feed) Traffic(frames int) Traffic {
	var in4, in6 []netip.Prefix
	for _, p := range f {
		if p.Addr().Is4() {
			in4 = append(in4, p)
		} else {
			in6 = append(in6, p)
		}
	}
	rng := rand.New(rand.NewPCG(0x66656564, 2))
	flows, _ := fixtures.Mix(frames, 0, 0x66656564)
	out := Traffic{Flows: flows, Frames: make([][]byte, frames)}
	for i := range flows {
		fl := &flows[i]
		inside := rng.IntN(2) == 0
		switch {
		case fl.Src.Is4() && inside && len(in4) > 0:
			fl.Src = randomIn(rng, in4[rng.IntN(len(in4))])
		case fl.Src.Is4():
			fl.Src = addr4(randomUnicast4(rng))
		case inside && len(in6) > 0:
			fl.Src = randomIn(rng, in6[rng.IntN(len(in6))])
		default:
			fl.Src = addr6(0x2000<<48|rng.Uint64()>>3, rng.Uint64())
		}
		out.Frames[i] = fixtures.MixFrame(*fl, uint16(i), rng.IntN(201))
	}
	return out
}

// randomIn is a random address inside p.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		host := min(8, max(0, 8*(i+1)-p.Bits())) // host bits in byte i
		b[i] |= byte(rng.Uint32()) & (byte(1)<<host - 1)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
