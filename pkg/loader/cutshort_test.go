package loader

import (
	"math/rand"
	"net/netip"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// cutShort runs change in a goroutine that ends (runtime.Goexit) when it
// reaches point: "progress" (its first progress report), or a point of
// tx.reached. The maps are then as a process killed there leaves them. It
// fails the test if the change never reached the point.
//
// The goroutine runs in the caller's network namespace (a test in
// perf.InNetns is in a throwaway one, on its locked thread): started
// plainly, it ran on another thread, in the first namespace, where the
// change's attachments met whatever interface had the ifindex the test's
// veth had. Its thread stays locked, so it ends with the goroutine and
// no other goroutine runs in that namespace.
func cutShort(t *testing.T, s *State, point string, change func(progress func(done, total int))) {
	t.Helper()
	stop := func(p string) {
		if p == point {
			runtime.Goexit()
		}
	}
	stopChangesAt(s, stop)
	defer stopChangesAt(s, nil)
	ns, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	finished := make(chan bool)
	var nsErr error
	go func() {
		runtime.LockOSThread()
		ended := false
		defer func() { finished <- ended }()
		if nsErr = netns.Set(ns); nsErr != nil {
			return
		}
		change(func(done, total int) { stop("progress") })
		ended = true
	}()
	ended := <-finished
	if nsErr != nil {
		t.Fatalf("enter the caller's network namespace: %v", nsErr)
	}
	if ended {
		t.Fatalf("the change ran to its end without reaching %q", point)
	}
}

// prefixRange is n prefixes from 10.0.0.0 on, from the from-th: hosts and
// /28s in turn, none inside another. Two ranges share what they overlap.
func prefixRange(from, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		k := uint32(from + i)
		v, bits := 10<<24+k<<4, 28
		if k%2 == 0 {
			v, bits = v+1, 32
		}
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
	}
	return rules.SortPrefixes(out)
}

