package rules

// The reference evaluator: a plain linear walk over the rules in
// evaluation order. It is deliberately the obvious algorithm, so that the
// datapath's bit-vector classifier (and Compile) can be checked against it.

// Matches reports whether every condition m sets holds for p, following
// docs/design.md "Rule semantics". Malformed frames match nothing (they
// never reach the rules).
func (m Match) Matches(p *Packet) bool {
	if p.Malformed {
		return false
	}
	switch {
	case p.Kind == KindARP:
		return false // no rule field can name ARP yet
	case p.Kind == KindOther:
		return m.IsAny() // non-IP: only rules without any condition
	case p.ND && !(m.Proto.Set && m.Proto.Num == ProtoICMPv6):
		// ND is only for rules that ask for ICMPv6 explicitly, so a broad
		// rule (say "drop everything from fe80::/10") cannot cut a host off
		// its neighbours by accident.
		return false
	}
	return m.matchesIP(p)
}

// IsAny reports whether m sets no condition at all.
func (m Match) IsAny() bool {
	return !m.Src.IsValid() && !m.Dst.IsValid() && !m.Proto.Set && !m.Sport.Set && !m.Dport.Set
}

// matchesIP checks the conditions against an IP frame.
func (m Match) matchesIP(p *Packet) bool {
	// Prefix.Contains is false across families (and for an IPv4-mapped
	// IPv6 prefix against an IPv4 address), as the contract wants.
	if m.Src.IsValid() && !m.Src.Contains(p.Src) {
		return false
	}
	if m.Dst.IsValid() && !m.Dst.Contains(p.Dst) {
		return false
	}
	if m.Proto.Set && (!p.HasProto || p.Proto != m.Proto.Num) {
		return false
	}
	if m.Sport.Set && !(p.HasPorts && m.Sport.contains(p.Sport)) {
		return false
	}
	if m.Dport.Set && !(p.HasPorts && m.Dport.contains(p.Dport)) {
		return false
	}
	return true
}

func (r PortRange) contains(port uint16) bool {
	return r.Lo <= port && port <= r.Hi
}

// Evaluate decodes frame and gives the verdict rs assigns it. It sorts the
// rules on every call; to evaluate many frames, sort once and call
// EvaluateDecoded.
func Evaluate(rs *Ruleset, frame []byte) Verdict {
	p := Decode(frame)
	return EvaluateDecoded(rs, Sorted(rs.Rules), &p)
}

// EvaluateDecoded gives the verdict for an already decoded frame. sorted
// must be Sorted(rs.Rules); rs supplies the default policy. Order of
// checks: malformed frames are dropped; the first matching rule decides;
// unmatched ARP and ND pass; everything else gets the policy.
func EvaluateDecoded(rs *Ruleset, sorted []Rule, p *Packet) Verdict {
	if p.Malformed {
		return Verdict{Action: Drop, Reason: ReasonMalformed}
	}
	for i := range sorted {
		if sorted[i].Match.Matches(p) {
			return Verdict{Action: sorted[i].Action, Reason: ReasonRule, RuleID: sorted[i].ID}
		}
	}
	if p.Kind == KindARP || p.ND {
		return Verdict{Action: Pass, Reason: ReasonNeighbor}
	}
	return Verdict{Action: rs.Policy, Reason: ReasonDefault}
}
