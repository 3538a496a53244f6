package loader

import (
	"encoding/binary"
	"math/rand"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// crowdedIPv4 is the largest group of hosts of 198.51.96.0/20 whose two
// buckets among SetBktMin are the same: more than the pair holds
// (2*SetBktSlots) when the list is made so.
func crowdedIPv4() []netip.Prefix {
	by := map[[2]uint32][]netip.Prefix{}
	var most []netip.Prefix
	for i := range 4096 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 96 + byte(i>>8), byte(i)}), 32)
		k := keyOf(p).buckets(false, layout.SetBktMin)
		if by[k] = append(by[k], p); len(by[k]) > len(most) {
			most = by[k]
		}
	}
	return most
}

// collidingIPv6 are n hosts whose 128 bits fold to one hash word.
func collidingIPv6(n int) []netip.Prefix {
	var out []netip.Prefix
	for i := range n {
		var a [16]byte
		copy(a[:], netip.MustParseAddr("2001:db8::").AsSlice()[:6])
		a[7] = byte(i + 1)
		hi := binary.LittleEndian.Uint64(a[:8])
		binary.LittleEndian.PutUint64(a[8:], hi*layout.SetBktHash6^0x5eed)
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 128))
	}
	return out
}

// TestSetBucketsCrowded: a list whose keys crowd one pair of buckets (a
// feed made so, or a small array's bad luck) is placed in a larger array
// rather than refused: IPv4 keys part at some size. IPv6 keys whose
// address folds to one hash word part at none: more than a pair holds is
// refused in one line naming them, and the set is left as it was.
func TestSetBucketsCrowded(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("feed", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "feed"}}); err != nil {
		t.Fatal(err)
	}
	v4 := crowdedIPv4()
	if len(v4) <= 2*layout.SetBktSlots {
		t.Fatalf("only %d hosts share a pair of buckets: the test needs more than %d", len(v4), 2*layout.SetBktSlots)
	}
	v6 := collidingIPv6(2 * layout.Set6BktSlots)
	want := rules.SortPrefixes(slices.Concat(v4, v6))
	if _, err := s.LoadSet("feed", want, nil); err != nil {
		t.Fatalf("%d IPv4 hosts crowding one pair of buckets, %d IPv6 hosts sharing a hash: %v", len(v4), len(v6), err)
	}
	got, err := s.SetElements("feed")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("the set holds %d elements (%v), want %d", len(got), err, len(want))
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(4)), rules.Sets{"feed": {Name: "feed", Prefixes: want}}))

	one := collidingIPv6(2*layout.Set6BktSlots + 1)[2*layout.Set6BktSlots:]
	_, err = s.ChangeSet("feed", one, nil)
	if err == nil || !strings.Contains(err.Error(), "5 of the set's IPv6 entries") || !strings.Contains(err.Error(), "share one hash") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a fifth IPv6 host sharing the hash: %v", err)
	}
	if got, err := s.SetElements("feed"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after the refusal the set holds %d elements (%v), want %d", len(got), err, len(want))
	}
}
