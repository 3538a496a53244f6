package loader

import (
	"fmt"
	"maps"
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// liveStep is one change of TestLiveApplyWithSetsIsAtomic: an apply of a
// whole ruleset with its sets, or an in-place change of one set.
type liveStep struct {
	apply    bool
	load     bool // LoadSet of want's contents of set; else ChangeSet(add, del)
	set      string
	add, del []netip.Prefix
	want     *rules.Ruleset // the version the step makes live, sets included
}

func (st liveStep) String() string {
	switch {
	case st.apply:
		return fmt.Sprintf("apply of %d rules, sets %v", len(st.want.Rules), slices.Sorted(maps.Keys(st.want.Sets)))
	case st.load:
		return fmt.Sprintf("load of set %s (%d elements)", st.set, len(st.want.Sets[st.set].Prefixes))
	}
	return fmt.Sprintf("change of set %s (+%d -%d)", st.set, len(st.add), len(st.del))
}

// narrowSet is like randomSet, but no element covers most of the
// address pools (randomSet's /8 does): which rules a frame matches then
// depends on the set's exact elements.
func narrowSet(rng *rand.Rand, name string, n int) *rules.Set {
	return prefixPool{
		v4: func(rng *rand.Rand) netip.Addr {
			return netip.AddrFrom4([4]byte{10, byte(rng.Intn(2)), byte(rng.Intn(16)), byte(rng.Intn(256))})
		},
		v6: func(rng *rand.Rand) netip.Addr {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(rng.Intn(4)), 14: byte(rng.Intn(2)), 15: byte(rng.Intn(256))})
		},
		v4Lens: []int{22, 24, 26, 28, 30, 31, 32, 32, 32},
		v6Lens: []int{64, 112, 120, 124, 127, 128, 128},
	}.set(rng, name, n)
}

// changedSet keeps about two thirds of old's elements (none when old is
// nil) and adds fresh random ones: nested prefixes come and go.
func changedSet(rng *rand.Rand, name string, old *rules.Set) *rules.Set {
	s := narrowSet(rng, name, 8+rng.Intn(12))
	if old != nil {
		for _, p := range old.Prefixes {
			if rng.Intn(3) > 0 {
				s.Prefixes = append(s.Prefixes, p)
			}
		}
		s.Prefixes = rules.SortPrefixes(s.Prefixes)
	}
	return s
}

// appliedRuleset is a ruleset over sets whose rules name the sets in used
// as source, destination or both, some with a port too, with random
// priorities, actions and policy. The first two rules name used[0] (the
// set this apply creates, when it creates one) on either side.
func appliedRuleset(rng *rand.Rand, sets rules.Sets, used []string) *rules.Ruleset {
	rs := &rules.Ruleset{Policy: []rules.Action{rules.Pass, rules.Drop}[rng.Intn(2)], Sets: sets}
	for i := range 10 {
		m := rules.Match{}
		name := used[rng.Intn(len(used))]
		switch {
		case i == 0:
			m.SrcSet = used[0]
		case i == 1:
			m.DstSet = used[0]
		case rng.Intn(3) == 0:
			m.SrcSet, m.DstSet = name, used[rng.Intn(len(used))]
		case rng.Intn(2) == 0:
			m.SrcSet = name
		default:
			m.DstSet = name
		}
		if rng.Intn(3) == 0 {
			m.Dport = rules.PortRange{Set: true, Lo: 53, Hi: 53}
		}
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Priority: uint32(rng.Intn(4)),
			Action: []rules.Action{rules.Pass, rules.Drop}[rng.Intn(2)], Match: m})
	}
	return rs
}

