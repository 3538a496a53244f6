package loader

import (
	"encoding/binary"
	"math/rand"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"

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
		k := keyOf(p).buckets(false, layout.SetBktMin, 0)
		if by[k] = append(by[k], p); len(by[k]) > len(most) {
			most = by[k]
		}
	}
	return most
}

// collidingIPv6 are n hosts whose 128 bits fold to one word by the
// public constants alone (an array without a seed).
func collidingIPv6(n int) []netip.Prefix {
	var out []netip.Prefix
	for i := range n {
		var a [16]byte
		copy(a[:], netip.MustParseAddr("2001:db8::").AsSlice()[:6])
		a[6], a[7] = byte((i+1)>>8), byte(i+1)
		hi := binary.LittleEndian.Uint64(a[:8])
		binary.LittleEndian.PutUint64(a[8:], hi*layout.SetBktHash6^0x5eed)
		out = append(out, netip.PrefixFrom(netip.AddrFrom16(a), 128))
	}
	return out
}

// TestSetBucketsCrowded: a list whose keys crowd one pair of buckets (a
// feed made so, or a small array's bad luck) is placed in a larger array
// rather than refused: IPv4 keys part at some size, and IPv6 keys whose
// address folds to one word by the public constants are folded apart by
// the array's seed, however many. Every frame's verdict agrees with the
// model.
func TestSetBucketsCrowded(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyAny)
	v4 := crowdedIPv4()
	if len(v4) <= 2*layout.SetBktSlots {
		t.Fatalf("only %d hosts share a pair of buckets: the test needs more than %d", len(v4), 2*layout.SetBktSlots)
	}
	v6 := collidingIPv6(64)
	want := rules.SortPrefixes(slices.Concat(v4, v6[:32]))
	if _, err := s.LoadSet("feed", want, nil); err != nil {
		t.Fatalf("%d IPv4 hosts crowding one pair of buckets, 32 IPv6 hosts sharing the unseeded fold: %v", len(v4), err)
	}
	if _, err := s.ChangeSet("feed", v6[32:], nil); err != nil {
		t.Fatalf("32 more IPv6 hosts sharing the unseeded fold: %v", err)
	}
	want = rules.SortPrefixes(slices.Concat(v4, v6))
	got, err := s.SetElements("feed")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("the set holds %d elements (%v), want %d", len(got), err, len(want))
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(4)), rules.Sets{"feed": {Name: "feed", Prefixes: want}}))
}

// TestSetBucketsUnseeded: arrays of layout 18 (no seed, kept across a
// migration) are read by the program and by Go with the hashes they were
// placed by, in both families; a key an IPv6 one cannot place (a fifth
// sharing the fold) moves the set to a new array, seeded, and the program
// answers from either.
func TestSetBucketsUnseeded(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyAny)
	rng := rand.New(rand.NewSource(9))
	v6 := collidingIPv6(2*layout.Set6BktSlots + 1)
	want := slices.Clone(v6[:2*layout.Set6BktSlots])
	for range 40 {
		want = append(want, randomEntry(rng, true), randomEntry(rng, false))
	}
	want = rules.SortPrefixes(want)
	if _, err := s.LoadSet("feed", want, nil); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want []netip.Prefix, seeded [2]bool) {
		t.Helper()
		h := openSetHandle(t, s, "feed")
		defer h.Close()
		for fam, b := range h.bkt {
			if b == nil || (b.seed != 0) != seeded[fam] {
				t.Fatalf("%s: family %d's array has seed %#x, want seeded %v", what, fam, b.seed, seeded[fam])
			}
		}
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(5)), rules.Sets{"feed": {Name: "feed", Prefixes: want}}))
	}
	check("loaded", want, [2]bool{true, true})
	unseed(t, s)
	check("the same keys in arrays of layout 18", want, [2]bool{})
	if got, err := s.SetElements("feed"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("the unseeded array lists %d elements (%v), want %d", len(got), err, len(want))
	}
	// Go finds the unseeded array's keys where its fold put them: a
	// delete empties their slots.
	var gone []netip.Prefix
	for _, p := range want {
		if len(gone) < 3 && !slices.Contains(v6, p) {
			gone = append(gone, p)
		}
	}
	if _, err := s.ChangeSet("feed", nil, gone); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(p netip.Prefix) bool { return slices.Contains(gone, p) })
	check("three deleted from the unseeded arrays", want, [2]bool{})
	// A fifth key sharing the fold finds its two buckets full (four
	// keys of the fold, at most two a bucket): the set gets a seeded array.
	if _, err := s.ChangeSet("feed", v6[2*layout.Set6BktSlots:], nil); err != nil {
		t.Fatalf("a fifth key sharing the unseeded fold: %v", err)
	}
	want = rules.SortPrefixes(append(want, v6[2*layout.Set6BktSlots:]...))
	check("a fifth key sharing the fold", want, [2]bool{false, true})
	if got, err := s.SetElements("feed"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("the set holds %d elements (%v), want %d", len(got), err, len(want))
	}
}

