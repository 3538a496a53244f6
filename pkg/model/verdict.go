package model

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Reason says why a frame got its verdict.
type Reason uint8

const (
	ReasonRule      Reason = layout.ReasonRule      // a rule matched
	ReasonDefault   Reason = layout.ReasonDefault   // no rule matched: the default policy
	ReasonMalformed Reason = layout.ReasonMalformed // failed header validation: dropped
	ReasonNeighbor  Reason = layout.ReasonNeighbor  // ARP or IPv6 ND that no rule named: passed
)

// Verdict is the outcome for one frame.
type Verdict struct {
	Action rules.Action
	Reason Reason
	RuleID uint32 // 0 unless Reason == ReasonRule
}

// String gives the name used in counters and traces.
func (r Reason) String() string {
	switch r {
	case ReasonRule:
		return "rule"
	case ReasonDefault:
		return "default"
	case ReasonMalformed:
		return "malformed"
	case ReasonNeighbor:
		return "neighbor"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// String gives e.g. "drop (rule 3)", "pass (default)".
func (v Verdict) String() string {
	if v.Reason == ReasonRule {
		return fmt.Sprintf("%s (rule %d)", v.Action, v.RuleID)
	}
	return fmt.Sprintf("%s (%s)", v.Action, v.Reason)
}
