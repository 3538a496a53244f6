package rules

import (
	"fmt"
	"net/netip"
)

// Validate checks one rule on its own: an action, a priority in range,
// prefixes in canonical (masked) form and of one family, well-formed port
// ranges, and ports only where a frame can have them. It does not check
// the ID, which only means something within a ruleset.
func (r Rule) Validate() error {
	if r.Action != Pass && r.Action != Drop {
		if r.Action == 0 {
			return fmt.Errorf("action not set (want pass or drop)")
		}
		return fmt.Errorf("invalid action %d (want pass or drop)", r.Action)
	}
	if r.Priority > MaxPriority {
		return fmt.Errorf("priority %d out of range (0-%d)", r.Priority, MaxPriority)
	}
	if err := ValidComment(r.Comment); err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	return r.Match.Validate()
}

// Validate checks the conditions of a match; see Rule.Validate.
func (m Match) Validate() error {
	for _, c := range []struct {
		field string
		p     netip.Prefix
		set   string
	}{{"src", m.Src, m.SrcSet}, {"dst", m.Dst, m.DstSet}} {
		if c.set == "" {
			continue
		}
		if c.p.IsValid() {
			return fmt.Errorf("%s is both the prefix %s and the set @%s", c.field, c.p, c.set)
		}
		if err := ValidSetName(c.set); err != nil {
			return fmt.Errorf("%s: %w", c.field, err)
		}
	}
	if err := validPrefix("src", m.Src); err != nil {
		return err
	}
	if err := validPrefix("dst", m.Dst); err != nil {
		return err
	}
	// One family: a frame has a single family, so a mixed rule could never
	// match and is certainly a mistake.
	if m.Src.IsValid() && m.Dst.IsValid() && m.Src.Addr().Is4() != m.Dst.Addr().Is4() {
		return fmt.Errorf("src %s and dst %s are of different address families", m.Src, m.Dst)
	}
	if err := validPorts("sport", m.Sport); err != nil {
		return err
	}
	if err := validPorts("dport", m.Dport); err != nil {
		return err
	}
	// Only TCP and UDP frames have ports, so ports with any other protocol
	// would silently match nothing. Worded by the keys, as the other
	// errors here: a file and the command line alike name them so (a
	// file's error named --sport and --proto).
	if (m.Sport.Set || m.Dport.Set) && m.Proto.Set && m.Proto.Num != ProtoTCP && m.Proto.Num != ProtoUDP {
		return fmt.Errorf("sport/dport need proto tcp or udp (got %s)", m.Proto)
	}
	return m.validateExtra()
}

