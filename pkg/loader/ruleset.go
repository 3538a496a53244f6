package loader

import (
	"fmt"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Ruleset is the live ruleset, read from the pinned maps.
func (s *State) Ruleset() (*rules.Ruleset, error) {
	rs, _, err := readRuleset(&s.maps)
	return rs, err
}

// AddRule validates r, gives it the next id, and makes it live. The id is
// reserved in meta before the commit, so ids are never reused even when a
// commit fails.
func (s *State) AddRule(r rules.Rule) (uint32, error) {
	rs, slots, err := readRuleset(&s.maps)
	if err != nil {
		return 0, err
	}
	if len(rs.Rules) >= rules.MaxRules {
		return 0, fmt.Errorf("the ruleset already holds %d rules, the most xdpfw supports", rules.MaxRules)
	}
	var meta xdpfwMeta
	if err := s.maps.Meta.Lookup(uint32(0), &meta); err != nil {
		return 0, fmt.Errorf("read meta: %w", err)
	}
	r.ID = meta.NextId
	if err := r.Validate(); err != nil {
		return 0, err
	}
	meta.NextId++
	if err := s.maps.Meta.Put(uint32(0), &meta); err != nil {
		return 0, fmt.Errorf("write meta: %w", err)
	}
	slot := freeSlot(slots)
	// The slot is unused by the live generation, so zeroing it is unseen.
	if err := s.zeroRuleCounter(slot); err != nil {
		return 0, err
	}
	slots[r.ID] = slot
	rs.Rules = append(rs.Rules, r)
	if err := commit(&s.maps, rs, slots); err != nil {
		return 0, err
	}
	return r.ID, nil
}

// DeleteRules removes the rules with the given ids in one commit. If any
// id is unknown nothing changes.
func (s *State) DeleteRules(ids []uint32) error {
	rs, slots, err := readRuleset(&s.maps)
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
	return commit(&s.maps, rs, slots)
}

// SetPolicy changes the default action for frames no rule matches.
func (s *State) SetPolicy(a rules.Action) error {
	rs, slots, err := readRuleset(&s.maps)
	if err != nil {
		return err
	}
	rs.Policy = a
	return commit(&s.maps, rs, slots)
}

// freeSlot is the lowest counter slot no live rule uses.
func freeSlot(slots map[uint32]uint32) uint32 {
	used := make(map[uint32]bool, len(slots))
	for _, s := range slots {
		used[s] = true
	}
	for slot := uint32(0); ; slot++ {
		if !used[slot] {
			return slot
		}
	}
}
