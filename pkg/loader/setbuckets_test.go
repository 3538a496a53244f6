package loader

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// all are the used slots.
func (b *setBuckets) all() []bslot {
	var out []bslot
	for sl := range b.each {
		out = append(out, sl)
	}
	return out
}

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

// TestSetBucketsBesideTrie: prefixes in the buckets nested with longer
// and shorter ones in the trie, both families at once. The first loads
// fill the buckets' four lengths with short ones, so the longer prefixes
// and hosts that come later go to the trie, which then holds longer
// matches than the buckets: only the longest of the two gives the
// answer. A set change stopped just before its switch leaves pending
// entries whose answers differ by generation, so a shorter match found
// first answers wrongly. tr classifies with the live maps; the model
// says what the live sets hold.
func TestSetBucketsBesideTrie(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("nest", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "nest"}}); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	short4 := []netip.Prefix{p("10.0.0.0/8"), p("10.1.0.0/16"), p("10.1.0.0/20"), p("10.1.2.0/24")}
	long4 := []netip.Prefix{p("10.1.2.16/28"), p("10.1.2.17/32"), p("10.1.3.0/28"), p("10.16.0.0/12")}
	short6 := []netip.Prefix{p("2001:db8::/32"), p("2001:db8:1::/48"), p("2001:db8:1::/56"), p("2001:db8:1:2::/64")}
	long6 := []netip.Prefix{p("2001:db8:1:2::/96"), p("2001:db8:1:2::17/128"), p("2001:db8:1:3::/96"), p("2001:db8:100::/40")}
	both := func(i ...int) []netip.Prefix {
		var out []netip.Prefix
		for _, j := range i {
			if j < 4 {
				out = append(out, short4[j], short6[j])
			} else {
				out = append(out, long4[j-4], long6[j-4])
			}
		}
		return out
	}
	all := both(0, 1, 2, 3, 4, 5, 6, 7)
	frames := setFrames(rand.New(rand.NewSource(5)), rules.Sets{"nest": {Name: "nest", Prefixes: rules.SortPrefixes(all)}})
	// Each step's set: what is loaded, then what a load stopped at its
	// switch was going to. Indexes: 0-3 the short ones, 4-7 the long.
	steps := [][2][]netip.Prefix{
		{both(1, 2, 3), both(0, 1, 2, 3)}, // the four bucket lengths
		{both(0, 1, 2, 3), both(4, 5, 3)}, // a longer prefix and a host under a /24 (/64), in the trie
		{both(4, 5, 3), both(0, 1)},       // and the /24 over them goes
		{both(4), both(3, 4, 5)},          // a /24 comes over a /28 in the trie, a host under both
		{both(0, 6), both(0, 7)},          // a /12 (/40) in the trie under a /8 (/32) in the buckets
		{all, both(2, 6)},
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
	for fam, want := range [2][]uint8{{24, 20, 16, 8}, {64, 56, 48, 32}} {
		b := h.bkt[fam]
		if got := b.lens(); !slices.Equal(got, want) {
			t.Errorf("family %d: bucket lengths %v, want %v", fam, got, want)
		}
		if want := [2]uint8{33, 129}[fam]; b.trieMax() != want {
			t.Errorf("family %d: trie_max %d after hosts went to the trie, want %d", fam, b.trieMax(), want)
		}
	}
	for _, q := range both(0, 1, 2, 3) {
		if k := h.kindOf(q); k != kindBkt4 && k != kindBkt6 {
			t.Errorf("%v is not in the buckets", q)
		}
	}
}

// randomEntry is a random IPv4 host or /24, or IPv6 host or /64.
func randomEntry(rng *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		for i := 2; i < 16; i++ {
			a[i] = byte(rng.Intn(256))
		}
		if rng.Intn(2) == 0 {
			return netip.PrefixFrom(netip.AddrFrom16(a), 64).Masked()
		}
		return netip.PrefixFrom(netip.AddrFrom16(a), 128)
	}
	a := netip.AddrFrom4([4]byte{byte(1 + rng.Intn(220)), byte(rng.Intn(256)), byte(rng.Intn(256)), byte(rng.Intn(256))})
	if rng.Intn(2) == 0 {
		return netip.PrefixFrom(a, 24).Masked()
	}
	return netip.PrefixFrom(a, 32)
}