// planLiveSteps: applies of rulesets that change every rule and every
// set's contents, each followed by in-place changes of its sets. Sets a
// and b live throughout. Every other apply creates a set its rules use;
// the next apply drops it (the live rules use it), or keeps it without a
// rule using it and the one after drops it (no live rule uses it). u is
// named by every ruleset but by no rule, so it is written directly.
func planLiveSteps(rng *rand.Rand, applies int) []liveStep {
	var steps []liveStep
	cur := &rules.Ruleset{Policy: rules.Pass}
	for k := range applies {
		sets := rules.Sets{}
		for _, n := range []string{"a", "b", "u"} {
			sets[n] = changedSet(rng, n, cur.Sets[n])
		}
		used := []string{"a", "b"}
		if k%2 == 0 {
			name := fmt.Sprintf("new%d", k)
			sets[name] = changedSet(rng, name, nil)
			used = append([]string{name}, used...)
		} else if k%4 == 1 {
			// Keep the last apply's new set one more apply, no rule
			// using it; the next apply drops it. (For k%4 == 3 this
			// apply drops it while the live rules still use it.)
			name := fmt.Sprintf("new%d", k-1)
			sets[name] = changedSet(rng, name, cur.Sets[name])
		}
		cur = appliedRuleset(rng, sets, used)
		steps = append(steps, liveStep{apply: true, want: cur})
		for range 2 {
			names := slices.Sorted(maps.Keys(cur.Sets))
			st := liveStep{set: names[rng.Intn(len(names))], load: rng.Intn(2) == 0}
			old := cur.Sets[st.set]
			next := changedSet(rng, st.set, old)
			if !st.load {
				st.add, st.del = diffSorted(old.Prefixes, next.Prefixes)
			}
			sets := maps.Clone(cur.Sets)
			sets[st.set] = next
			cur = &rules.Ruleset{Policy: cur.Policy, Rules: cur.Rules, Sets: sets}
			st.want = cur
			steps = append(steps, st)
		}
	}
	return steps
}

// halfApplied are the states a step cut in two would show: for an
// apply, the old rules with the new sets' contents and the new rules with
// the old contents (rules and sets switched apart); for a set change, its
// additions without its deletions and the reverse.
func halfApplied(prev *rules.Ruleset, st liveStep) []*rules.Ruleset {
	mix := func(rs, contents *rules.Ruleset) *rules.Ruleset {
		sets := maps.Clone(rs.Sets)
		for name, set := range contents.Sets {
			if sets[name] != nil {
				sets[name] = set
			}
		}
		return &rules.Ruleset{Policy: rs.Policy, Rules: rs.Rules, Sets: sets}
	}
	if st.apply {
		return []*rules.Ruleset{mix(prev, st.want), mix(st.want, prev)}
	}
	old := prev.Sets[st.set].Prefixes
	add, del := diffSorted(old, st.want.Sets[st.set].Prefixes)
	gone := map[netip.Prefix]bool{}
	for _, p := range del {
		gone[p] = true
	}
	addsOnly := rules.SortPrefixes(append(slices.Clone(old), add...))
	delsOnly := slices.DeleteFunc(slices.Clone(old), func(p netip.Prefix) bool { return gone[p] })
	var out []*rules.Ruleset
	for _, ps := range [][]netip.Prefix{addsOnly, delsOnly} {
		sets := maps.Clone(prev.Sets)
		sets[st.set] = &rules.Set{Name: st.set, Prefixes: ps}
		out = append(out, &rules.Ruleset{Policy: prev.Policy, Rules: prev.Rules, Sets: sets})
	}
	return out
}

// revealingFrames picks from candidates, for each step, up to perStep
// frames whose verdict under one of the step's half-applied states is
// neither the one before the step nor the one after: a frame running
// while such a state is live shows it. Every extra-th candidate is kept
// too. focus[k] lists the frames revealing the step that makes version k
// (step k-1).
func revealingFrames(steps []liveStep, candidates [][]byte, perStep, extra int) (frames [][]byte, focus [][]int) {
	packets := make([]model.Packet, len(candidates))
	for i, f := range candidates {
		packets[i] = model.Decode(f)
	}
	verdicts := func(rs *rules.Ruleset) []model.Verdict {
		sorted := rules.Sorted(rs.Rules)
		out := make([]model.Verdict, len(packets))
		for i := range packets {
			out[i] = model.EvaluateDecoded(rs, sorted, &packets[i])
		}
		return out
	}
	index := map[int]int{} // candidate -> frame
	pick := func(i int) int {
		if _, ok := index[i]; !ok {
			index[i] = len(frames)
			frames = append(frames, candidates[i])
		}
		return index[i]
	}
	for i := 0; i < len(candidates); i += extra {
		pick(i)
	}
	focus = [][]int{nil}
	prev := &rules.Ruleset{Policy: rules.Pass}
	before := verdicts(prev)
	for _, st := range steps {
		after := verdicts(st.want)
		var revealing []int
		for _, half := range halfApplied(prev, st) {
			for i, v := range verdicts(half) {
				if len(revealing) < perStep && v != before[i] && v != after[i] {
					revealing = append(revealing, pick(i))
				}
			}
		}
		focus = append(focus, revealing)
		prev, before = st.want, after
	}
	return frames, focus
}

