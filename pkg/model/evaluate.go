package model

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The reference evaluator: a plain linear walk over the rules in
// evaluation order. It is deliberately the obvious algorithm, so that the
// datapath's bit-vector classifier (and classifier.Compile) can be checked
// against it.

// Matches reports whether every condition m sets holds for p, following
// docs/design.md "Rule semantics"; sets holds the sets m may name. Malformed
// frames match nothing (they never reach the rules).
func Matches(m *rules.Match, p *Packet, sets rules.Sets) bool {
	switch {
	case p.Malformed:
		return false
	case p.Kind == KindARP:
		return false // no rule field can name ARP
	case p.ND && !(m.Proto.Set && m.Proto.Num == rules.ProtoICMPv6):
		// ND is only for rules that ask for ICMPv6 explicitly, so a broad
		// rule (say "drop everything from fe80::/10") cannot cut a host off
		// its neighbours by accident.
		return false
	}
	// Conditions any frame can be asked about.
	if m.VLAN.Set && p.VLAN[0] != m.VLAN.ID {
		return false
	}
	if m.InnerVLAN.Set && p.VLAN[1] != m.InnerVLAN.ID {
		return false
	}
	if m.Length.Set && !inRange(m.Length, clampLen(p.Len)) {
		return false
	}
	if m.Iface != "" && m.Iface != p.Iface {
		return false
	}
	if !m.NeedsIP() {
		return true
	}
	if p.Kind != KindIPv4 && p.Kind != KindIPv6 {
		return false
	}
	return matchesIP(m, p) && inSets(m, p, sets)
}

func clampLen(n int) uint16 {
	if n > 65535 {
		return 65535
	}
	return uint16(n)
}

// matchesIP checks the IP conditions against an IP frame.
func matchesIP(m *rules.Match, p *Packet) bool {
	// Prefix.Contains is false across families (and for an IPv4-mapped
	// IPv6 prefix against an IPv4 address), as the contract wants.
	if m.Src.IsValid() && !m.Src.Contains(p.Src) {
		return false
	}
	if m.Dst.IsValid() && !m.Dst.Contains(p.Dst) {
		return false
	}
	if m.Family != rules.FamilyAny && m.Family != p.Family() {
		return false
	}
	if !m.Fragment.Accepts(p.Frag) {
		return false
	}
	if m.Proto.Set && (!p.HasProto || p.Proto != m.Proto.Num) {
		return false
	}
	if m.Sport.Set && !(p.HasPorts && inRange(m.Sport, p.Sport)) {
		return false
	}
	if m.Dport.Set && !(p.HasPorts && inRange(m.Dport, p.Dport)) {
		return false
	}
	if m.TCPFlags.Set && !(p.HasTCPFlags && m.TCPFlags.Matches(p.TCPFlags)) {
		return false
	}
	if m.ICMPType.Set && !(p.HasICMP && p.ICMPType == m.ICMPType.Val) {
		return false
	}
	if m.ICMPCode.Set && !(p.HasICMP && p.ICMPCode == m.ICMPCode.Val) {
		return false
	}
	if m.DSCP.Set && p.DSCP != m.DSCP.Val {
		return false
	}
	if m.TTL.Set && !inRange(m.TTL, uint16(p.TTL)) {
		return false
	}
	if m.CTState != 0 && !m.CTState.Accepts(rules.CTStates(p.CT)) {
		return false
	}
	return true
}

// inSets checks the set conditions of m: a set that does not exist
// contains nothing.
func inSets(m *rules.Match, p *Packet, sets rules.Sets) bool {
	in := func(name string, a netip.Addr) bool {
		s := sets[name]
		return s != nil && s.Contains(a)
	}
	return (m.SrcSet == "" || in(m.SrcSet, p.Src)) && (m.DstSet == "" || in(m.DstSet, p.Dst))
}

func inRange(r rules.Range, v uint16) bool {
	return r.Lo <= v && v <= r.Hi
}

// Evaluate decodes frame and gives the verdict rs assigns it, with an
// empty connection-tracking table (EvaluateTracked): what a program gives
// that nothing went out of. It sorts the rules on every call; to evaluate
// many frames, sort once and call EvaluateTracked or EvaluateDecoded.
func Evaluate(rs *rules.Ruleset, frame []byte) Verdict {
	p := Decode(frame)
	sorted := rules.Sorted(rs.Rules)
	v, _ := EvaluateTracked(rs, sorted, rules.HasCTState(sorted), &p, frame, nil, 0)
	return v
}

// EvaluateDecoded gives the verdict for an already decoded frame, whose
// connection-tracking state p.CT the caller has set (a ct-state rule
// never matches CTUntracked); EvaluateTracked finds it. sorted
// must be Sorted(rs.Rules); rs supplies the default policy. Order of
// checks: malformed frames are dropped; the first matching rule decides;
// unmatched ARP and ND pass; everything else gets the policy.
func EvaluateDecoded(rs *rules.Ruleset, sorted []rules.Rule, p *Packet) Verdict {
	if p.Malformed {
		return Verdict{Action: rules.Drop, Reason: ReasonMalformed}
	}
	for i := range sorted {
		if Matches(&sorted[i].Match, p, rs.Sets) {
			return Verdict{Action: sorted[i].Action, Reason: ReasonRule, RuleID: sorted[i].ID}
		}
	}
	if p.Kind == KindARP || p.ND {
		return Verdict{Action: rules.Pass, Reason: ReasonNeighbor}
	}
	return Verdict{Action: rs.Policy, Reason: ReasonDefault}
}
