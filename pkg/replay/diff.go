package replay

import (
	"fmt"
	"sort"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Side is one of the two rulesets a diff compares: an instance enforcing
// it, and the ruleset itself, which names its rules (and is what the
// reference model evaluates).
type Side struct {
	Name     string // the file, or what live state this is
	Instance *loader.Instance
	Ruleset  *rules.Ruleset
}

// Diff runs every frame of files under old and under next, each on its
// own instance, and reports the frames whose verdict or deciding rule
// differs. Files stream one frame at a time and the report holds only
// counts and a few samples per change, so memory does not grow with the
// captures. Bad files, skipped and truncated frames, Options.Iface and
// Options.Verify (both sides against the reference model) are as in Run.
func Diff(old, next Side, files []string, opts Options) (*DiffReport, error) {
	iface, ifindex, err := arrival("replay", opts.Iface)
	if err != nil {
		return nil, err
	}
	o, n := newDiffSide(old), newDiffSide(next)
	var clock captureClock
	for _, s := range []*diffSide{o, n} {
		if err := s.inst.ForgetFlows(); err != nil {
			return nil, err
		}
	}
	rep := &DiffReport{Old: o.info, New: n.info, Rules: []RuleChanges{}, Verified: opts.Verify, Errors: []string{}}
	changes := map[[2]int]*Change{} // by new then old decider's position
	err = EachFrame(files, func(file string, f Frame) error {
		rep.Frames++
		switch {
		case f.Skip != "":
			rep.Skipped++
			return nil
		case f.Truncated():
			rep.Truncated++
			return nil
		}
		// Each side keeps its own table, as Run's: a frame going out is
		// learned by both and meets no ruleset.
		now := clock.at(f.Time)
		for _, s := range []*diffSide{o, n} {
			if err := s.inst.SetClock(uint64(now)); err != nil {
				return err
			}
		}
		out := goesOut(f, opts.Local)
		var ov, nv model.Verdict
		var skip string
		if out {
			skip, err = learnFrame(old.Instance, file, f)
			if err == nil && skip == "" {
				skip, err = learnFrame(next.Instance, file, f)
			}
		} else {
			ov, _, _, skip, err = runFrame(old.Instance, file, f, ifindex)
			if err == nil && skip == "" {
				nv, _, _, skip, err = runFrame(next.Instance, file, f, ifindex)
			}
		}
		switch {
		case err != nil:
			return err
		case skip != "":
			rep.Skipped++
			return nil
		case out:
			rep.Learned++
			if opts.Verify {
				o.learn(f.Data, now)
				n.learn(f.Data, now)
			}
			return nil
		}
		return rep.count(changes, o, n, ov, nv, file, f, iface, now)
	}, func(err error) { rep.Errors = append(rep.Errors, err.Error()) })
	if err != nil {
		return nil, err
	}
	rep.group(changes, o, n)
	return rep, nil
}

// count adds one frame that ran under both rulesets as ov and nv.
func (rep *DiffReport) count(changes map[[2]int]*Change, o, n *diffSide, ov, nv model.Verdict, file string, f Frame, iface string, now time.Duration) error {
	rep.Ran++
	oi, err := o.position(ov)
	if err != nil {
		return fmt.Errorf("%s frame %d: old ruleset: %w", file, f.Index, err)
	}
	ni, err := n.position(nv)
	if err != nil {
		return fmt.Errorf("%s frame %d: new ruleset: %w", file, f.Index, err)
	}
	var p *model.Packet
	if rep.Verified {
		d := model.Decode(f.Data)
		d.Iface, p = iface, &d
		if o.evaluate(p, f.Data, now) != ov || n.evaluate(p, f.Data, now) != nv {
			rep.Mismatches++
			if o.tracker.Evictions > 0 || n.tracker.Evictions > 0 {
				rep.FullTable++
			}
		}
	}
	od, nd := o.deciders[oi], n.deciders[ni]
	if od.Same(nd) {
		rep.Unchanged++
		return nil
	}
	key := [2]int{ni, oi}
	c := changes[key]
	if c == nil {
		c = &Change{Rule: od, Change: transition(od, nd), Samples: []Sample{}}
		changes[key] = c
	}
	c.Frames++
	if len(c.Samples) < DiffSamples {
		if p == nil {
			d := model.Decode(f.Data)
			p = &d
		}
		c.Samples = append(c.Samples, newSample(file, f.Index, p))
	}
	rep.Changed++
	rep.Transitions.add(c.Change, 1)
	return nil
}

// group turns the changes into the report's per-rule list: new deciders
// in the new ruleset's order, each one's old deciders in the old one's.
func (rep *DiffReport) group(changes map[[2]int]*Change, o, n *diffSide) {
	keys := make([][2]int, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for i, k := range keys {
		if i == 0 || keys[i-1][0] != k[0] {
			rep.Rules = append(rep.Rules, RuleChanges{Rule: n.deciders[k[0]], From: []Change{}})
		}
		rc := &rep.Rules[len(rep.Rules)-1]
		c := changes[k]
		rc.From = append(rc.From, *c)
		rc.Frames += c.Frames
		rc.Transitions.add(c.Change, c.Frames)
	}
}

// diffSide is a Side with its deciders laid out once: each rule in
// evaluation order, then the policy, neighbour discovery and malformed.
type diffSide struct {
	inst     *loader.Instance
	rs       *rules.Ruleset
	sorted   []rules.Rule
	usesCT   bool
	tracker  *model.Tracker // the model's table, in verify mode
	byID     map[uint32]int
	deciders []Decider
	info     RulesetInfo
}

func newDiffSide(s Side) *diffSide {
	d := &diffSide{inst: s.Instance, rs: s.Ruleset, sorted: rules.Sorted(s.Ruleset.Rules), byID: map[uint32]int{},
		tracker: model.NewTracker(model.CTConfigOf(s.Ruleset))}
	d.usesCT = rules.HasCTState(d.sorted)
	for i, r := range d.sorted {
		d.byID[r.ID] = i
		d.deciders = append(d.deciders, Decider{Reason: model.ReasonRule.String(), Action: r.Action.String(), ID: r.ID, Priority: r.Priority, Match: r.Match.String()})
	}
	d.deciders = append(d.deciders,
		Decider{Reason: model.ReasonDefault.String(), Action: s.Ruleset.Policy.String()},
		Decider{Reason: model.ReasonNeighbor.String(), Action: rules.Pass.String()},
		Decider{Reason: model.ReasonMalformed.String(), Action: rules.Drop.String()})
	d.info = RulesetInfo{Name: s.Name, Policy: s.Ruleset.Policy.String(), Rules: len(s.Ruleset.Rules)}
	return d
}

// position is where v's decider is in deciders.
func (d *diffSide) position(v model.Verdict) (int, error) {
	switch v.Reason {
	case model.ReasonRule:
		if i, ok := d.byID[v.RuleID]; ok {
			return i, nil
		}
		return 0, fmt.Errorf("the program names rule %d, which the ruleset does not have", v.RuleID)
	case model.ReasonDefault:
		return len(d.sorted), nil
	case model.ReasonNeighbor:
		return len(d.sorted) + 1, nil
	case model.ReasonMalformed:
		return len(d.sorted) + 2, nil
	}
	return 0, fmt.Errorf("the program gave an unknown reason %s", v.Reason)
}

// evaluate is the model's verdict for p, a packet of frame coming in at
// now, placed against the side's table.
func (d *diffSide) evaluate(p *model.Packet, frame []byte, now time.Duration) model.Verdict {
	v, _ := model.EvaluateTracked(d.rs, d.sorted, d.usesCT, p, frame, d.tracker, now)
	return v
}

// learn is the model's egress for frame going out at now.
func (d *diffSide) learn(frame []byte, now time.Duration) {
	p := model.Decode(frame)
	d.tracker.Egress(&p, frame, now)
}
