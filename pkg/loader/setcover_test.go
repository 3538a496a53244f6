package loader

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCoveredBy checks the answers a load reads from its lists (coveredBy)
// against every pair of prefixes, for nested prefixes of both families:
// a prefix is covered by a strictly shorter one containing it, never by
// one beside it, longer, or of the other family.
func TestCoveredBy(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := range 200 {
		var all []netip.Prefix
		for range 1 + rng.Intn(60) {
			// Few addresses and lengths, so prefixes nest often.
			var p netip.Prefix
			if rng.Intn(3) == 0 {
				a := [16]byte{0x20, 0x01, byte(rng.Intn(4)) << 6, byte(rng.Intn(2))}
				p = netip.PrefixFrom(netip.AddrFrom16(a), []int{8, 16, 17, 18, 24, 32, 128}[rng.Intn(7)])
			} else {
				a := [4]byte{10, byte(rng.Intn(4)) << 6, byte(rng.Intn(4)), byte(rng.Intn(2))}
				p = netip.PrefixFrom(netip.AddrFrom4(a), []int{0, 8, 9, 10, 16, 24, 32}[rng.Intn(7)])
			}
			all = append(all, p.Masked())
		}
		all = rules.SortPrefixes(all)
		var ps, by []netip.Prefix
		for _, p := range all {
			if rng.Intn(2) == 0 {
				ps = append(ps, p)
			} else {
				by = append(by, p)
			}
		}
		got := coveredBy(ps, by)
		for i, p := range ps {
			want := slices.ContainsFunc(by, func(q netip.Prefix) bool {
				return q.Bits() < p.Bits() && q.Contains(p.Addr())
			})
			if got[i] != want {
				t.Fatalf("round %d: %s covered by %v: got %v, want %v", round, p, by, got[i], want)
			}
		}
	}
}