// unseed puts the set "feed"'s keys of each family in an array without a
// seed, as layout 18 made them, placed by put.
func unseed(t *testing.T, s *State) {
	t.Helper()
	h := openSetHandle(t, s, "feed")
	defer h.Close()
	for fam, old := range h.bkt {
		v6 := fam == 1
		spec := setTemplates()[kindBkt4+fam].Copy()
		nb := 4 * old.nbuckets() // first-fit puts: room to spare
		spec.MaxEntries = 1 + nb
		m, err := ebpf.NewMap(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mapBuckets(m, v6)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.seed != 0 {
			t.Fatalf("a fresh map's head holds seed %#x", b.seed)
		}
		atomic.StoreUint64(b.word(0, 0), uint64(nb))
		b.setHead(old.lens(), old.trieMax(), 0)
		// Keys sharing a fold first, so they take their two buckets whole.
		all, folds := old.all(), map[uint64]int{}
		for _, sl := range all {
			folds[sl.key.hash6(0)]++
		}
		if v6 {
			slices.SortStableFunc(all, func(a, b bslot) int { return folds[b.key.hash6(0)] - folds[a.key.hash6(0)] })
		}
		for _, sl := range all {
			if !b.put(sl.key, sl.flags) {
				t.Fatalf("%v: both buckets full in the unseeded array", sl.key.prefix(v6))
			}
		}
		if err := h.outer[fam].Put(h.slot, b.m); err != nil {
			t.Fatal(err)
		}
	}
}

// openFeedInstance is a live instance whose one rule drops sources in the
// set "feed", of family fam, made empty.
func openFeedInstance(t *testing.T, fam rules.Family) (*State, *Instance) {
	t.Helper()
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("feed", fam); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "feed"}}); err != nil {
		t.Fatal(err)
	}
	return s, tr
}

// craftedIPv4 are n hosts of 203.0.0.0/8 sharing both their buckets in
// an array of nb buckets, and so in every array of a power of two fewer:
// a list an attacker who can get addresses listed can make, the hash's
// constants being public.
func craftedIPv4(n int, nb uint32) []netip.Prefix {
	by := map[[2]uint32][]netip.Prefix{}
	for i := range 1 << 24 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		k := keyOf(p).buckets(false, nb, 0)
		if by[k] = append(by[k], p); len(by[k]) == n {
			return by[k]
		}
	}
	return nil
}

// TestSetBucketsCraftedIPv4: IPv4 hosts sharing both buckets at sixteen
// times the smallest array's size by the public constants (no seed) are
// loaded, and the program agrees with the model. They were refused: a
// feed listing fifteen such hosts could never be loaded.
func TestSetBucketsCraftedIPv4(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyIPv4)
	v4 := rules.SortPrefixes(craftedIPv4(2*layout.SetBktSlots+1, 16*layout.SetBktMin))
	if len(v4) <= 2*layout.SetBktSlots {
		t.Fatalf("only %d hosts share a pair of buckets", len(v4))
	}
	if _, err := s.LoadSet("feed", v4, nil); err != nil {
		t.Fatalf("%d IPv4 hosts sharing both buckets at %d: %v", len(v4), 16*layout.SetBktMin, err)
	}
	if got, err := s.SetElements("feed"); err != nil || !slices.Equal(got, v4) {
		t.Fatalf("the set holds %v (%v), want %v", got, err, v4)
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(6)), rules.Sets{"feed": {Name: "feed", Prefixes: v4}}))
}

// confinedIPv4 are n IPv4 hosts whose two buckets are in the first 64th
// of every array, whatever its size: both hashes begin with six zero
// bits, as one host in 4096 has.
func confinedIPv4(n int) []netip.Prefix {
	var out []netip.Prefix
	for w := uint32(1 << 24); len(out) < n; w++ {
		k := bkey{w: uint64(w) | uint64(32|layout.SetBktUsed)<<32}
		if bk := k.buckets(false, layout.SetBktMax, 0); bk[0]-1 < layout.SetBktMax/64 && bk[1]-1 < layout.SetBktMax/64 {
			out = append(out, k.prefix(false))
		}
	}
	return rules.SortPrefixes(out)
}

// TestSetBucketsCrowdBounded: 20,000 hosts whose hashes begin alike by
// the public constants (in the first 64th of every array without a
// seed) are loaded in an array sized to their number, as any list is:
// each array's seed parts them. Doubled for them instead, up to
// SET_BKT_MAX, a million such hosts made a load allocate up to 1 GiB
// (the doubling is bounded too, rebuildBuckets).
func TestSetBucketsCrowdBounded(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyIPv4)
	hosts := confinedIPv4(20000)
	if _, err := s.LoadSet("feed", hosts, nil); err != nil {
		t.Fatalf("%d hosts crowding the first 64th of every unseeded array: %v", len(hosts), err)
	}
	if got, err := s.SetElements("feed"); err != nil || !slices.Equal(got, hosts) {
		t.Fatalf("the set holds %d elements (%v), want %d", len(got), err, len(hosts))
	}
	h := openSetHandle(t, s, "feed")
	defer h.Close()
	if nb, need := h.bkt[0].nbuckets(), bucketsFor(false, len(hosts)+len(hosts)/4); nb > 2*need {
		t.Errorf("%d hosts in an array of %d buckets, want one sized to their number (%d)", len(hosts), nb, need)
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(7)), rules.Sets{"feed": {Name: "feed", Prefixes: hosts[:500]}})[:2000])
}