// validateExtra refuses combinations of the richer conditions that could
// never match, which are mistakes rather than wishes.
func (m Match) validateExtra() error {
	if m.Family != FamilyAny && m.Family != FamilyIPv4 && m.Family != FamilyIPv6 {
		return fmt.Errorf("invalid family %d", m.Family)
	}
	if m.Fragment > FragAnyFrag {
		return fmt.Errorf("invalid fragment match %d", m.Fragment)
	}
	fam, err := m.impliedFamily()
	if err != nil {
		return err
	}
	if m.TCPFlags.Set && (!m.Proto.Set || m.Proto.Num != ProtoTCP) {
		return fmt.Errorf("tcp-flags need proto tcp (got %s)", protoOrAny(m.Proto))
	}
	if m.TCPFlags.Value&^m.TCPFlags.Mask != 0 {
		return fmt.Errorf("tcp-flags: value %#x has bits outside mask %#x", m.TCPFlags.Value, m.TCPFlags.Mask)
	}
	if m.ICMPType.Set || m.ICMPCode.Set {
		switch {
		case !m.Proto.Set || (m.Proto.Num != ProtoICMP && m.Proto.Num != ProtoICMPv6):
			return fmt.Errorf("icmp type and code need proto icmp or icmpv6 (got %s)", protoOrAny(m.Proto))
		case m.Proto.Num == ProtoICMP && fam == FamilyIPv6:
			return fmt.Errorf("icmp-type/icmp-code match IPv4 only (IPv6 uses icmpv6-type)")
		case m.Proto.Num == ProtoICMPv6 && fam == FamilyIPv4:
			return fmt.Errorf("icmpv6-type/icmpv6-code match IPv6 only (IPv4 uses icmp-type)")
		}
	}
	// A non-first fragment has no L4 header to match.
	if m.Fragment == FragLaterOnly && (m.Sport.Set || m.Dport.Set || m.TCPFlags.Set || m.ICMPType.Set || m.ICMPCode.Set) {
		return fmt.Errorf("fragment non-first never matches ports, tcp-flags or icmp type/code (later fragments carry no L4 header)")
	}
	if m.VLAN.Set && m.VLAN.ID > VLANNone {
		return fmt.Errorf("vlan %d out of range (0-4095 or untagged)", m.VLAN.ID)
	}
	if m.InnerVLAN.Set && m.InnerVLAN.ID > 4095 {
		return fmt.Errorf("inner-vlan %d out of range (0-4095)", m.InnerVLAN.ID)
	}
	if m.InnerVLAN.Set && m.VLAN.Set && m.VLAN.ID == VLANNone {
		return fmt.Errorf("inner-vlan with vlan untagged never matches")
	}
	if m.DSCP.Set && m.DSCP.Val > 63 {
		return fmt.Errorf("dscp %d out of range (0-63)", m.DSCP.Val)
	}
	if err := validRange("ttl", m.TTL, 255); err != nil {
		return err
	}
	if err := validRange("length", m.Length, 65535); err != nil {
		return err
	}
	if m.Iface != "" {
		if _, err := ParseIfaceName(m.Iface); err != nil {
			return err
		}
	}
	return nil
}

// impliedFamily is the one address family m can match, from its family
// condition and its prefixes (FamilyAny when they name none).
func (m Match) impliedFamily() (Family, error) {
	fam := m.Family
	for _, p := range []netip.Prefix{m.Src, m.Dst} {
		if !p.IsValid() {
			continue
		}
		pf := FamilyIPv6
		if p.Addr().Is4() {
			pf = FamilyIPv4
		}
		if fam != FamilyAny && fam != pf {
			return 0, fmt.Errorf("family %s conflicts with prefix %s", fam, p)
		}
		fam = pf
	}
	return fam, nil
}

// validSetRefs checks m's set references against the ruleset's sets: they
// exist, and a set of one family is not combined with a condition that
// needs the other.
func (m Match) validSetRefs(sets Sets) error {
	fam, err := m.impliedFamily()
	if err != nil {
		return err
	}

	for _, name := range []string{m.SrcSet, m.DstSet} {
		if name == "" {
			continue
		}
		s := sets[name]
		if s == nil {
			// A file's rules were checked against its own sets already
			// (fileParser.rule): this is a rule for the live sets.
			return fmt.Errorf("set @%s does not exist (create it with xdpfw set create %s)", name, name)
		}
		if s.Family == FamilyAny {
			continue
		}
		if fam != FamilyAny && fam != s.Family {
			return fmt.Errorf("set @%s is %s, but the rule matches %s only", name, s.Family, fam)
		}
		fam = s.Family
	}
	return nil
}

// CheckSetRefs checks a rule coming in against the sets it will live
// with, as Ruleset.Validate does, but alone: a rule add's error names no
// rule id, since the rule it would have been is not made.
func (r Rule) CheckSetRefs(sets Sets) error { return r.Match.validSetRefs(sets) }

// CheckFamilies refuses a rule whose protocol is the other family's
// ICMP: proto icmp on IPv6 (by its family, a prefix or a set) or icmpv6
// on IPv4, or a protocol that is an IPv6 extension header (extHeaders).
// Such a rule matches only crafted frames (ICMPv6 is a protocol of its
// own, 58, not ICMP's 1), and a drop rule that never matches opens the
// firewall silently. Checked where a rule is typed (rule add), not by
// Validate, which every commit runs: a ruleset stored before the check
// may hold such a rule (it matched nothing then as now), and its state
// must stay changeable. A file refuses only an ICMP type or code against
// a set of the other family, which the previous release refused too; the
// rest it takes, as that release saved them, with a warning at the
// rule's line (WarnCrafted).
func (r Rule) CheckFamilies(sets Sets) error { return r.checkFamilies(sets, true) }

