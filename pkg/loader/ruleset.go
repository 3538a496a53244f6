package loader

import (
	"fmt"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Ruleset is the live ruleset, read from the pinned maps.
func (s *State) Ruleset() (rs *rules.Ruleset, err error) {
	err = s.read(func(v *view) error {
		rs, _, err = v.ruleset()
		return err
	})
	return rs, err
}

// AddRule validates r, gives it the next id, and makes it live. The id is
// reserved in meta before the commit, so ids are never reused even when a
// commit fails.
func (s *State) AddRule(r rules.Rule) (uint32, error) {
	err := s.change(func(t *tx) error {
		rs, slots, err := t.ruleset()
		if err != nil {
			return err
		}
		if len(rs.Rules) >= rules.MaxRules {
			return fmt.Errorf("the ruleset already holds %d rules, the most xdpfw supports", rules.MaxRules)
		}
		r.ID = t.meta.NextId
		if err := checkRule(r, rs.Sets); err != nil {
			return err
		}
		t.meta.NextId++
		slot := freeSlots(slots, 1)[0]
		t.zero = []uint32{slot}
		slots[r.ID] = slot
		rs.Rules = append(rs.Rules, r)
		t.setRules(rs, slots)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

// DeleteRules removes the rules with the given ids in one commit. If any
// id is unknown nothing changes.
func (s *State) DeleteRules(ids []uint32) error {
	return s.change(func(t *tx) error {
		rs, slots, err := t.ruleset()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := slots[id]; !ok {
				return fmt.Errorf("no rule with id %d (see: xdpfw rule list)", id)
			}
		}
		rs.Rules = slices.DeleteFunc(rs.Rules, func(r rules.Rule) bool { return slices.Contains(ids, r.ID) })
		for _, id := range ids {
			delete(slots, id)
		}
		t.setRules(rs, slots)
		return nil
	})
}

// ReplaceRule puts r in the place of the live rule id, in one commit: the
// rule keeps its id (and, with keepPriority, its priority), so no frame
// ever meets the ruleset without it, as a delete and an add would let
// them between their commits. A rule that does what it did (its comment
// or log alone changed, as apply pairs rules: definition) keeps its
// counters; another starts them from zero, as iptables -R and nft replace
// rule do: they counted another match. If id is unknown, or r is invalid,
// nothing changes.
func (s *State) ReplaceRule(id uint32, r rules.Rule, keepPriority bool) error {
	return s.change(func(t *tx) error {
		rs, slots, err := t.ruleset()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rs.Rules, func(r rules.Rule) bool { return r.ID == id })
		if i < 0 {
			return fmt.Errorf("no rule with id %d (see: xdpfw rule list)", id)
		}
		r.ID = id
		if keepPriority {
			r.Priority = rs.Rules[i].Priority
		}
		if err := checkRule(r, rs.Sets); err != nil {
			return err
		}
		if r == rs.Rules[i] {
			return nil
		}
		same, err := sameDefinition(r, rs.Rules[i])
		if err != nil {
			return err
		}
		if !same {
			// A slot no live rule holds, zeroed before the switch
			// unseen; with every slot held, the rule's own (its counts
			// end a moment before the switch).
			slot := slots[id]
			if len(rs.Rules) < rules.MaxRules {
				slot = freeSlots(slots, 1)[0]
			}
			t.zero = []uint32{slot}
			slots[id] = slot
		}
		rs.Rules[i] = r
		t.setRules(rs, slots)
		return nil
	})
}

// ResetCounters zeroes the packet and byte counters of the rules with the
// given ids, or of every rule when there are none, as nft reset rules and
// iptables -Z do: the rules stay as they are. A frame counted in the very
// instant of the reset may survive it (a CPU adding to its count as it is
// zeroed). If any id is unknown nothing is zeroed. It returns how many
// rules' counters it zeroed.
func (s *State) ResetCounters(ids []uint32) (n int, err error) {
	err = s.change(func(t *tx) error {
		_, slots, err := t.ruleset()
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			for _, slot := range slots {
				t.zero = append(t.zero, slot)
			}
			n = len(t.zero)
			return nil
		}
		for _, id := range ids {
			slot, ok := slots[id]
			if !ok {
				return fmt.Errorf("no rule with id %d (see: xdpfw rule list)", id)
			}
			if !slices.Contains(t.zero, slot) {
				t.zero = append(t.zero, slot)
			}
		}
		n = len(t.zero)
		return nil
	})
	return n, err
}

// SetPolicy changes the default action for frames no rule matches, and
// says what a drop policy then cuts (rules.DropWarnings).
func (s *State) SetPolicy(a rules.Action) (warnings []string, err error) {
	err = s.change(func(t *tx) error {
		rs, slots, err := t.ruleset()
		if err != nil {
			return err
		}
		rs.Policy = a
		t.setRules(rs, slots)
		warnings = rs.DropWarnings()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// checkRule is what a rule added to the live ruleset must pass: valid,
// its sets there and of its family.
func checkRule(r rules.Rule, sets rules.Sets) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := r.CheckSetRefs(sets); err != nil {
		return err
	}
	return r.CheckFamilies(sets)
}

// freeSlots returns the n lowest counter slots no live rule uses.
func freeSlots(slots map[uint32]uint32, n int) []uint32 {
	used := make(map[uint32]bool, len(slots))
	for _, s := range slots {
		used[s] = true
	}
	var out []uint32
	for slot := uint32(0); len(out) < n; slot++ {
		if !used[slot] {
			out = append(out, slot)
		}
	}
	return out
}

// Replace makes rs the whole live ruleset in one commit, keeping its rule
// ids. Rules whose id and definition are unchanged keep their counters.
func (s *State) Replace(rs *rules.Ruleset) error {
	if err := rs.Validate(); err != nil {
		return err
	}
	return s.change(func(t *tx) error {
		old, oldSlots, err := t.ruleset()
		if err != nil {
			return err
		}
		prev := make(map[uint32]rules.Rule, len(old.Rules))
		for _, r := range old.Rules {
			prev[r.ID] = r
		}
		slots := map[uint32]uint32{}
		var fresh []uint32
		for _, r := range rs.Rules {
			if p, ok := prev[r.ID]; ok && p == r {
				slots[r.ID] = oldSlots[r.ID]
			} else {
				fresh = append(fresh, r.ID)
			}
		}
		free := freeSlots(slots, len(fresh))
		for i, id := range fresh {
			slots[id] = free[i]
		}
		t.zero = free
		for _, r := range rs.Rules {
			t.meta.NextId = max(t.meta.NextId, r.ID+1)
		}
		t.setRules(rs, slots)
		return nil
	})
}
