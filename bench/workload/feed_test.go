package workload

import "testing"

// The feed must be one nft accepts as an interval set (no entry inside
// another), shaped as documented, and its traffic must land inside the
// feed about half the time.
func TestFeed(t *testing.T) {
	const n = 20000
	f := NewFeed(n)
	set := f.Set("feed", n)
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(set.Prefixes) != n {
		t.Fatalf("%d distinct entries, want %d", len(set.Prefixes), n)
	}
	for i := 1; i < n; i++ {
		if prev, p := set.Prefixes[i-1], set.Prefixes[i]; prev.Contains(p.Addr()) {
			t.Fatalf("%s lies inside %s", p, prev)
		}
	}
	kinds := map[[2]int]int{}
	for _, p := range f {
		kinds[[2]int{p.Addr().BitLen(), p.Bits()}]++
	}
	if kinds[[2]int{32, 24}] != n/2 || kinds[[2]int{32, 32}] != 4*n/10 || kinds[[2]int{128, 64}]+kinds[[2]int{128, 128}] != n/10 {
		t.Fatalf("entries by kind %v", kinds)
	}

	tr := f.Traffic(4000)
	in := 0
	for _, fl := range tr.Flows {
		if set.Contains(fl.Src) {
			in++
		}
	}
	if in < 1800 || in > 2200 {
		t.Fatalf("%d of 4000 sources inside the feed, want about half", in)
	}
	if share := tr.MatchedShare(f.Ruleset("feed", n)); share < 0.45 || share > 0.55 {
		t.Fatalf("the feed's rule decides %.2f of the frames, want about half", share)
	}
	if share := tr.MatchedShare(f.Ruleset("feed", 1)); share > 0.01 {
		t.Fatalf("a one-entry set decides %.2f of the frames", share)
	}
}
