package loader

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// openSetHandle opens the maps of the live set name.
func openSetHandle(t *testing.T, s *State, name string) *setHandle {
	t.Helper()
	var h *setHandle
	err := s.read(func(v *view) error {
		def, err := v.setDef(name)
		if err == nil {
			h, err = openSetMaps(v.m, def.Slot)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestSetBucketsBesideTrie: IPv4 prefixes in the buckets nested with
// longer and shorter ones in the trie. The first loads fill the buckets'
// four lengths with short ones, so the /28s and hosts that come later go
// to the trie, which then holds longer matches than the buckets: only
// the longest of the two gives the answer. A set change stopped just
// before its switch leaves pending entries whose answers differ by
// generation, so a shorter match found first answers wrongly. tr
// classifies with the live maps; the model says what the live sets hold.
func TestSetBucketsBesideTrie(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("nest", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "nest"}}); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	short := []netip.Prefix{p("10.0.0.0/8"), p("10.1.0.0/16"), p("10.1.0.0/20"), p("10.1.2.0/24")}
	long := []netip.Prefix{p("10.1.2.16/28"), p("10.1.2.17/32"), p("10.1.3.0/28"), p("10.16.0.0/12")}
	all := rules.SortPrefixes(append(slices.Clone(short), long...))
	frames := setFrames(rand.New(rand.NewSource(5)), rules.Sets{"nest": {Name: "nest", Prefixes: all}})
	// Each step's set: what is loaded, then what a load stopped at its
	// switch was going to.
	steps := [][2][]netip.Prefix{
		{short[1:], short},                         // the four bucket lengths
		{short, {long[0], long[1], short[3]}},      // a /28 and a host under a /24, in the trie
		{{long[0], long[1], short[3]}, short[:2]},  // and the /24 over them goes
		{{long[0]}, {short[3], long[0], long[1]}},  // a /24 comes over a /28 in the trie, a host under both
		{{short[0], long[2]}, {short[0], long[3]}}, // a /12 in the trie under a /8 in the buckets
		{all, {short[2], long[2]}},
	}
	for i, step := range steps {
		if _, err := s.LoadSet("nest", rules.SortPrefixes(step[0]), nil); err != nil {
			t.Fatal(err)
		}
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, tr, live, frames)
		cutShort(t, s, "switch", func(progress func(done, total int)) {
			if _, err := s.LoadSet("nest", rules.SortPrefixes(step[1]), progress); err != nil {
				t.Error(err)
			}
		})
		checkAgainstModel(t, tr, live, frames) // the old elements, pending new ones beside them
		if t.Failed() {
			t.Fatalf("step %d", i)
		}
	}
	h := openSetHandle(t, s, "nest")
	if got, want := h.bkt.lens(), []uint8{24, 20, 16, 8}; !slices.Equal(got, want) {
		t.Errorf("bucket lengths %v, want %v", got, want)
	}
	if h.bkt.trieMax() != 33 {
		t.Errorf("trie_max %d after hosts went to the trie, want 33", h.bkt.trieMax())
	}
	for _, q := range short {
		if h.kindOf(q) != kindBkt4 {
			t.Errorf("%v is not in the buckets", q)
		}
	}
}

// TestSetBucketsGrow: a set filled in many small changes and a few large
// ones, hosts and /24s mixed with deletions, outgrows its first bucket
// array several times and fills buckets until keys find both full; after
// each change the program and the set's elements agree with the model.
func TestSetBucketsGrow(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("feed", rules.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "feed"}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(9))
	random := func() netip.Prefix {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.Intn(220)), byte(rng.Intn(256)), byte(rng.Intn(256)), byte(rng.Intn(256))})
		if rng.Intn(2) == 0 {
			return netip.PrefixFrom(a, 24).Masked()
		}
		return netip.PrefixFrom(a, 32)
	}
	have := map[netip.Prefix]bool{}
	h0 := openSetHandle(t, s, "feed")
	first := h0.bkt.nbuckets()
	for round := range 40 {
		n := 1 + rng.Intn(20)
		if round%10 == 0 {
			n = 3000 // more than the array has room for
		}
		var add, del []netip.Prefix
		for range n {
			if p := random(); !have[p] {
				have[p] = true
				add = append(add, p)
			}
		}
		for p := range have {
			if len(del) < n/4 && rng.Intn(8) == 0 && !slices.Contains(add, p) {
				del = append(del, p)
			}
		}
		for _, p := range del {
			delete(have, p)
		}
		if _, err := s.ChangeSet("feed", add, del); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SetElements("feed")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]netip.Prefix, 0, len(have))
	for p := range have {
		want = append(want, p)
	}
	if want = rules.SortPrefixes(want); !slices.Equal(got, want) {
		t.Fatalf("the set holds %d elements, want %d", len(got), len(want))
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	frames := setFrames(rand.New(rand.NewSource(3)), rules.Sets{"feed": {Name: "feed", Prefixes: want}})
	checkAgainstModel(t, tr, live, frames)
	h := openSetHandle(t, s, "feed")
	if nb := h.bkt.nbuckets(); nb <= first || int(h.bkt.count()) != len(want) {
		t.Errorf("%d buckets holding %d keys, from %d buckets; want more buckets holding %d", nb, h.bkt.count(), first, len(want))
	}
}