// testSetLoadCutShort: a set load stopped part-way, as by SIGKILL, leaves
// the set's old elements, or its new ones once the switch happened, as
// set list, save and the datapath all see them, and the next load gives
// exactly its elements. A direct load of 70,000 elements into an empty set
// no rule uses is written in two chunks, so stopping after the first
// leaves half of them: it used to be kept, a mix, and the next load,
// taking the set for empty still, left the extra entries for good. Loads
// over a set with elements, used or not, now go in place (a direct one
// stopped part-way left a mix too).
func testSetLoadCutShort(t *testing.T, s *State, tr *Instance) {
	for _, name := range []string{"used", "unused"} {
		if err := s.CreateSet(name, rules.FamilyAny); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []rules.Rule{
		{Priority: 1, Action: rules.Drop, Match: rules.Match{SrcSet: "used"}},
		{Priority: 2, Action: rules.Pass, Match: rules.Match{DstSet: "used", Dport: rules.PortRange{Set: true, Lo: 53, Hi: 53}}},
	} {
		if _, err := s.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	big, a, b := prefixRange(0, 70_000), prefixRange(0, 2000), prefixRange(1000, 2000)
	sample := rules.Sets{"a": {Name: "a"}, "b": {Name: "b"}, "big": {Name: "big"}}
	for i := 0; i < len(a); i += 100 {
		sample["a"].Prefixes = append(sample["a"].Prefixes, a[i])
		sample["b"].Prefixes = append(sample["b"].Prefixes, b[i])
		sample["big"].Prefixes = append(sample["big"].Prefixes, big[i*30])
	}
	frames := setFrames(rand.New(rand.NewSource(1)), sample)
	elements := func(name string, want []netip.Prefix, when string) {
		t.Helper()
		got, err := s.SetElements(name)
		if err != nil {
			t.Fatal(err)
		}
		infos, err := s.Sets()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(infos, func(i SetInfo) bool { return i.Name == name })
		if !slices.Equal(got, want) || infos[i].Elements != len(want) {
			add, del := diffSorted(want, got)
			t.Fatalf("%s: set %s has %d elements (%d listed), %d more and %d fewer than wanted",
				when, name, len(got), infos[i].Elements, len(add), len(del))
		}
	}
	for _, c := range []struct {
		set      string
		from, to []netip.Prefix
		point    string
	}{
		{"unused", nil, big, "progress"}, // direct, in chunks
		{"unused", a, b, "progress"},     // in place
		{"unused", b, a, "switched"},
		{"used", nil, a, "switch"},
		{"used", a, b, "progress"},
		{"used", b, a, "switch"},
		{"used", a, b, "switched"},
	} {
		if _, err := s.LoadSet(c.set, c.from, nil); err != nil {
			t.Fatal(err)
		}
		cutShort(t, s, c.point, func(progress func(done, total int)) { s.LoadSet(c.set, c.to, progress) })
		want := c.from
		if c.point == "switched" {
			want = c.to
		}
		elements(c.set, want, "stopped at "+c.point)
		live, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, tr, live, frames)
		if _, err := s.LoadSet(c.set, c.to, nil); err != nil {
			t.Fatalf("load after one stopped at %s: %v", c.point, err)
		}
		elements(c.set, c.to, "load after one stopped at "+c.point)
	}
}

// testApplyCutShort: an apply of a ruleset with sets, stopped just before
// its switch or just after it, leaves the old ruleset or the new one,
// rules and sets whole, as save and the datapath see it, and the next
// apply works. Each apply changes the elements of set bl (which the rules
// use) and of set u (which none uses), creates a set and drops one. Before
// the switch, u used to hold its new elements already (written directly);
// after it, until the apply cleared its marks, the new set was not listed
// (the datapath used it, save did not show it) and the dropped one was.
func testApplyCutShort(t *testing.T, s *State, tr *Instance) {
	rng := rand.New(rand.NewSource(3))
	rulesets := []*rules.Ruleset{
		{Policy: rules.Pass, Sets: rules.Sets{"bl": narrowSet(rng, "bl", 30), "only_a": narrowSet(rng, "only_a", 20), "u": narrowSet(rng, "u", 20)},
			Rules: []rules.Rule{
				{ID: 1, Action: rules.Drop, Match: rules.Match{SrcSet: "bl"}},
				{ID: 2, Priority: 1, Action: rules.Drop, Match: rules.Match{DstSet: "only_a"}},
			}},
		{Policy: rules.Drop, Sets: rules.Sets{"bl": narrowSet(rng, "bl", 30), "only_b": narrowSet(rng, "only_b", 20), "u": narrowSet(rng, "u", 20)},
			Rules: []rules.Rule{
				{ID: 1, Action: rules.Pass, Match: rules.Match{DstSet: "bl"}},
				{ID: 2, Priority: 1, Action: rules.Pass, Match: rules.Match{SrcSet: "only_b"}},
			}},
	}
	frames := setFrames(rng, unionSets(rulesets...))
	if _, err := s.Apply(rulesets[0]); err != nil {
		t.Fatal(err)
	}
	live := func(want *rules.Ruleset, when string) {
		t.Helper()
		rs, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		sameVersion(t, when, rs, want)
		checkAgainstModel(t, tr, rs, frames)
	}
	cur := 0
	for _, point := range []string{"switch", "switched", "switch", "switched"} {
		next := 1 - cur
		cutShort(t, s, point, func(func(done, total int)) { s.Apply(rulesets[next]) })
		if point == "switched" {
			live(rulesets[next], "stopped at "+point)
		} else {
			live(rulesets[cur], "stopped at "+point)
		}
		if _, err := s.Apply(rulesets[next]); err != nil {
			t.Fatalf("apply after one stopped at %s: %v", point, err)
		}
		live(rulesets[next], "apply after one stopped at "+point)
		cur = next
	}
}

// openLiveInstance is openLive with a tracing instance classifying with the
// live maps.
func openLiveInstance(t *testing.T) (*State, *Instance) {
	t.Helper()
	s := openLive(t)
	tr, err := s.NewInstance(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return s, tr
}

// TestChangesCutShort: set loads, then applies, stopped part-way. tr
// classifies with the live maps. (One state and instance for both: each
// takes a second to make.)
func TestChangesCutShort(t *testing.T) {
	s, tr := openLiveInstance(t)
	t.Run("set load", func(t *testing.T) { testSetLoadCutShort(t, s, tr) })
	t.Run("apply", func(t *testing.T) { testApplyCutShort(t, s, tr) })
}

// TestRuleAfterCutShortLoad: a direct load of 70,000 prefixes into a set
// no rule uses, stopped after its first chunk, then a rule naming the set.
// set list shows the set empty, so the rule must find it empty too: the
// rule change repairs the cut-short load first. It used not to (only set
// changes and apply did), and the datapath dropped frames from addresses
// in the elements written before the cut while the model passed them.
func TestRuleAfterCutShortLoad(t *testing.T) {
	s, tr := openLiveInstance(t)
	if err := s.CreateSet("u", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	cutShort(t, s, "progress", func(progress func(done, total int)) { s.LoadSet("u", prefixRange(0, 70_000), progress) })
	if got, err := s.SetElements("u"); err != nil || len(got) != 0 {
		t.Fatalf("after the cut: set u lists %d elements (%v), want 0", len(got), err)
	}
	if _, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{SrcSet: "u"}}); err != nil {
		t.Fatal(err)
	}
	live, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	// 10.0.0.17 is in 10.0.0.16/28, the second element, in the first chunk.
	f := rulegen.Frame{Src: netip.MustParseAddr("10.0.0.17"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, Sport: 1000, Dport: 53}
	checkAgainstModel(t, tr, live, [][]byte{f.Bytes()})
}

// TestCutShortInCallersNetns: a change cutShort runs for a test in a
// throwaway network namespace runs there, not in the first namespace.
func TestCutShortInCallersNetns(t *testing.T) {
	s := openLive(t)
	inThrowawayNetns(t, func() error {
		want, err := netns.Get()
		if err != nil {
			return err
		}
		defer want.Close()
		var same bool
		cutShort(t, s, "progress", func(progress func(done, total int)) {
			if got, err := netns.Get(); err == nil {
				same = got.Equal(want)
				got.Close()
			}
			progress(0, 1)
		})
		if !same {
			t.Error("the change ran in another network namespace than its caller's")
		}
		return nil
	})
}
