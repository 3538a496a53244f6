// Package rules is xdpfw's rule language: the types, their parsing and
// validation, the compiler that turns a ruleset into classifier tables, and
// the reference model that says what the datapath must do with any frame.
// It is pure Go: no root, no BPF.
package rules

import "net/netip"

// Action is what happens to a frame. The values are the kernel's XDP
// return codes, so the datapath returns them unchanged.
type Action uint8

const (
	Drop Action = 1 // XDP_DROP
	Pass Action = 2 // XDP_PASS
)

// MaxRules is the most rules a ruleset may hold (the width of the
// datapath's rule bit vectors).
const MaxRules = 4096

// DefaultPriority is given to rules added without --priority.
const DefaultPriority = 1000

// MaxPriority is the largest priority a rule may have.
const MaxPriority = 65535

// Ruleset is the whole configuration the datapath enforces.
type Ruleset struct {
	Policy Action // for frames no rule matches
	Rules  []Rule // any order; evaluation order is by (Priority, ID)
}

// Rule is one ordered match-action entry. Lower Priority runs first; equal
// priorities run in ID order, so later additions come after.
type Rule struct {
	ID       uint32
	Priority uint32
	Match    Match
	Action   Action
}

// Match holds the rule's conditions; a zero field matches anything.
type Match struct {
	Src   netip.Prefix // !IsValid() means any source
	Dst   netip.Prefix
	Proto Proto
	Sport PortRange
	Dport PortRange
}

// Proto is an optional IP protocol number (after the IPv6 extension chain).
type Proto struct {
	Set bool
	Num uint8
}

// PortRange is an optional inclusive port range.
type PortRange struct {
	Set    bool
	Lo, Hi uint16
}

// Reason says why a frame got its verdict.
type Reason uint8

const (
	ReasonRule      Reason = 1 // a rule matched
	ReasonDefault   Reason = 2 // no rule matched: the default policy
	ReasonMalformed Reason = 3 // failed header validation: dropped
	ReasonNeighbor  Reason = 4 // ARP or IPv6 ND that no rule named: passed
)

// Verdict is the outcome for one frame.
type Verdict struct {
	Action Action
	Reason Reason
	RuleID uint32 // 0 unless Reason == ReasonRule
}