// TestSetBucketsGrow: a set filled in many small changes and a few large
// ones, hosts and prefixes of both families mixed with deletions (IPv6
// slots then left as tombstones), outgrows its first bucket arrays
// several times and fills buckets until keys find both full; after the
// changes the program and the set's elements agree with the model.
func TestSetBucketsGrow(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyAny)
	rng := rand.New(rand.NewSource(9))
	have := map[netip.Prefix]bool{}
	h0 := openSetHandle(t, s, "feed")
	first := [2]uint32{h0.bkt[0].nbuckets(), h0.bkt[1].nbuckets()}
	for round := range 40 {
		n := 1 + rng.Intn(20)
		if round%10 == 0 {
			n = 3000 // more than the arrays have room for
		}
		var add, del []netip.Prefix
		for range n {
			if p := randomEntry(rng, rng.Intn(3) == 0); !have[p] {
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
	want := checkElements(t, s, "feed", have)
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	frames := setFrames(rand.New(rand.NewSource(3)), rules.Sets{"feed": {Name: "feed", Prefixes: want}})
	checkAgainstModel(t, tr, live, frames)
	h := openSetHandle(t, s, "feed")
	n := 0
	for fam, b := range h.bkt {
		if b.nbuckets() <= first[fam] {
			t.Errorf("family %d: %d buckets, from %d; want more", fam, b.nbuckets(), first[fam])
		}
		n += int(b.count())
	}
	if n != len(want) {
		t.Errorf("the buckets hold %d keys, want %d", n, len(want))
	}
}

// TestBucketPut: put fills a key's first bucket, then its second with the
// first flagged overflowing, and reports false when both are full; find
// and del see keys wherever they sit; a deleted IPv6 slot is not free,
// but its own key put back takes it again.
func TestBucketPut(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		b, err := newBuckets(v6, 16, 0, nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		rng := rand.New(rand.NewSource(2))
		var keys []bkey
		full := 0
		for range 400 {
			k := keyOf(randomEntry(rng, v6))
			if _, _, ok := b.find(k); ok {
				continue
			}
			if !b.put(k, setClean) {
				full++
				continue
			}
			keys = append(keys, k)
		}
		if full == 0 || len(keys) > 16*b.slots() || len(keys) < 16*b.slots()/2 {
			t.Fatalf("v6 %v: %d keys put, %d found both buckets full, of %d slots", v6, len(keys), full, 16*b.slots())
		}
		over := false
		for _, k := range keys {
			e, s, ok := b.find(k)
			if !ok {
				t.Fatalf("v6 %v: key %v not found", v6, k.prefix(v6))
			}
			if sl, _ := b.at(e, s); sl.flags != setClean || sl.key.prefix(v6) != k.prefix(v6) {
				t.Errorf("v6 %v: slot %+v for key %v", v6, sl, k.prefix(v6))
			}
			if bk := k.buckets(v6, b.nbuckets(), b.seed); e != bk[0] {
				over = true
				if *b.word(bk[0], 0)&1 == 0 {
					t.Errorf("v6 %v: key %v in its second bucket, its first not flagged", v6, k.prefix(v6))
				}
			}
		}
		if !over {
			t.Errorf("v6 %v: no key went to its second bucket", v6)
		}
		e, s, _ := b.find(keys[0])
		b.del(keys[0])
		if _, _, ok := b.find(keys[0]); ok || int(b.count()) != len(keys)-1 {
			t.Errorf("v6 %v: after del: found %v, count %d", v6, ok, b.count())
		}
		if free := *b.first(e, s) == 0; free == v6 {
			t.Errorf("v6 %v: the deleted slot is free: %v", v6, free)
		}
		// Put back, an IPv6 key takes its own tombstone again (its
		// address is there): it took a free slot, or found both buckets
		// full of its own tombstone and others.
		tombs := b.tombs()
		if !b.put(keys[0], setClean) {
			t.Fatalf("v6 %v: the deleted key put back: both buckets full", v6)
		}
		e2, s2, ok := b.find(keys[0])
		if !ok || int(b.count()) != len(keys) || (v6 && (e2 != e || s2 != s || b.tombs() != tombs-1)) {
			t.Errorf("v6 %v: put back at %d.%d (found %v), count %d, %d tombstones (from %d); want its slot %d.%d again, %d keys, one tombstone less",
				v6, e2, s2, ok, b.count(), b.tombs(), tombs, e, s, len(keys))
		}
		// A count gone wrong (a build that counted after writing, cut
		// short, then deleted: it wrapped below zero) sizes nothing.
		b.addCount(-int(b.count()) - 1)
		if got := b.all(); len(got) != len(keys) {
			t.Errorf("v6 %v: with a count of %d, all gives %d slots, want %d", v6, b.count(), len(got), len(keys))
		}
	}
}

// TestSetBucketsFirstFit: hosts added one at a time to a new set's
// first arrays are put where they fit, until one goes to its second
// bucket, the first full; after each change the program finds every one.
// (Arrays that Go builds flag their own overflowing buckets, so only
// puts into a filling array show a put that forgets the flag.)
func TestSetBucketsFirstFit(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("few", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "few"}}); err != nil {
		t.Fatal(err)
	}
	var have []netip.Prefix
	// random: the hash spreads consecutive addresses evenly
	rng := rand.New(rand.NewSource(4))
	flags := func(b *setBuckets) (n int) {
		for e := uint32(1); e <= b.nbuckets(); e++ {
			n += int(*b.word(e, 0) & 1)
		}
		return n
	}
	for fam := range 2 {
		b := openSetHandle(t, s, "few").bkt[fam]
		first, flagged, rebuilds := b.nbuckets(), flags(b), 0
		for over := false; !over; {
			p := randomEntry(rng, fam == 1)
			p = netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
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
			b := openSetHandle(t, s, "few").bkt[fam]
			if b.nbuckets() != first {
				// A key may find both its buckets full with none
				// overflowing yet (each full of keys whose first it is):
				// each array's random seed decides, so a small array
				// may be rebuilt a few times before a put lands in a
				// second bucket. Go built the new array, flags and
				// all: count the puts' from it. A put that forgot the
				// flag would rebuild every time.
				if rebuilds++; rebuilds > 12 {
					t.Fatalf("family %d: rebuilt %d times (%d buckets, from %d) and no put flagged an overflow", fam, rebuilds, b.nbuckets(), first)
				}
				first, flagged = b.nbuckets(), flags(b)
				continue
			}
			over = flags(b) > flagged
		}
	}
}

