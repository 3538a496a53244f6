package loader

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The one write path. Every change to the live state (rules, policy,
// apply, every set change, attachments) is a function of a tx run by
// State.change, which
//
//  1. holds the lock: the State holds an exclusive flock on the pin
//     directory from Open to Close, so processes take turns, and mu makes
//     the goroutines of this one take turns too;
//  2. reads the view: `active`, meta, both generations' configs and the
//     set catalogue (the rule definitions when first asked for);
//  3. repairs what a change cut short left, if the view shows any: a set
//     change (meta.sets_dirty) or an apply's or a direct load's marks on
//     set definitions (repairSets), then reads the view again; a commit
//     that died after its switch, the datapath's conntrack timeouts
//     (ct_conf) behind the live generation's (syncCTConf). A rule
//     commit cut short leaves the inactive generation marked (gfWriting),
//     and the next commit of rules clears that generation whole before it
//     writes it (view.stalePrefixes); nothing reads it before;
//  4. runs the change, which says what to make live (tx.setRules,
//     tx.plan, tx.meta, tx.zero); when the new rules' vectors or value
//     atoms do not fit their maps, grows them (grow.go) and runs the
//     change again;
//  5. commits it (tx.commit): the rules' inactive generation, then meta
//     (rule ids are reserved before anything is switched, and only by a
//     change that is not refused and run again), then the sets'
//     protocol, with one write of `active` switching both, then at once
//     the ruleset's conntrack timeouts (ct_conf, not switched: ctconf.go).
//     A capture starting or stopping is a change of its own: its
//     selection, then its bit of `active` (capture.go). A running
//     capture's rules follow the rules a commit renumbers
//     (capturerules.go).
//
// repairSets and every writer of `active` and meta run only from here.
// An Instance's private maps go through the same path (runChange).

// view is one read of the live state a change or a reader starts from.
// Under the lock nothing else writes the maps, so it stays true until the
// change writes them.
type view struct {
	m      *xdpfwMaps
	word   activeWord
	active uint32 // the rules' generation: word.rules()
	meta   xdpfwMeta
	conf   [numGens]xdpfwGenConfig
	all    map[string]xdpfwSetDef // every set definition, marked or not
	sets   map[string]xdpfwSetDef // the live sets (setLive)
	// Every stored rule definition of both generations, by rule id: read
	// on first use (ruleDefs), as set changes need none of them.
	defs storedDefs
	// The active generation's rules as ruleset decoded them, in id order,
	// with their ids and slots: a commit reuses their stored definitions
	// for the rules it keeps as they are, instead of encoding them again.
	live      []rules.Rule
	liveIDs   []uint32
	liveSlots []uint32
}

func readView(m *xdpfwMaps) (*view, error) {
	v := &view{m: m}
	var err error
	if v.word, err = readActive(m); err != nil {
		return nil, err
	}
	v.active = v.word.rules()
	if v.meta, err = readMeta(m); err != nil {
		return nil, err
	}
	for gen := range v.conf {
		if err := readGenConf(m.GenConf, uint32(gen), &v.conf[gen]); err != nil {
			return nil, fmt.Errorf("read generation config: %w", err)
		}
	}
	if v.all, err = readSetDefs(m); err != nil {
		return nil, err
	}
	v.sets = make(map[string]xdpfwSetDef, len(v.all))
	for name, def := range v.all {
		if setLive(def, v.word) {
			v.sets[name] = def
		}
	}
	return v, nil
}

// cutShort reports whether a set change or an apply was cut short: the
// sets need repairSets.
func (v *view) cutShort() bool {
	if v.meta.SetsDirty != 0 {
		return true
	}
	for _, def := range v.all {
		if def.Flags&(setDefPending|setDefLoading|setDefDropped) != 0 {
			return true
		}
	}
	return false
}

// tx is a change in the making: the view it starts from and what it
// makes live.
type tx struct {
	*view
	stop func(point string) // tests only: see State.stopAt

	meta     xdpfwMeta             // written first if the change alters it
	zero     []uint32              // counter slots to zero before the switch
	next     *rules.Ruleset        // the rules to make live; nil: as they are
	slots    map[uint32]uint32     // next's counter slots; nil: slot = rank
	plan     *setPlan              // set contents to change; nil: none
	progress func(done, total int) // told how far the set writing is
	capture  *captureChange        // a capture to start or stop; nil: none
	// The running capture's rules as next numbers them (capturerules.go).
	captureRules *captureRenames
	// anyIdleCT: a conntrack table of any size does for a ruleset that
	// reads no connection state (an instance's, Instance.Load: nothing
	// reads its table then, and a resize loads the programs again). A
	// state's is made idle, for its memory.
	anyIdleCT bool
}

// setRules makes rs, with its rules in the counter slots given (nil:
// slot = rank), the live ruleset at the commit.
func (t *tx) setRules(rs *rules.Ruleset, slots map[uint32]uint32) {
	t.next, t.slots = rs, slots
}

// change runs fn as a change of the live state (see above).
func (s *State) change(fn func(t *tx) error) error {
	if s.old != nil {
		return s.old // the previous layout: read, never changed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.changeGrowing(fn)
	if err == nil {
		s.asCreated = false
	}
	return err
}

// read runs fn on a view of the live state. Readers do not repair: a view
// shows the state as the repair will leave it (setLive, readElements take
// marked sets as the repair settles them, and elements are read for the
// live set generation, whose answers the repair keeps), which is also
// what packets see.
func (s *State) read(fn func(v *view) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := readView(&s.maps)
	if err != nil {
		return err
	}
	return fn(v)
}

// runChange is steps 2 to 5 for maps the caller holds the lock of, or
// owns (an Instance's).
func runChange(m *xdpfwMaps, stop func(point string), fn func(t *tx) error) error {
	v, err := readView(m)
	if err != nil {
		return err
	}
	if v.cutShort() {
		if err := repairSets(v); err != nil {
			return err
		}
		if v, err = readView(m); err != nil {
			return err
		}
	}
	if err := syncCTConf(v); err != nil {
		return err
	}
	t := &tx{view: v, stop: stop, meta: v.meta}
	defer func() {
		if t.plan != nil {
			t.plan.Close()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	return t.commit()
}

// commit is step 5.
func (t *tx) commit() error {
	if t.capture != nil {
		// Alone, so its switch of `active` changes one byte.
		if t.next != nil || t.plan != nil || len(t.zero) > 0 {
			return fmt.Errorf("a capture change comes alone")
		}
		if err := t.writeMeta(); err != nil {
			return err
		}
		return t.commitCapture(t.capture)
	}
	// Zeroed before the switch, as the new rules must start from zero;
	// a slot the live generation still counts in (a removed rule's,
	// given to a new one when no other is free) is zeroed again after it
	// (switched). With no new rules (ResetCounters) there is no switch:
	// live rules' counters are zeroed where they count.
	for _, slot := range t.zero {
		if err := zeroRuleCounter(t.m, slot); err != nil {
			return err
		}
	}
	if err := zeroRankCounts(t.m, &t.conf, t.zero, 0, 1); err != nil {
		return err
	}
	flip := uint32(0)
	if t.next != nil {
		if err := t.prepare(t.next, t.slots); err != nil {
			return err
		}
		// A table of another size is made once the new generation is
		// written, all of it checked and fitting, and before anything
		// live changes: changeGrowing resizes it and runs the change
		// again (ctresize.go).
		if !ctSized(t.m, t.next) && !(t.anyIdleCT && t.next.CTFlows() == layout.CtIdleEntries) {
			return &ctResize{flows: t.next.CTFlows()}
		}
		// A capture's selection that cannot be read is not followed
		// (putCaptureRules): the change goes on.
		t.captureRules, _ = t.renameCapture()
		flip = activeRules
	}
	if err := t.writeMeta(); err != nil {
		return err
	}
	// After meta: the new ids it lists are reserved, never another's.
	t.putCaptureRules(false)
	if t.plan != nil && (flip != 0 || t.plan.changed()) {
		return t.runSets(t.plan, flip)
	}
	if flip == 0 {
		return nil
	}
	t.reached("switch")
	if err := switchActive(t.m, t.word, flip); err != nil {
		return err
	}
	t.reached("switched")
	return t.switched(flip)
}

// switched is what follows at once a switch of flip that made new rules
// live: the rank counters the generation live until then kept counting
// in the slots given to new rules (a removed rule's frames, up to the
// switch) zeroed again, so they are not the new rules' (the next commit
// would fold them into the slots); ct_conf given the timeouts of the
// rules made live (ctconf.go), before a set change's elements settle,
// which may take long or fail; and a running capture's rules by the ids
// the switch gave them (capturerules.go), last, as nothing depends on it.
// The new generation's config records the timeouts, and the next change
// writes them if this one dies first; a death before the zeroing leaves
// the new rules those frames.
func (t *tx) switched(flip uint32) error {
	if flip&activeRules == 0 {
		return nil
	}
	if err := zeroRankCounts(t.m, &t.conf, t.zero, t.active); err != nil {
		return err
	}
	if err := writeConntrack(t.m, t.next.Conntrack); err != nil {
		return err
	}
	t.putCaptureRules(true)
	return nil
}

// writeMeta writes meta if the change changed it: after whatever may
// refuse the change and run it again (a map to grow or resize: the next
// rule id a refused change took is free again), and before anything
// live switches (a rule id live is never handed out again).
func (t *tx) writeMeta() error {
	if t.meta == t.view.meta {
		return nil
	}
	return writeMeta(t.m, &t.meta)
}

// reached is a named point of a change: "switch" just before the write
// of `active`, "switched" just after it, "capture:ring" once a starting
// capture's ring is in its slot. Tests end the change there.
func (t *tx) reached(point string) {
	if t.stop != nil {
		t.stop(point)
	}
}

// replaceWithSets makes rs live with its sets exactly as rs has them (a
// Instance's ruleset): sets are created, changed and removed, and the rules
// and sets switch together. Counter slots are the ranks.
func (t *tx) replaceWithSets(rs *rules.Ruleset) error {
	var err error
	if t.plan, err = t.planSets(rs.Sets); err != nil {
		return err
	}
	t.setRules(rs, nil)
	return nil
}