// TestBucketPut: put fills a key's first bucket, then its second with the
// first flagged overflowing, and reports false when both are full; find
// and del see keys wherever they sit.
func TestBucketPut(t *testing.T) {
	b, err := newBuckets(16, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var keys []uint64
	for i := 0; len(keys) < 16*7; i++ {
		k := slotKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
		if !b.put(k, setClean) {
			break
		}
		keys = append(keys, k)
	}
	if len(keys) == 16*7 || len(keys) < 16*7/2 {
		t.Fatalf("%d keys put before one found both buckets full, of %d slots", len(keys), 16*7)
	}
	over := false
	for _, k := range keys {
		bk := bucketsOf(k, b.nbuckets())
		if b.find(k) == nil {
			t.Fatalf("key %x not found", k)
		}
		inFirst := false
		for s := 1; s < bktWords; s++ {
			inFirst = inFirst || *b.word(bk[0], s)&bktKeyMask == k
		}
		if !inFirst {
			over = true
			if *b.word(bk[0], 0)&1 == 0 {
				t.Errorf("key %x in its second bucket, its first not flagged", k)
			}
		}
	}
	if !over {
		t.Error("no key went to its second bucket")
	}
	b.del(keys[0])
	if b.find(keys[0]) != nil || int(b.count()) != len(keys)-1 {
		t.Errorf("after del: found %v, count %d", b.find(keys[0]) != nil, b.count())
	}
}

// TestSetBucketsFirstFit: hosts added a few at a time to a new set's
// first array are put where they fit, some into their second bucket once
// the first is full; after each change the program finds every one.
// (Arrays that Go builds flag their own overflowing buckets, so only
// puts into a filling array show a put that forgets the flag.)
func TestSetBucketsFirstFit(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("few", rules.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "few"}}); err != nil {
		t.Fatal(err)
	}
	h0 := openSetHandle(t, s, "few")
	first := h0.bkt.nbuckets()
	var have []netip.Prefix
	rng := rand.New(rand.NewSource(4))
	for range 64 {
		// random: the hash spreads consecutive addresses evenly
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.Intn(256)), byte(rng.Intn(256)), byte(rng.Intn(256))}), 32)
		if _, err := s.ChangeSet("few", []netip.Prefix{p}, nil); err != nil {
			t.Fatal(err)
		}
		have = append(have, p)
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(1)), rules.Sets{"few": {Name: "few", Prefixes: have}}))
		if t.Failed() {
			t.Fatalf("after %d hosts", len(have))
		}
	}
	over := 0
	h := openSetHandle(t, s, "few")
	for e := uint32(1); e <= h.bkt.nbuckets(); e++ {
		over += int(*h.bkt.word(e, 0) & 1)
	}
	if h.bkt.nbuckets() != first || over == 0 {
		t.Errorf("%d buckets, %d flagged overflowing; want the first array's %d, some flagged", h.bkt.nbuckets(), over, first)
	}
}