// TestSetBucketsTombsReused: IPv6 entries of a large set deleted and
// added again, a few at a time as a feed's come and go, take their own
// tombstones back (only a rebuild dropped them: a set whose entries
// flapped filled its buckets with tombstones until a change found both of
// a key's full, or passed three quarters of the slots, and built the
// whole array anew), and the program finds each as the model says.
func TestSetBucketsTombsReused(t *testing.T) {
	s, tr := openFeedInstance(t, rules.FamilyAny)
	rng := rand.New(rand.NewSource(11))
	var all []netip.Prefix
	for range 600 {
		all = append(all, randomEntry(rng, true))
	}
	all = rules.SortPrefixes(all)
	if _, err := s.ChangeSet("feed", all, nil); err != nil {
		t.Fatal(err)
	}
	flap := all[:20]
	h := openSetHandle(t, s, "feed")
	nb := h.bkt[1].nbuckets()
	for round := range 8 {
		if _, err := s.ChangeSet("feed", nil, flap); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChangeSet("feed", flap, nil); err != nil {
			t.Fatal(err)
		}
		h := openSetHandle(t, s, "feed")
		if b := h.bkt[1]; b.nbuckets() != nb || b.tombs() != 0 || int(b.count()) != len(all) {
			t.Fatalf("round %d: %d buckets (from %d), %d tombstones, %d keys; want the same array, none, %d", round, b.nbuckets(), nb, b.tombs(), b.count(), len(all))
		}
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, tr, live, setFrames(rand.New(rand.NewSource(4)), rules.Sets{"feed": {Name: "feed", Prefixes: all}}))
}

// checkElements fails the test unless set name holds exactly the
// prefixes have marks, which it gives sorted.
func checkElements(t *testing.T, s *State, name string, have map[netip.Prefix]bool) []netip.Prefix {
	t.Helper()
	got, err := s.SetElements(name)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]netip.Prefix, 0, len(have))
	for p := range have {
		want = append(want, p)
	}
	if want = rules.SortPrefixes(want); !slices.Equal(got, want) {
		if len(got)+len(want) > 100 {
			t.Fatalf("the set holds %d elements, want %d", len(got), len(want))
		}
		t.Fatalf("the set holds %d elements, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	return want
}
