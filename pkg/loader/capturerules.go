package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// A running capture selects rules by id, as the datapath knows a frame's
// deciding rule. A commit can give a rule a new id while keeping it (apply
// pairs it with a file rule but must renumber it: ids order rules of one
// priority); a capture still naming the old id would match nothing again.
// So a commit of new rules carries the capture's ids over with the rules:
// a rule is the same rule when its counter slot carries over (a new
// rule's slot is zeroed), and a rule gone leaves 0 in its place, which no
// frame's rule has. Each id keeps its place in capture_conf's list, so
// the capturing process, which knows what it named there, tells the
// operator (Capture.RuleChanges).
//
// The datapath reads the list while it is rewritten, so every value it
// may see matches only frames of the rules named (ids are never reused):
// before the switch the new ids are appended to the old, so frames of
// either generation are copied; after it the list is the new ids alone.
// A new id with no room left in the list goes in after the switch only
// (its frames of the moment between are not copied). A commit that dies
// between the two writes leaves both; the next commit carries the ids
// live then and leaves the others, which match nothing.

// captureRenames is a commit's rewrite of a running capture's rules:
// the list before the switch and after.
type captureRenames struct {
	before, after xdpfwCaptureConf
	transitional  bool // before differs from the list as it is
}

// renameCapture works out what t's commit of t.next does to the rules a
// running capture selects; nil when it changes none of them.
func (t *tx) renameCapture() (*captureRenames, error) {
	if !t.word.capturing() {
		return nil, nil
	}
	var conf xdpfwCaptureConf
	if err := t.m.CaptureConf.Lookup(uint32(0), &conf); err != nil {
		return nil, fmt.Errorf("read capture selection: %w", err)
	}
	if conf.Nrules == 0 {
		return nil, nil
	}
	if err := t.ruleDefs(); err != nil {
		return nil, err
	}
	n := min(conf.Nrules, layout.CaptureMaxRules)
	ids := carryCaptureRules(conf.Rules[:n], t.defs.slot[t.active], t.next.Rules, t.slots, t.zero)
	// A rule replace keeps the id with a new action: one the verdicts
	// leave out is a rule the capture would copy nothing of, as start
	// refuses it (CaptureFilter.selects), so it is gone for the capture.
	for i, id := range ids {
		if j := slices.IndexFunc(t.next.Rules, func(r rules.Rule) bool { return r.ID == id }); j >= 0 && !verdictsSelect(conf.Verdicts, t.next.Rules[j].Action) {
			ids[i] = 0
		}
	}
	r := &captureRenames{before: conf, after: conf}
	changed := false
	for i, id := range ids {
		if id == conf.Rules[i] {
			continue
		}
		changed = true
		r.after.Rules[i] = id
		if id != 0 && r.before.Nrules < layout.CaptureMaxRules {
			r.before.Rules[r.before.Nrules] = id
			r.before.Nrules++
		}
	}
	if !changed {
		return nil, nil
	}
	r.transitional = r.before.Nrules > conf.Nrules
	return r, nil
}

// verdictsSelect reports whether a capture of verdicts copies frames an
// action decides.
func verdictsSelect(verdicts uint32, a rules.Action) bool {
	if a == rules.Pass {
		return verdicts&layout.CaptureVerdictPass != 0
	}
	return verdicts&layout.CaptureVerdictDrop != 0
}

// carryCaptureRules gives each of ids (rules live before a commit, by
// liveSlots) its id in next: the same where next keeps it, the id of the
// rule of next in its counter slot where that slot is not zeroed (fresh:
// a new rule's), else 0 (the rule is gone). An id not live is left as it
// is: it matches nothing either way. nextSlots nil: slot = rank.
func carryCaptureRules(ids []uint32, liveSlots map[uint32]uint32, next []rules.Rule, nextSlots map[uint32]uint32, fresh []uint32) []uint32 {
	inNext := map[uint32]bool{}
	bySlot := map[uint32]uint32{}
	for rank, r := range rules.Sorted(next) {
		inNext[r.ID] = true
		slot := uint32(rank)
		if nextSlots != nil {
			slot = nextSlots[r.ID]
		}
		bySlot[slot] = r.ID
	}
	for _, slot := range fresh {
		delete(bySlot, slot)
	}
	out := make([]uint32, len(ids))
	for i, id := range ids {
		slot, live := liveSlots[id]
		switch {
		case !live || inNext[id]:
			out[i] = id
		default:
			out[i] = bySlot[slot] // 0 when none
		}
	}
	return out
}

// putCaptureRules writes a running capture's selection with its rules
// carried over: before the switch (only when both lists fit), or after.
// It never fails the change: a ruleset change is not refused, nor left
// half done past its switch, for a capture's sake. A failed write leaves
// the capture as it was before this commit: a failed write before the
// switch gives up the carrying (its rules renumbered then match nothing,
// as before captures followed them), one after it leaves both lists'
// ids selected, the old matching nothing.
func (t *tx) putCaptureRules(afterSwitch bool) {
	r := t.captureRules
	if r == nil || !afterSwitch && !r.transitional {
		return
	}
	conf := &r.before
	if afterSwitch {
		conf = &r.after
	}
	if err := t.m.CaptureConf.Put(uint32(0), conf); err != nil && !afterSwitch {
		t.captureRules = nil
	}
}

// RuleChange is a rule a running capture names that a change of the
// ruleset renumbered (Now its new id) or removed (Now 0: gone, or given
// by rule replace an action the capture's verdicts leave out).
type RuleChange struct{ Was, Now uint32 }

// RuleChanges reports the capture's rules that changes of the ruleset
// renumbered or removed since it last asked, and whether any rule it
// names is left. Like Running it reads the pinned selection without the
// state's lock; a selection that is no longer this capture's (ended,
// taken over) reports nothing, which Running tells.
func (c *Capture) RuleChanges() (changes []RuleChange, anyLeft bool, err error) {
	if len(c.rules) == 0 {
		return nil, true, nil
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(c.dir, xdpfwMapCaptureConf), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("capture: read its selection: %w", err)
	}
	defer m.Close()
	var conf xdpfwCaptureConf
	if err := m.Lookup(uint32(0), &conf); err != nil {
		return nil, false, fmt.Errorf("capture: read its selection: %w", err)
	}
	if conf.Owner != c.owner || int(conf.Nrules) < len(c.rules) {
		return nil, true, nil
	}
	for i, was := range c.rules {
		if now := conf.Rules[i]; now != was {
			changes = append(changes, RuleChange{Was: was, Now: now})
			c.rules[i] = now
		}
		anyLeft = anyLeft || c.rules[i] != 0
	}
	return changes, anyLeft, nil
}
