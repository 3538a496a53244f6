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
	v, rs, slots, err := readLive(&s.maps)
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
	slot := freeSlots(slots, 1)[0]
	// The slot is unused by the live generation, so zeroing it is unseen.
	if err := s.zeroRuleCounter(slot); err != nil {
		return 0, err
	}
	slots[r.ID] = slot
	rs.Rules = append(rs.Rules, r)
	if err := v.commit(&s.maps, rs, slots); err != nil {
		return 0, err
	}
	return r.ID, nil
}

// DeleteRules removes the rules with the given ids in one commit. If any
// id is unknown nothing changes.
func (s *State) DeleteRules(ids []uint32) error {
	v, rs, slots, err := readLive(&s.maps)
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
	return v.commit(&s.maps, rs, slots)
}

// SetPolicy changes the default action for frames no rule matches.
func (s *State) SetPolicy(a rules.Action) error {
	v, rs, slots, err := readLive(&s.maps)
	if err != nil {
		return err
	}
	rs.Policy = a
	return v.commit(&s.maps, rs, slots)
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
	v, old, oldSlots, err := readLive(&s.maps)
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
		if err := s.zeroRuleCounter(free[i]); err != nil {
			return err
		}
		slots[id] = free[i]
	}
	var meta xdpfwMeta
	if err := s.maps.Meta.Lookup(uint32(0), &meta); err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	for _, r := range rs.Rules {
		meta.NextId = max(meta.NextId, r.ID+1)
	}
	if err := s.maps.Meta.Put(uint32(0), &meta); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return v.commit(&s.maps, rs, slots)
}
