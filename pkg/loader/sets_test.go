package loader

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// prefixPool draws prefixes: two thirds IPv4, addresses from v4 or v6,
// lengths from the lists.
type prefixPool struct {
	v4, v6         func(*rand.Rand) netip.Addr
	v4Lens, v6Lens []int
}

// set draws a set of n prefixes.
func (pp prefixPool) set(rng *rand.Rand, name string, n int) *rules.Set {
	s := &rules.Set{Name: name}
	for range n {
		var p netip.Prefix
		if rng.Intn(3) > 0 {
			p, _ = pp.v4(rng).Prefix(pp.v4Lens[rng.Intn(len(pp.v4Lens))])
		} else {
			p, _ = pp.v6(rng).Prefix(pp.v6Lens[rng.Intn(len(pp.v6Lens))])
		}
		s.Prefixes = append(s.Prefixes, p)
	}
	s.Prefixes = rules.SortPrefixes(s.Prefixes)
	return s
}

// randomSet draws n overlapping prefixes and hosts of both families from
// small address pools, so sets nest, share elements and leave gaps.
func randomSet(rng *rand.Rand, name string, n int) *rules.Set {
	return prefixPool{
		v4: func(rng *rand.Rand) netip.Addr {
			return netip.AddrFrom4([4]byte{10, byte(rng.Intn(4)), byte(rng.Intn(8)), byte(rng.Intn(256))})
		},
		v6: func(rng *rand.Rand) netip.Addr {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(rng.Intn(4)), 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(rng.Intn(4))})
		},
		v4Lens: []int{8, 16, 20, 24, 28, 31, 32, 32},
		v6Lens: []int{32, 40, 48, 64, 127, 128, 128},
	}.set(rng, name, n)
}

// setRuleset: rules naming the sets as source or destination, some with
// a port or the other direction as a prefix too.
func setRuleset(rng *rand.Rand, sets rules.Sets) *rules.Ruleset {
	rs := &rules.Ruleset{Policy: rules.Pass, Sets: sets}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range sets {
			if !yield(n) {
				return
			}
		}
	})
	for i := range 12 {
		m := rules.Match{}
		name := names[rng.Intn(len(names))]
		if rng.Intn(2) == 0 {
			m.SrcSet = name
		} else {
			m.DstSet = name
		}
		if rng.Intn(3) == 0 {
			m.Dport = rules.PortRange{Set: true, Lo: 53, Hi: 53}
		}
		action := rules.Drop
		if i%3 == 0 {
			action = rules.Pass
		}
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Priority: uint32(rng.Intn(5)), Action: action, Match: m})
	}
	return rs
}

// setFrames are UDP frames whose addresses sit on every element's edges,
// in both directions and every pairing with a random other address.
func setFrames(rng *rand.Rand, sets rules.Sets) [][]byte {
	var addrs []netip.Addr
	for _, s := range sets {
		for _, p := range s.Prefixes {
			addrs = append(addrs, rulegen.PrefixEdges(p)...)
		}
	}
	var out [][]byte
	for _, a := range addrs {
		for range 2 {
			b := addrs[rng.Intn(len(addrs))]
			if a.Is4() != b.Is4() {
				continue
			}
			for _, f := range []rulegen.Frame{{Src: a, Dst: b, Proto: 17, Sport: 1000, Dport: 53}, {Src: b, Dst: a, Proto: 17, Sport: 53, Dport: 1000}} {
				out = append(out, f.Bytes())
			}
		}
	}
	return out
}

func checkAgainstModel(t *testing.T, tr *Instance, rs *rules.Ruleset, frames [][]byte) {
	t.Helper()
	bad := 0
	for _, f := range frames {
		got, err := tr.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Evaluate(rs, f); got != want && bad < 5 {
			bad++
			t.Errorf("frame %x: datapath %+v, model %+v", f, got, want)
		}
	}
}