// unionSets has every set of the rulesets, with the elements it has in
// any of them.
func unionSets(rss ...*rules.Ruleset) rules.Sets {
	all := rules.Sets{}
	for _, rs := range rss {
		for name, set := range rs.Sets {
			if all[name] == nil {
				all[name] = &rules.Set{Name: name}
			}
			all[name].Prefixes = append(all[name].Prefixes, set.Prefixes...)
		}
	}
	return all
}

// run makes the step's change through s.
func (st liveStep) run(s *State) error {
	var err error
	switch {
	case st.apply:
		_, err = s.Apply(st.want)
	case st.load:
		_, err = s.LoadSet(st.set, st.want.Sets[st.set].Prefixes, nil)
	default:
		_, err = s.ChangeSet(st.set, st.add, st.del)
	}
	return err
}

// sameVersion checks that the live ruleset is want: policy, rules in
// evaluation order (ids aside: apply gives them), every set's contents.
func sameVersion(t *testing.T, what string, got, want *rules.Ruleset) {
	t.Helper()
	if got.Policy != want.Policy {
		t.Errorf("%s: policy %v, want %v", what, got.Policy, want.Policy)
	}
	strip := func(rs []rules.Rule) []rules.Rule {
		out := rules.Sorted(rs)
		for i := range out {
			out[i].ID = 0
		}
		return out
	}
	if g, w := strip(got.Rules), strip(want.Rules); !slices.EqualFunc(g, w, func(a, b rules.Rule) bool {
		return a.Priority == b.Priority && a.Action == b.Action && a.Match == b.Match
	}) {
		t.Errorf("%s: rules\n%+v\nwant\n%+v", what, g, w)
	}
	for name, ws := range want.Sets {
		switch gs := got.Sets[name]; {
		case gs == nil:
			t.Errorf("%s: no set %s", what, name)
		case !slices.Equal(gs.Prefixes, ws.Prefixes):
			more, fewer := diffSorted(ws.Prefixes, gs.Prefixes)
			t.Errorf("%s: set %s has %v more and %v fewer elements than wanted", what, name, more, fewer)
		}
	}
	for name := range got.Sets {
		if want.Sets[name] == nil {
			t.Errorf("%s: set %s is still there", what, name)
		}
	}
}

// TestLiveApplyWithSetsIsAtomic applies rulesets with sets while the
// sets also change in place between applies, and runs frames through the
// live maps all along: every verdict must be the model's under a version
// (ruleset and set contents together) live during that run. The applies
// change the rules (sets as source, destination and both; actions,
// priorities, policy) and every set's contents at once, create a set the
// new rules use, drop sets the live rules use or no longer use. Frames
// sit on the edges of the elements of every version, and while a change
// is made every other run is of a frame that one of its half-applied
// states would classify differently from both versions.
//
// Made to fail (checked): flipping the rules' and the sets' bits of
// `active` in two writes, even back to back; an apply writing its sets'
// changes directly (not for the inactive set generation) before its
// switch.
func TestLiveApplyWithSetsIsAtomic(t *testing.T) {
	s := openLive(t)
	rng := rand.New(rand.NewSource(5))
	steps := planLiveSteps(rng, 12)
	versions := make([]*rules.Ruleset, len(steps))
	for i, st := range steps {
		versions[i] = st.want
	}
	candidates := setFrames(rng, unionSets(versions...))
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	frames, focus := revealingFrames(steps, candidates[:min(len(candidates), 5000)], 40, 50)

	history := []*rules.Ruleset{{Policy: rules.Pass}}
	tr, err := s.NewInstance(true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	replay := startFocusedReplay(tr, frames, focus)
	for i, st := range steps {
		replay.changing()
		if err := st.run(s); err != nil {
			replay.finish()
			t.Fatalf("step %d (%v): %v", i, st, err)
		}
		live, err := s.RulesetWithSets()
		if err != nil {
			replay.finish()
			t.Fatal(err)
		}
		sameVersion(t, fmt.Sprintf("after step %d (%v)", i, st), live, st.want)
		history = append(history, live)
		replay.changed()
	}
	if err := replay.finish(); err != nil {
		t.Fatal(err)
	}
	replay.check(t, history)
}
