package replay

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// diffCaptures are the committed fixtures and the link-type captures,
// whose skipped and truncated frames must count in no change.
func diffCaptures(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, glob := range []string{"*.pcap", "linktypes/*.pcap*"} {
		m, err := filepath.Glob(filepath.Join(pcapDir, glob))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 15 {
		t.Fatalf("want the committed captures in %s, found %d", pcapDir, len(files))
	}
	return files
}

// modelChange is what the reference model says one changed pair of
// deciders holds: its frames and the first samples.
type modelChange struct {
	frames  int
	samples []string // "file#frame"
}

// modelDiff is the diff computed by the reference model alone: each frame
// that runs is evaluated under both rulesets, and a frame changes when its
// deciding (reason, action, conditions) differ. It checks the counts of
// the report and returns the changes by "new decider <- old decider".
func modelDiff(t *testing.T, old, next *rules.Ruleset, files []string, rep *DiffReport) map[string]modelChange {
	t.Helper()
	oldSorted, newSorted := rules.Sorted(old.Rules), rules.Sorted(next.Rules)
	oldCT, newCT := rules.HasCTState(oldSorted), rules.HasCTState(newSorted)
	oldT, newT := model.NewTracker(model.CTConfigOf(old)), model.NewTracker(model.CTConfigOf(next))
	var clock captureClock
	want := map[string]modelChange{}
	var frames, ran, notRun, learned, changed int
	var tr Transitions
	for _, file := range files {
		all, err := ReadFrames(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			frames++
			if f.Skip != "" || f.Truncated() || len(f.Data) < 14 {
				notRun++
				continue
			}
			now := clock.at(f.Time)
			p := model.Decode(f.Data)
			p.Iface = "lo"
			if f.Out {
				learned++
				oldT.Egress(&p, f.Data, now)
				newT.Egress(&p, f.Data, now)
				continue
			}
			ran++
			ov, _ := model.EvaluateTracked(old, oldSorted, oldCT, &p, f.Data, oldT, now)
			nv, _ := model.EvaluateTracked(next, newSorted, newCT, &p, f.Data, newT, now)
			od, nd := modelDecider(ov, oldSorted), modelDecider(nv, newSorted)
			if od == nd {
				continue
			}
			changed++
			switch {
			case ov.Action == nv.Action:
				tr.Redecided++
			case nv.Action == rules.Drop:
				tr.PassToDrop++
			default:
				tr.DropToPass++
			}
			k := nd + " <- " + od
			c := want[k]
			c.frames++
			if len(c.samples) < DiffSamples {
				c.samples = append(c.samples, fmt.Sprintf("%s#%d", file, f.Index))
			}
			want[k] = c
		}
	}
	if rep.Frames != frames || rep.Ran != ran || rep.Skipped+rep.Truncated != notRun || rep.Learned != learned {
		t.Errorf("frames %d ran %d skipped %d truncated %d learned %d; the model counts %d frames, %d run, %d not run, %d learned",
			rep.Frames, rep.Ran, rep.Skipped, rep.Truncated, rep.Learned, frames, ran, notRun, learned)
	}
	if rep.Changed != changed || rep.Unchanged != ran-changed || rep.Transitions != tr {
		t.Errorf("changed %d unchanged %d %+v; the model says changed %d unchanged %d %+v",
			rep.Changed, rep.Unchanged, rep.Transitions, changed, ran-changed, tr)
	}
	return want
}

// modelDecider names what decided v by its definition, not its id.
func modelDecider(v model.Verdict, sorted []rules.Rule) string {
	if v.Reason != model.ReasonRule {
		return fmt.Sprintf("%s %s", v.Reason, v.Action)
	}
	for _, r := range sorted {
		if r.ID == v.RuleID {
			return fmt.Sprintf("rule %s %s", r.Action, r.Match)
		}
	}
	panic(fmt.Sprintf("no rule %d", v.RuleID))
}

// reportChanges is the report's changes in modelDiff's terms, checking on
// the way that each rule's totals add up and the lists are in order.
func reportChanges(t *testing.T, rep *DiffReport) map[string]modelChange {
	t.Helper()
	name := func(d Decider) string {
		if d.Reason == "rule" {
			return fmt.Sprintf("rule %s %s", d.Action, d.Match)
		}
		return d.Reason + " " + d.Action
	}
	got := map[string]modelChange{}
	for _, rc := range rep.Rules {
		sum, tr := 0, Transitions{}
		for _, c := range rc.From {
			k := name(rc.Rule) + " <- " + name(c.Rule)
			if _, dup := got[k]; dup {
				t.Errorf("%s listed twice", k)
			}
			var samples []string
			for _, s := range c.Samples {
				samples = append(samples, fmt.Sprintf("%s#%d", s.File, s.Index))
			}
			got[k] = modelChange{c.Frames, samples}
			sum += c.Frames
			tr.add(c.Change, c.Frames)
			if c.Change != transition(c.Rule, rc.Rule) {
				t.Errorf("%s: change %s", k, c.Change)
			}
		}
		if rc.Frames != sum || rc.Transitions != tr || len(rc.From) == 0 {
			t.Errorf("%s: frames %d %+v, its changes add up to %d %+v", name(rc.Rule), rc.Frames, rc.Transitions, sum, tr)
		}
	}
	return got
}

// checkDiff requires the report to agree with the reference model frame
// for frame: the same counts, the same changes, the same first samples.
func checkDiff(t *testing.T, old, next *rules.Ruleset, files []string, rep *DiffReport) {
	t.Helper()
	if rep.Mismatches != 0 || !rep.Verified {
		t.Errorf("verified %v, %d frames where the datapath and the model disagree", rep.Verified, rep.Mismatches)
	}
	want := modelDiff(t, old, next, files, rep)
	if got := reportChanges(t, rep); !reflect.DeepEqual(got, want) {
		t.Errorf("changes differ from the model's:\n got: %v\nwant: %v", got, want)
	}
}

func mustInstance(t *testing.T, rs *rules.Ruleset) *loader.Instance {
	t.Helper()
	in, err := loader.NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

func runDiff(t *testing.T, old, next *rules.Ruleset, files []string) *DiffReport {
	t.Helper()
	rep, err := Diff(Side{"old.yaml", mustInstance(t, old), old}, Side{"new.yaml", mustInstance(t, next), next}, files, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkDiff(t, old, next, files, rep)
	return rep
}

// TestDiffCases: the changes operators make, each checked against the
// model, and each shown to change what it should.
func TestDiffCases(t *testing.T) {
	privtest.Require(t)
	files := diffCaptures(t)
	mixed := rulesets(t)["mixed.yaml"]
	lockdown := rulesets(t)["lockdown.yaml"]

	t.Run("identical", func(t *testing.T) {
		rep := runDiff(t, mixed, rulesets(t)["mixed.yaml"], files)
		if rep.Changed != 0 || len(rep.Rules) != 0 || rep.Unchanged != rep.Ran || rep.Ran < 4000 {
			t.Errorf("identical rulesets: %d of %d frames changed, rules %v", rep.Changed, rep.Ran, rep.Rules)
		}
	})
	t.Run("renumbered", func(t *testing.T) {
		// A first rule no frame matches shifts every id by one: the same
		// rules decide the same frames, which is no change.
		next := prepend(t, mixed, "{src: 203.0.113.250, proto: 99, action: drop}")
		rep := runDiff(t, mixed, next, files)
		if rep.Changed != 0 {
			t.Errorf("renumbered rules: %d frames changed: %+v", rep.Changed, rep.Rules)
		}
	})
	t.Run("rule added", func(t *testing.T) {
		next := prepend(t, mixed, "{priority: 1, proto: udp, action: drop}")
		rep := runDiff(t, mixed, next, files)
		if rep.PassToDrop == 0 || rep.Redecided == 0 || rep.DropToPass != 0 {
			t.Errorf("a udp drop rule: %+v", rep.Transitions)
		}
		// Every change is the new rule's: it is the only one added.
		if len(rep.Rules) != 1 || rep.Rules[0].Rule.Match != "proto udp" || rep.Rules[0].Rule.Priority != 1 || rep.Rules[0].Frames != rep.Changed {
			t.Errorf("changes not all the new rule's: %+v", rep.Rules)
		}
		for _, c := range rep.Rules[0].From {
			if len(c.Samples) == 0 || len(c.Samples) > DiffSamples || c.Samples[0].Proto != "udp" || c.Samples[0].Dport == nil {
				t.Errorf("samples of %s: %+v", c.Rule, c.Samples)
			}
		}
	})
	t.Run("policy flipped", func(t *testing.T) {
		open := *lockdown
		open.Policy = rules.Pass
		rep := runDiff(t, lockdown, &open, files)
		if rep.DropToPass == 0 || rep.PassToDrop != 0 || rep.Redecided != 0 {
			t.Errorf("policy drop to pass: %+v", rep.Transitions)
		}
		if len(rep.Rules) != 1 || rep.Rules[0].Rule.Reason != "default" || len(rep.Rules[0].From) != 1 || rep.Rules[0].From[0].Rule.String() != "policy drop" {
			t.Errorf("changes not all the policy's: %+v", rep.Rules)
		}
	})
}

// prepend is rs with the rule of ruleYAML first in the list: it takes id 1
// and every other rule's id grows by one, as a file with it on top would.
func prepend(t *testing.T, rs *rules.Ruleset, ruleYAML string) *rules.Ruleset {
	t.Helper()
	first := mustParse(t, "policy: pass\nrules:\n  - "+ruleYAML+"\n").Rules[0]
	out := *rs
	out.Rules = []rules.Rule{first}
	for _, r := range rs.Rules {
		r.ID++
		out.Rules = append(out.Rules, r)
	}
	return &out
}

// TestDiffEveryPair: every committed ruleset against every other, over
// every committed capture, agrees with the model.
func TestDiffEveryPair(t *testing.T) {
	privtest.Require(t)
	files := diffCaptures(t)
	all := rulesets(t)
	names := make([]string, 0, len(all))
	instances := map[string]*loader.Instance{}
	for name, rs := range all {
		names = append(names, name)
		instances[name] = mustInstance(t, rs)
	}
	sort.Strings(names)
	changed := 0
	for _, o := range names {
		for _, n := range names {
			t.Run(o+" to "+n, func(t *testing.T) {
				rep, err := Diff(Side{o, instances[o], all[o]}, Side{n, instances[n], all[n]}, files, Options{Verify: true})
				if err != nil {
					t.Fatal(err)
				}
				checkDiff(t, all[o], all[n], files, rep)
				if o == n && rep.Changed != 0 {
					t.Errorf("a ruleset against itself: %d changes", rep.Changed)
				}
				changed += rep.Changed
			})
		}
	}
	if changed == 0 {
		t.Error("no pair of rulesets changed a frame")
	}
}

// TestDiffMemory: what a diff keeps does not grow with the capture: 200,000
// frames, every one of them changed, leave a report of one change and
// its three samples.
func TestDiffMemory(t *testing.T) {
	privtest.Require(t)
	const n = 200000
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = fixtures.UDP("192.0.2.1", "198.51.100.2", uint16(i), 53)
	}
	path := filepath.Join(t.TempDir(), "many.pcap")
	if err := WriteFrames(path, frames); err != nil {
		t.Fatal(err)
	}
	frames = nil
	pass, drop := &rules.Ruleset{Policy: rules.Pass}, &rules.Ruleset{Policy: rules.Drop}
	old, next := Side{"pass", mustInstance(t, pass), pass}, Side{"drop", mustInstance(t, drop), drop}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := Diff(old, next, []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if rep.Changed != n || rep.PassToDrop != n || len(rep.Rules) != 1 || len(rep.Rules[0].From[0].Samples) != DiffSamples {
		t.Fatalf("report %+v", rep)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap holds %d KB more after a diff of %d frames", grew>>10, n)
	}
	runtime.KeepAlive(rep)
}

// TestFlowText: one line per kind of frame, ports and addresses as
// operators write them.
func TestFlowText(t *testing.T) {
	gre := fixtures.UDP("10.1.2.3", "198.51.100.5", 1, 2)
	gre[14+9] = 47 // the checksum is not checked
	for _, tc := range []struct {
		frame []byte
		flow  string
		ports bool
	}{
		{fixtures.TCPSyn("192.0.2.1", "198.51.100.2", 1234, 22), "tcp 192.0.2.1:1234 > 198.51.100.2:22", true},
		{fixtures.UDP("2001:db8::1", "2001:db8::2", 53, 5353), "udp [2001:db8::1]:53 > [2001:db8::2]:5353", true},
		{fixtures.Echo("192.0.2.1", "192.0.2.2"), "icmp 192.0.2.1 > 192.0.2.2 type 8 code 0", false},
		{fixtures.ARP(), "arp", false},
		{gre, "proto 47 10.1.2.3 > 198.51.100.5", false},
		{make([]byte, 14), "ethertype 0x0000", false},
	} {
		p := model.Decode(tc.frame)
		s := newSample("x.pcap", 1, &p)
		if s.Flow != tc.flow || (s.Sport != nil) != tc.ports || (s.Dport != nil) != tc.ports {
			t.Errorf("flow %q, ports %v %v; want %q, ports %v", s.Flow, s.Sport, s.Dport, tc.flow, tc.ports)
		}
	}
}