// TestSetsAgreeWithModel: rules over random overlapping sets give the
// model's verdict on every element edge, after the sets are loaded and
// again after each set is changed in place while its rules stay live
// (the two-generation protocol, through Instance.Load).
func TestSetsAgreeWithModel(t *testing.T) {
	privtest.Require(t)
	rng := rand.New(rand.NewSource(7))
	for round := range 4 {
		sets := rules.Sets{}
		for _, n := range []string{"a", "b", "c"} {
			sets[n] = randomSet(rng, n, 5+rng.Intn(40))
		}
		rs := setRuleset(rng, sets)
		tr, err := NewInstance(rs, true)
		if err != nil {
			t.Fatal(err)
		}
		frames := setFrames(rng, sets)
		checkAgainstModel(t, tr, rs, frames)
		for step := range 3 {
			next := rules.Sets{}
			for n, s := range sets {
				// Keep some elements, drop some, add some: nested
				// prefixes come and go under live rules.
				changed := randomSet(rng, n, 10)
				for _, p := range s.Prefixes {
					if rng.Intn(3) > 0 {
						changed.Prefixes = append(changed.Prefixes, p)
					}
				}
				changed.Prefixes = rules.SortPrefixes(changed.Prefixes)
				next[n] = changed
			}
			rs2 := &rules.Ruleset{Policy: rs.Policy, Rules: rs.Rules, Sets: next}
			if err := tr.Load(rs2); err != nil {
				t.Fatalf("round %d step %d: %v", round, step, err)
			}
			checkAgainstModel(t, tr, rs2, append(frames, setFrames(rng, next)...))
			sets = next
		}
		// A ruleset without sets removes them all.
		if err := tr.Load(&rules.Ruleset{Policy: rules.Pass}); err != nil {
			t.Fatal(err)
		}
		if defs, err := readSetDefs(&tr.objs.xdpfwMaps); err != nil || len(defs) != 0 {
			t.Errorf("sets left after loading a ruleset without sets: %v, %v", defs, err)
		}
		tr.Close()
	}
}

// TestLiveSetChangesAreAtomic changes set elements in place as fast as it
// can while frames run through the live maps, and checks every verdict
// against the model under a version of the sets live during that run.
// A rule names the set as source and another as destination, so a frame
// whose two addresses are both added by one change shows a half-applied
// change as a verdict no version gives.
func TestLiveSetChangesAreAtomic(t *testing.T) {
	s := openLive(t)
	if err := s.CreateSet("s", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	both := rules.Rule{Priority: 1, Action: rules.Drop, Match: rules.Match{SrcSet: "s", DstSet: "s"}}
	srcOnly := rules.Rule{Priority: 2, Action: rules.Pass, Match: rules.Match{SrcSet: "s"}}
	dstOnly := rules.Rule{Priority: 3, Action: rules.Drop, Match: rules.Match{DstSet: "s"}}
	for _, r := range []rules.Rule{both, srcOnly, dstOnly} {
		if _, err := s.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	// Each change adds or deletes a pair: a prefix covering one frame's
	// source and a host that is its destination.
	type pair struct{ src, dst netip.Prefix }
	var pairs []pair
	var frames [][]byte
	for i := range 6 {
		src := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)
		if i%2 == 1 {
			src = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i)}), 40)
			dst = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), 128)
		}
		pairs = append(pairs, pair{src, dst})
		f := rulegen.Frame{Src: src.Addr().Next(), Dst: dst.Addr(), Proto: 17, Sport: 1, Dport: 2}
		frames = append(frames, f.Bytes())
	}
	snapshot := func() *rules.Ruleset {
		rs, err := s.RulesetWithSets()
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	history := []*rules.Ruleset{snapshot()}
	tr, err := s.NewInstance(true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	replay := startLiveReplay(tr, frames)
	in := make([]bool, len(pairs))
	for op := range 60 {
		i := op * 7 % len(pairs)
		ps := []netip.Prefix{pairs[i].src, pairs[i].dst}
		replay.changing()
		var err error
		if in[i] {
			_, err = s.ChangeSet("s", nil, ps)
		} else {
			_, err = s.ChangeSet("s", ps, nil)
		}
		in[i] = !in[i]
		if err != nil {
			replay.finish()
			t.Fatalf("op %d: %v", op, err)
		}
		history = append(history, snapshot())
		replay.changed()
	}
	if err := replay.finish(); err != nil {
		t.Fatal(err)
	}
	replay.check(t, history)
}
