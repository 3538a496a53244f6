package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ApplyResult says what an Apply changed.
type ApplyResult struct {
	Unchanged int // rules kept, with their counters
	Added     int // rules new to the live ruleset
	Removed   int // live rules the file no longer has
	// What it changed beyond the rules: serve's reload logs it, as what
	// it undid of changes made meanwhile by other commands (set add,
	// policy). Sets made, removed, and kept with other elements; elements
	// added and removed, the made and removed sets' too.
	SetsCreated, SetsRemoved, SetsChanged int
	ElementsAdded, ElementsRemoved        int
	PolicyChanged, ConntrackChanged       bool
	// Committed is false when the file matched the live ruleset exactly
	// (same policy, rules, ids and counter slots) of a state that was
	// there before: nothing was written.
	Committed bool
}

// Apply makes rs the whole live ruleset in one commit. rs is a ruleset as
// read from a file: its rules in file order, their ids ignored. A rule
// whose definition (priority, conditions, action; not its comment)
// equals a live rule's keeps that rule's counters, and its id too when that keeps rules of
// equal priority in file order; other rules get new ids, so ids are never
// reused. See planApply.
func (s *State) Apply(rs *rules.Ruleset) (ApplyResult, error) {
	var res ApplyResult
	// A new conntrack table size is a change even when nothing else is:
	// the commit refuses it, changeGrowing resizes the table and runs
	// this again, which must commit rather than find nothing to do.
	resized := false
	err := s.change(func(t *tx) error {
		live, liveSlots, err := t.ruleset()
		if err != nil {
			return err
		}
		p, err := planApply(live.Rules, liveSlots, rs.Rules, t.meta.NextId)
		if err != nil {
			return err
		}
		next := &rules.Ruleset{Policy: rs.Policy, Rules: p.rules, Sets: rs.Sets, Conntrack: rs.Conntrack}
		// Compared with the live one in the form both are read in.
		next.Conntrack.MaxFlows = next.MaxFlowsFor(next.CTFlows())
		if err := next.Validate(); err != nil {
			return err
		}
		res = ApplyResult{Unchanged: len(rs.Rules) - len(p.fresh), Added: len(p.fresh), Removed: p.removed}
		if t.plan, err = t.planSets(rs.Sets); err != nil {
			return err
		}
		t.plan.count(&res, t.word)
		res.PolicyChanged, res.ConntrackChanged = rs.Policy != live.Policy, next.Conntrack != live.Conntrack
		if !ctSized(t.m, next) {
			resized = true
		}
		// A state this call created is committed even when the file is
		// what create wrote (no rules, policy pass): the apply made it
		// live, and "unchanged" said it had been there before.
		if !s.asCreated && !resized && p.fresh == nil && p.removed == 0 && p.sameIDs && !p.recommented && rs.Policy == live.Policy && next.Conntrack == live.Conntrack && !t.plan.changed() {
			// The same rules, unless an interface they name was made
			// again since they were written (ifaceresolve.go).
			stale, err := ifacesStale(t.m, t.active, live)
			if err != nil || !stale {
				return err
			}
		}
		// Reserve the new ids before anything is written, as AddRule
		// does: a failed or killed apply never lets a later one hand them
		// out again. Rules and sets switch in one write.
		t.meta.NextId = p.nextID
		t.zero = p.fresh
		t.setRules(next, p.slots)
		res.Committed = true
		return nil
	})
	if err != nil {
		return ApplyResult{}, err
	}
	return res, nil
}

// CheckApply refuses rs as ApplyFile would before writing anything,
// against the live state in dir (fitSets, and the interfaces: list:
// checkInterfaces): apply --check runs it, so a file the check passes
// does not then fail to apply for the live sets or a listed interface.
// The check needs no root and no state (nor a BPF filesystem: a CI job
// checks files): without root there is nothing to check against, and it
// says nothing; with no state pinned in dir it checks that the listed
// interfaces are here and Ethernet (checkLinks).
func CheckApply(dir string, rs *rules.Ruleset) error {
	if checkRoot() != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, xdpfwMapMeta)); err != nil {
		return checkLinks(rs)
	}
	s, err := Open(dir)
	if errors.Is(err, ErrNotAttached) {
		return checkLinks(rs)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.read(func(v *view) error { return v.fitSets(rs.Sets) }); err != nil {
		return err
	}
	return s.checkInterfaces(rs)
}