// checkFamilies is CheckFamilies, the crafted-frames cases only if
// crafted.
func (r Rule) checkFamilies(sets Sets, crafted bool) error {
	m := r.Match
	if crafted {
		if err := mappedPrefix(m); err != nil {
			return err
		}
		if err := extHeaderProto(m.Proto); err != nil {
			return err
		}
	}
	if !m.Proto.Set {
		return nil
	}
	fam, own, other := FamilyIPv4, "IPv4's", "for IPv6, use proto icmpv6"
	switch m.Proto.Num {
	case ProtoICMP:
	case ProtoICMPv6:
		fam, own, other = FamilyIPv6, "IPv6's", "for IPv4, use proto icmp"
	default:
		return nil
	}
	typed := m.ICMPType.Set || m.ICMPCode.Set
	for _, name := range []string{m.SrcSet, m.DstSet} {
		s := sets[name]
		if name == "" || s == nil || s.Family == FamilyAny || s.Family == fam {
			continue
		}
		if typed {
			what := "icmp-type/icmp-code match IPv4 only"
			if fam == FamilyIPv6 {
				what = "icmpv6-type/icmpv6-code match IPv6 only"
			}
			return fmt.Errorf("set @%s is %s, but %s: the rule would never match", name, s.Family, what)
		}
		if !crafted {
			continue
		}
		return fmt.Errorf("set @%s is %s, but proto %s is %s: the rule would match only crafted frames (%s)", name, s.Family, m.Proto, own, other)
	}
	// A conflict of family and prefix is Validate's to say.
	if got, err := m.impliedFamily(); err == nil && crafted && got != FamilyAny && got != fam {
		return fmt.Errorf("the rule matches %s only, but proto %s is %s: it would match only crafted frames (%s)", got, m.Proto, own, other)
	}
	return nil
}

// extHeaders are the IPv6 extension headers only crafted frames name as
// a protocol: the chain is skipped to the protocol after them (as
// nftables' meta l4proto does), so an IPv6 packet has one of these as its
// protocol only when a later fragment's fragment header names it next,
// where RFC 8200 never puts them, and no IPv4 protocol has these numbers.
// Destination options (60) and AH (51) are left out: a later fragment
// names them legitimately, and 51 is IPv4's AH.
var extHeaders = map[uint8]struct{ name, hint string }{
	0:  {"hop-by-hop options header", "leave proto out to match every protocol"},
	43: {"routing header", "no condition matches one"},
	44: {"fragment header", "for fragments, use the fragment condition: first, non-first or any"},
}

// extHeaderProto refuses a protocol that is an IPv6 extension header
// (extHeaders): a drop rule on proto 44, meant for fragments, or on 0,
// iptables' "all", would never match and open the firewall silently.
func extHeaderProto(p Proto) error {
	if h, ok := extHeaders[p.Num]; ok && p.Set {
		return fmt.Errorf("proto %d is IPv6's %s, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (%s)", p.Num, h.name, h.hint)
	}
	return nil
}

// mappedPrefix refuses an IPv4-mapped prefix in m's addresses
// (MappedPrefix).
func mappedPrefix(m Match) error {
	for _, f := range [...]struct {
		key string
		p   netip.Prefix
	}{{"src", m.Src}, {"dst", m.Dst}} {
		if err := MappedPrefix(f.p); err != nil {
			return fmt.Errorf("%s %w: the rule would match only crafted IPv6 frames, never IPv4's (write %s)", f.key, err, Unmapped(f.p))
		}
	}
	return nil
}

