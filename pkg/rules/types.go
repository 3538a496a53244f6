// Package rules is xdpfw's rule language: the types of rules, rulesets
// and named address sets, their parsing (command-line values and YAML
// ruleset files), validation and text forms. pkg/classifier compiles a
// ruleset for the datapath and pkg/model says what it must do with any
// frame; both import this package, never the other way. It is pure Go: no
// root, no BPF.
package rules

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Action is what happens to a frame. The values are the kernel's XDP
// return codes, so the datapath returns them unchanged.
type Action uint8

const (
	Drop Action = 1 // XDP_DROP
	Pass Action = 2 // XDP_PASS
)

// MaxRules is the most rules a ruleset may hold (the width of the
// datapath's rule bit vectors).
const MaxRules = layout.MaxRules

// MaxSets is the most sets a ruleset may hold (the datapath's set slots).
const MaxSets = layout.MaxSets

// DefaultPriority is given to rules added without --priority.
const DefaultPriority = 1000

// MaxPriority is the largest priority a rule may have.
const MaxPriority = 65535

// Ruleset is the whole configuration the datapath enforces.
type Ruleset struct {
	Policy Action // for frames no rule matches
	Rules  []Rule // any order; evaluation order is by (Priority, ID)
	Sets   Sets   // named address sets, referenced or not
	// Interfaces is a ruleset file's interfaces: list, the interfaces
	// apply attaches xdpfw to (and the only ones it leaves it on). nil
	// when the file has no such key: apply then leaves attachments alone.
	// The datapath and the reference model never look at it.
	Interfaces []Interface
	// Conntrack is the file's conntrack: section (timeouts); the zero
	// value keeps every default.
	Conntrack Conntrack
	// Warnings are what a ruleset file's parser took but rule add or
	// set add refuses, in file order.
	Warnings []Warning
}

// Warning is one thing a ruleset file's parser took but rule add or set
// add refuses (a file the previous release saved, or a state's save,
// must still apply), at the line of the rule or element it is about, as
// an error about it would be: "new.yaml:7: rule #2: ...".
type Warning struct {
	Kind WarningKind
	FileError
}

// WarningKind says what a Warning is about, for a log to name.
type WarningKind int

const (
	// WarnTCPFlags: a bare tcp-flags list ("syn,ack") that nftables
	// reads as any of the flags, taken as all of them.
	WarnTCPFlags WarningKind = iota
	// WarnCrafted: a rule (CheckFamilies) or a set's element
	// (MappedPrefix) that matches only crafted frames.
	WarnCrafted
)

// Rule is one ordered match-action entry. Lower Priority runs first; equal
// priorities run in ID order, so later additions come after.
type Rule struct {
	ID       uint32
	Priority uint32
	Match    Match
	Action   Action
	// Comment is free text for people (ValidComment). It is not part of
	// what the rule does: the datapath and the reference model never see
	// it, and apply pairs rules without it, so changing only a comment
	// keeps the rule's counters.
	Comment string
	// Log sends the frames the rule decides to serve's log (LogKey); like
	// the comment, apply pairs rules without it.
	Log bool
}

// Match holds the rule's conditions; a zero field matches anything. The
// conditions' text forms, flags and file keys are in conditions.go.
type Match struct {
	Src netip.Prefix // !IsValid() means any source
	Dst netip.Prefix
	// SrcSet and DstSet name a set the address must be in (the rule's
	// "@NAME"); an address condition is a prefix or a set, not both.
	SrcSet string
	DstSet string
	Proto  Proto
	Sport  PortRange
	Dport  PortRange

	Family    Family    // address family of the frame
	Fragment  FragMatch // which fragments
	TCPFlags  TCPFlags  // implies proto tcp
	ICMPType  Opt8      // ICMP or ICMPv6 type, by Proto
	ICMPCode  Opt8
	VLAN      VLAN // outer tag, or VLANNone for untagged frames
	InnerVLAN VLAN // inner tag of a double-tagged frame
	DSCP      Opt8
	TTL       Range // TTL (IPv4) or hop limit (IPv6), 0-255
	Length    Range // frame length in bytes, Ethernet header included
	Iface     string
	CTState   CTStates // connection-tracking states (ct.go)
}

// Proto is an optional IP protocol number (after the IPv6 extension chain).
type Proto struct {
	Set bool
	Num uint8
}

// Range is an optional inclusive range.
type Range struct {
	Set    bool
	Lo, Hi uint16
}

// PortRange is an optional inclusive port range.
type PortRange = Range

// Opt8 is an optional small number (DSCP, ICMP type or code).
type Opt8 struct {
	Set bool
	Val uint8
}

// Family is an optional address family.
type Family uint8

const (
	FamilyAny  Family = 0
	FamilyIPv4 Family = 4
	FamilyIPv6 Family = 6
)

// FragMatch says which fragments a rule matches.
type FragMatch uint8

const (
	FragAnyPacket FragMatch = iota // no condition
	FragNotFrag                    // only packets that are not fragments
	FragFirstOnly                  // only first fragments
	FragLaterOnly                  // only non-first fragments
	FragAnyFrag                    // first or non-first fragments
)

// FragClass is what a frame is, fragment-wise (the datapath's FRAG_*).
type FragClass uint8

const (
	FragNone  FragClass = iota // not a fragment (or an atomic fragment)
	FragFirst                  // offset 0, more fragments follow
	FragLater                  // offset > 0: no L4 header
)

// TCPFlags matches when flags & Mask == Value.
type TCPFlags struct {
	Set         bool
	Mask, Value uint8
}

// VLAN is an optional VLAN id; VLANNone matches the absence of the tag.
type VLAN struct {
	Set bool
	ID  uint16
}

// VLANNone is the VLAN "id" of a frame without that tag.
const VLANNone = layout.VlanNone

// NeedsIP reports whether m sets a condition only IP frames can meet.
func (m Match) NeedsIP() bool {
	return m.Src.IsValid() || m.Dst.IsValid() || m.SrcSet != "" || m.DstSet != "" || m.Proto.Set || m.Sport.Set || m.Dport.Set ||
		m.Family != FamilyAny || m.Fragment != FragAnyPacket || m.TCPFlags.Set ||
		m.ICMPType.Set || m.ICMPCode.Set || m.DSCP.Set || m.TTL.Set || m.CTState != 0
}

// IsAny reports whether m sets no condition at all.
func (m Match) IsAny() bool { return m == Match{} }
