package replay

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// DiffSamples is how many frames a diff shows of each change.
const DiffSamples = 3

// The ways a frame's outcome can change between two rulesets.
const (
	PassToDrop = "pass_to_drop"
	DropToPass = "drop_to_pass"
	// Redecided: the same verdict, decided by another rule (or by the
	// policy instead of a rule, or the other way round).
	Redecided = "redecided"
)

// DiffReport is what a ruleset change would do to captured traffic: the
// frames whose verdict or deciding rule changes, grouped by the rule that
// decides them under the new ruleset. Skipped and truncated frames run
// under neither ruleset and count in no change; frames going out are
// learned from on both sides (Learned), and have no verdict to change.
type DiffReport struct {
	Old RulesetInfo `json:"old"`
	New RulesetInfo `json:"new"`
	// Frames is every frame read; Ran those run under both rulesets,
	// Unchanged + Changed of them.
	Frames    int `json:"frames"`
	Ran       int `json:"ran"`
	Unchanged int `json:"unchanged"`
	Changed   int `json:"changed"`
	Transitions
	Skipped   int `json:"skipped"`
	Truncated int `json:"truncated"`
	Learned   int `json:"learned"`
	// Rules are the new ruleset's deciders that take over frames, in its
	// evaluation order (rules, then the policy, neighbour discovery).
	Rules      []RuleChanges `json:"rules"`
	Verified   bool          `json:"verified"`
	Mismatches int           `json:"mismatches"`
	// FullTable counts the mismatches met once either model's connection
	// table had evicted a flow (see Report.FullTable).
	FullTable int `json:"full_table"`
	// Errors has one line per capture that could not be read to its end.
	Errors []string `json:"errors"`
}

// RulesetInfo names one side of a diff.
type RulesetInfo struct {
	Name   string `json:"name"` // the file, or what live state was used
	Policy string `json:"policy"`
	Rules  int    `json:"rules"`
}

// Transitions counts changed frames by kind of change.
type Transitions struct {
	PassToDrop int `json:"pass_to_drop"`
	DropToPass int `json:"drop_to_pass"`
	Redecided  int `json:"redecided"`
}

func (t *Transitions) add(change string, n int) {
	switch change {
	case PassToDrop:
		t.PassToDrop += n
	case DropToPass:
		t.DropToPass += n
	default:
		t.Redecided += n
	}
}

// RuleChanges are the changed frames one decider of the new ruleset
// takes, split by what decided them under the old one.
type RuleChanges struct {
	Rule   Decider `json:"rule"`
	Frames int     `json:"frames"`
	Transitions
	// From is in the old ruleset's evaluation order.
	From []Change `json:"from"`
}

// Change is the frames that move from one old decider to one new one.
type Change struct {
	Rule    Decider  `json:"rule"` // what decided them under the old ruleset
	Change  string   `json:"change"`
	Frames  int      `json:"frames"`
	Samples []Sample `json:"samples"` // the first DiffSamples of them
}

// Decider is what decides a frame under one ruleset: a rule, or the
// policy (reason "default"), neighbour discovery's pass ("neighbor") or a
// malformed frame's drop ("malformed"). Two rulesets number their rules
// apart, so a rule is known by its definition as well as its id: the same
// conditions and action in both are the same rule, whatever their ids and
// priorities.
type Decider struct {
	Reason   string `json:"reason"`
	Action   string `json:"action"`
	ID       uint32 `json:"id"`       // 0 unless a rule
	Priority uint32 `json:"priority"` // 0 unless a rule
	Match    string `json:"match"`    // "" unless a rule
}

// Same reports whether d and o are one decider in two rulesets.
func (d Decider) Same(o Decider) bool {
	return d.Reason == o.Reason && d.Action == o.Action && d.Match == o.Match
}

// String is "rule 3: drop proto tcp dport 22" (with the priority when it
// is not the default), "policy pass", "neighbor pass", "malformed drop".
func (d Decider) String() string {
	switch d.Reason {
	case "rule":
		if d.Priority != rules.DefaultPriority {
			return fmt.Sprintf("rule %d (priority %d): %s %s", d.ID, d.Priority, d.Action, d.Match)
		}
		return fmt.Sprintf("rule %d: %s %s", d.ID, d.Action, d.Match)
	case "default":
		return "policy " + d.Action
	}
	return d.Reason + " " + d.Action
}

// transition is the kind of change from a frame decided by old to one
// decided by next, when they are not the Same.
func transition(old, next Decider) string {
	switch {
	case old.Action == next.Action:
		return Redecided
	case next.Action == rules.Drop.String():
		return PassToDrop
	}
	return DropToPass
}