// MappedPrefix refuses p when it is inside the IPv4-mapped range
// (::ffff:10.0.0.1): written for an IPv4 address, it matches IPv6 frames
// carrying that address, which only crafted frames do, never IPv4's (the
// datapath and the model keep the families apart), so a drop rule or a
// blocklist entry on it opens the firewall silently. The whole range
// (::ffff:0:0/96), or a prefix holding it, is left alone: dropping IPv6
// frames of mapped addresses is a rule of its own.
func MappedPrefix(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4In6() || p.Bits() <= 96 {
		return nil
	}
	return fmt.Errorf("%s is IPv4 %s written as IPv6 (IPv4-mapped)", p, Unmapped(p))
}

// MappedElement is MappedPrefix's refusal of a set element, saying what
// to write instead: set files refuse it and a ruleset file's elements:
// warn of it, in the same words.
func MappedElement(p netip.Prefix) error {
	if err := MappedPrefix(p); err != nil {
		return fmt.Errorf("%w: it would match only crafted IPv6 frames, never IPv4's (write %s)", err, Unmapped(p))
	}
	return nil
}

// Unmapped is the IPv4 prefix an IPv4-mapped one (MappedPrefix) stands
// for.
func Unmapped(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

func protoOrAny(p Proto) string {
	if !p.Set {
		return "any"
	}
	return p.String()
}

func validRange(field string, r Range, max uint16) error {
	if !r.Set {
		return nil
	}
	if r.Lo > r.Hi {
		return fmt.Errorf("%s range %d-%d: %d is above %d", field, r.Lo, r.Hi, r.Lo, r.Hi)
	}
	if r.Hi > max {
		return fmt.Errorf("%s %d out of range (0-%d)", field, r.Hi, max)
	}
	return nil
}

// validPrefix rejects a prefix the parser would not produce: one with host
// bits set, whose meaning (mask or typo?) is ambiguous.
func validPrefix(field string, p netip.Prefix) error {
	if !p.IsValid() {
		return nil
	}
	if m := p.Masked(); m != p {
		return fmt.Errorf("%s %s has host bits set (did you mean %s?)", field, p, m)
	}
	return nil
}

func validPorts(field string, r PortRange) error {
	if r.Set && r.Lo > r.Hi {
		return fmt.Errorf("%s range %d-%d: %d is above %d", field, r.Lo, r.Hi, r.Lo, r.Hi)
	}
	return nil
}

// Validate checks a whole ruleset: a policy, at most MaxRules rules and
// MaxSets sets, unique non-zero IDs (IDs break priority ties and name
// rules in counters), and every rule valid. A rule's error is prefixed "rule ID: ".
func (rs *Ruleset) Validate() error {
	if rs.Policy != Pass && rs.Policy != Drop {
		if rs.Policy == 0 {
			return fmt.Errorf("policy not set (want pass or drop)")
		}
		return fmt.Errorf("invalid policy %d (want pass or drop)", rs.Policy)
	}
	if len(rs.Rules) > MaxRules {
		return fmt.Errorf("%d rules, at most %d allowed", len(rs.Rules), MaxRules)
	}
	if len(rs.Sets) > MaxSets {
		return fmt.Errorf("%d sets, at most %d allowed", len(rs.Sets), MaxSets)
	}
	seen := make(map[uint32]bool, len(rs.Rules))
	for i, r := range rs.Rules {
		if r.ID == 0 {
			return fmt.Errorf("rule #%d (%s) has ID 0; IDs start at 1", i+1, r)
		}
		if seen[r.ID] {
			return fmt.Errorf("rule %d: duplicate ID", r.ID)
		}
		seen[r.ID] = true
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule %d: %w", r.ID, err)
		}
		if err := r.Match.validSetRefs(rs.Sets); err != nil {
			return fmt.Errorf("rule %d: %w", r.ID, err)
		}
	}
	for name, s := range rs.Sets {
		if s == nil || s.Name != name {
			return fmt.Errorf("set %q is filed under the wrong name", name)
		}
		if err := s.Validate(); err != nil {
			return err
		}
	}
	src, dst := ReferencedSets(rs.Rules)
	if len(src) > MaxSetRefs || len(dst) > MaxSetRefs {
		return fmt.Errorf("the rules reference %d sets as source and %d as destination; at most %d each", len(src), len(dst), MaxSetRefs)
	}
	return nil
}