// applyPlan is how the rules of a file become live rules.
type applyPlan struct {
	rules   []rules.Rule      // the file's rules in file order, with their ids
	slots   map[uint32]uint32 // counter slot by id
	fresh   []uint32          // slots of new rules, to be zeroed first
	removed int               // live rules with no counterpart in the file
	sameIDs bool              // every file rule kept a live rule's id and slot
	nextID  uint32            // meta.next_id after the apply
	// recommented: a paired rule's comment differs from its live rule's,
	// so the definitions must be written even when nothing else changed.
	recommented bool
}

// planApply gives each file rule an id and a counter slot.
//
// Pairing: the n-th file rule with a given definition is paired with the
// n-th live rule (in evaluation order) with the same definition, and
// takes over its counter slot, so its counters survive. Definitions are
// compared in their stored encoding (encodeRule without id, slot and
// comment): exactly what the kernel state records about what a rule
// does. A comment is for people, so a rule whose comment alone changed
// is the same rule, keeps its counters and takes the new comment.
//
// Ids: equal priorities run in id order, and in a file they run in file
// order (replay --rules numbers a file's rules 1..N). So a paired rule
// keeps its live id only when that id is above the id given to the
// previous file rule of its priority; otherwise, and for unpaired rules,
// it gets a fresh id from nextID. A file that lists the live rules in
// evaluation order (what save prints) therefore keeps every id and slot.
//
// New rules take counter slots no live rule uses when there are enough,
// so zeroing them before the switch is unseen; otherwise slots of removed
// rules, whose counters may then be reset a moment before they vanish.
func planApply(live []rules.Rule, liveSlots map[uint32]uint32, file []rules.Rule, nextID uint32) (*applyPlan, error) {
	pending := map[string][]rules.Rule{} // live rules by definition, in evaluation order
	for _, r := range rules.Sorted(live) {
		k, err := definition(r)
		if err != nil {
			return nil, err
		}
		pending[k] = append(pending[k], r)
	}
	p := &applyPlan{slots: map[uint32]uint32{}, sameIDs: true}
	lastID := map[uint32]uint32{} // by priority: the id given to the last file rule
	paired := make([]bool, len(file))
	usedSlots := map[uint32]bool{}
	for i, r := range file {
		k, err := definition(r)
		if err != nil {
			return nil, fmt.Errorf("rule #%d: %w", i+1, err)
		}
		if q := pending[k]; len(q) > 0 {
			old := q[0]
			pending[k] = q[1:]
			paired[i] = true
			p.recommented = p.recommented || old.Comment != r.Comment || old.Log != r.Log
			if old.ID > lastID[r.Priority] {
				r.ID = old.ID
			} else {
				r.ID, nextID = nextID, nextID+1
				p.sameIDs = false
			}
			p.slots[r.ID] = liveSlots[old.ID]
			usedSlots[liveSlots[old.ID]] = true
		} else {
			r.ID, nextID = nextID, nextID+1
			p.sameIDs = false
		}
		lastID[r.Priority] = r.ID
		p.rules = append(p.rules, r)
	}
	for _, q := range pending {
		p.removed += len(q)
	}
	// Free slots: first those no live rule holds, then those of removed rules.
	liveUsed := map[uint32]bool{}
	for _, slot := range liveSlots {
		liveUsed[slot] = true
	}
	var free []uint32
	for _, preferUnused := range []bool{true, false} {
		for slot := uint32(0); slot < rules.MaxRules; slot++ {
			if !usedSlots[slot] && liveUsed[slot] != preferUnused {
				free = append(free, slot)
			}
		}
	}
	for i, r := range p.rules {
		if paired[i] {
			continue
		}
		if len(free) == 0 {
			return nil, fmt.Errorf("no free counter slot for rule #%d", i+1)
		}
		p.slots[r.ID], free = free[0], free[1:]
		p.fresh = append(p.fresh, p.slots[r.ID])
	}
	p.nextID = nextID
	return p, nil
}

// definition is a rule's stored encoding without its id, slot, comment
// and log flag.
func definition(r rules.Rule) (string, error) {
	r.ID, r.Comment, r.Log = 1, "", false
	b, err := encodeRule(r, 0)
	return string(b), err
}

// sameDefinition reports whether a and b do the same (definition).
func sameDefinition(a, b rules.Rule) (bool, error) {
	da, err := definition(a)
	if err != nil {
		return false, err
	}
	db, err := definition(b)
	return da == db, err
}
