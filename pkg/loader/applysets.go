package loader

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// setPlan makes the live sets exactly a ruleset's: sets it lacks are
// created (pending until the switch), sets whose elements differ get a
// delta, and sets it does not name are removed after the switch.
type setPlan struct {
	deltas  []*setDelta
	created []string
	removed map[string]xdpfwSetDef
}

func (p *setPlan) Close() {
	for _, d := range p.deltas {
		d.h.Close()
	}
}

// changed reports whether the plan changes anything.
func (p *setPlan) changed() bool {
	if len(p.created) > 0 || len(p.removed) > 0 {
		return true
	}
	for _, d := range p.deltas {
		if len(d.add)+len(d.del) > 0 {
			return true
		}
	}
	return false
}

// count adds to res what the plan changes in the sets; act is the
// active word the plan was made against (the removed sets' elements
// are counted in its generation).
func (p *setPlan) count(res *ApplyResult, act activeWord) {
	res.SetsCreated, res.SetsRemoved = len(p.created), len(p.removed)
	for _, d := range p.deltas {
		res.ElementsAdded += len(d.add)
		res.ElementsRemoved += len(d.del)
		if len(d.add)+len(d.del) > 0 && !slices.Contains(p.created, d.name) {
			res.SetsChanged++
		}
	}
	for _, def := range p.removed {
		res.ElementsRemoved += int(def.Count[act.sets()])
	}
}

// planSets compares want with the live sets and creates the missing ones,
// marked pending for the value `active` will hold after the switch (the
// rules' generation always switches with them); the sets want lacks are
// marked dropped for that value (setLive). A set that exists with another
// family is refused: rules may rely on its family.
func (t *tx) planSets(want rules.Sets) (*setPlan, error) {
	m, defs, act := t.m, t.sets, t.word
	p := &setPlan{removed: map[string]xdpfwSetDef{}}
	for name, def := range defs {
		if want[name] == nil {
			p.removed[name] = def
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	target := act ^ activeRules
	if err := t.fitSets(want); err != nil {
		return nil, err
	}
	for _, name := range names {
		set, def := want[name], defs[name]
		if _, ok := defs[name]; !ok {
			continue
		}
		h, err := openSetMaps(m, def.Slot)
		if err != nil {
			p.Close()
			return nil, err
		}
		// In place even when no live rule uses the set: the switch must
		// be what makes its new elements live, for save as for the new
		// rules (setchange.go).
		d := &setDelta{name: name, def: def, h: h}
		p.deltas = append(p.deltas, d)
		var old []netip.Prefix
		if def.Count[act.sets()] > 0 {
			if old, err = h.elements(act.sets()); err != nil {
				p.Close()
				return nil, err
			}
		}
		d.diff(old, set.Prefixes)
		if len(d.add)+len(d.del) > 0 {
			target = act ^ activeRules ^ activeSets
		}
	}
	for _, name := range names {
		if _, ok := defs[name]; ok {
			continue
		}
		set := want[name]
		h, def, err := createSet(m, name, set.Family, setDefPending|uint32(target.gens())<<8)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.created = append(p.created, name)
		p.deltas = append(p.deltas, &setDelta{name: name, def: def, h: h, direct: true, add: set.Prefixes})
	}
	for name, def := range p.removed {
		def.Flags = setDefDropped | uint32(target.gens())<<8
		if err := putSetDef(m, name, &def); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// fitSets refuses want, before anything is written, when it cannot
// replace the live sets: a live set it gives another family (rules may
// rely on its family), or more sets than the slots hold beside the live
// ones. planSets runs it, and so does apply --check (CheckApply), so a
// file the check passes does not fail to apply for these.
func (v *view) fitSets(want rules.Sets) error {
	names := slices.Sorted(maps.Keys(want))
	fresh := 0
	for _, name := range names {
		def, ok := v.sets[name]
		if !ok {
			fresh++
			continue
		}
		if set := want[name]; rules.Family(def.Family) != set.Family {
			return v.familyChanged(name, rules.Family(def.Family), set.Family)
		}
	}
	// The sets the file adds take slots of their own before the switch,
	// and the live ones keep theirs until after it: packets of the live
	// rules look their sets up by slot until then, and a failed apply
	// leaves them whole.
	if fresh > 0 && len(v.all)+fresh > maxSets {
		return fmt.Errorf("this apply needs %d set slots while the live %d stay until the switch: at most %d in all (first drop the live sets this file does not keep: an apply without them, or set destroy)",
			fresh, len(v.all), maxSets)
	}
	return nil
}

// familyChanged is the refusal of a file that gives the live set name
// the family want, naming the way on: a set's family stays while it
// lives under its name (the rules compiled against it may rely on it,
// and its definition, keyed by name, cannot stand for two sets while
// the live rules still look the old one up), and set destroy refuses a
// set live rules use. A set under another name is a new set, which an
// apply makes and switches its rules to in one commit, removing the
// old one after: the operator's way to change a used set's family
// without a moment when its rules are gone (serve's file too).
func (v *view) familyChanged(name string, live, want rules.Family) error {
	what := fmt.Sprintf("set %s is %s, the ruleset makes it %s: a set keeps its family under its name",
		name, rules.SetFamilyString(live), rules.SetFamilyString(want))
	rs, _, err := v.ruleset()
	if err != nil {
		return fmt.Errorf("%s (%w)", what, err)
	}
	if ids := referencing(rs, name); len(ids) > 0 {
		return fmt.Errorf("%s, and it is used by live rule %s: give the set another name in the file and apply it (the rules move to the new set in the same commit, and %s goes), or delete those rules and run xdpfw set destroy %s first",
			what, idList(ids), name, name)
	}
	return fmt.Errorf("%s, and no live rule uses it: run xdpfw set destroy %s, then apply again (the apply makes it anew)", what, name)
}

// runSets writes the plan's deltas and switches (flip: activeRules when
// the rules' generation switches with the sets), then settles the new
// sets and removes the unnamed ones.
func (t *tx) runSets(p *setPlan, flip uint32) error {
	m := t.m
	if err := t.changeSets(p.deltas, flip); err != nil {
		return err
	}
	for _, d := range p.deltas {
		if d.def.Flags&setDefPending != 0 {
			d.def.Flags = 0
			if err := putSetDef(m, d.name, &d.def); err != nil {
				return err
			}
		}
	}
	// Packets that started before the switch may still use them.
	if len(p.removed) > 0 {
		if err := waitForPackets(m, slices.Collect(maps.Values(p.removed))[0].Slot); err != nil {
			return err
		}
	}
	for name, def := range p.removed {
		if err := removeSet(m, name, def); err != nil {
			return err
		}
	}
	return nil
}
