package loader

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Where a direction's prefixes go (layout.h, ADDR_HASH_LENS): those of
// the longest lengths the rules name in a family to the family's
// buckets, which the program probes longest first, the shorter rest to
// its LPM trie. The choice is made per generation from its ruleset and
// recorded in its config, so the program and every later commit read it.

// hashLens gives, per address table (addrTable) of direction dir, the
// lengths whose prefixes go to the buckets: the longest
// layout.AddrHashLens of those the entries name, longest first.
func hashLens(dir int, entries []classifier.PrefixAtom, lens *[4][]uint8) {
	for _, e := range entries {
		t := addrTable(dir, e.Prefix)
		if b := uint8(e.Prefix.Bits()); !slices.Contains(lens[t], b) {
			lens[t] = append(lens[t], b)
		}
	}
	for t := dir * 2; t < dir*2+2; t++ {
		slices.SortFunc(lens[t], func(a, b uint8) int { return cmp.Compare(b, a) })
		lens[t] = lens[t][:min(len(lens[t]), layout.AddrHashLens)]
	}
}

// addrTable is the index of p's table in gen_conf's hash lists:
// dir * 2 + (p is IPv6).
func addrTable(dir int, p netip.Prefix) int {
	if p.Addr().Is4() {
		return dir * 2
	}
	return dir*2 + 1
}

// inHash reports whether a prefix of length bits goes to the buckets,
// given its table's bucket lengths.
func inHash(lens []uint8, bits int) bool {
	return slices.Contains(lens, uint8(bits))
}

// confLens reads the hash lengths a generation's config records.
func confLens(c *xdpfwGenConfig) (lens [4][]uint8) {
	for t := range lens {
		n := min(int(c.HashNlens[t]), layout.AddrHashLens)
		lens[t] = slices.Clone(c.HashLens[t][:n])
	}
	return lens
}

// setConfLens records lens in a generation's config.
func setConfLens(c *xdpfwGenConfig, lens [4][]uint8) {
	for t := range lens {
		c.HashNlens[t] = uint8(len(lens[t]))
		copy(c.HashLens[t][:], lens[t])
	}
}
