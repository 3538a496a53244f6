package classifier

import (
	"slices"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Each value dimension's keys, and the set of keys each rule accepts, as
// the compiler's sweep wants them: sorted, disjoint inclusive intervals.

type interval struct{ lo, hi int }

// addKeys appends [lo, hi] to a sorted list, merging it with the last
// interval when they touch.
func addKeys(out []interval, lo, hi int) []interval {
	if n := len(out); n > 0 && out[n-1].hi+1 == lo {
		out[n-1].hi = hi
		return out
	}
	return append(out, interval{lo, hi})
}

// keyContext is what keys depend on beyond the rule itself.
type keyContext struct {
	pk               protoKeySets
	srcSets, dstSets []string // the sets the ruleset references, by bit
}

// of gives the keys of value dimension d that m accepts; nil when m sets
// no condition on d (it accepts every key, and "no value" too).
func (kc keyContext) of(d int, m *rules.Match) []interval {
	one := func(r rules.Range) []interval {
		if !r.Set {
			return nil
		}
		return []interval{{int(r.Lo), int(r.Hi)}}
	}
	switch d {
	case DimProto:
		if !constrained(m)[DimProto] {
			return nil
		}
		return kc.pk.of(m)
	case DimSport:
		return one(m.Sport)
	case DimDport:
		return one(m.Dport)
	case DimL4:
		return l4Keys(m)
	case DimVLAN:
		if m.VLAN.Set {
			return []interval{{int(m.VLAN.ID), int(m.VLAN.ID)}}
		}
	case DimInnerVLAN:
		if m.InnerVLAN.Set {
			return []interval{{int(m.InnerVLAN.ID), int(m.InnerVLAN.ID)}}
		}
	case DimDSCP:
		if m.DSCP.Set {
			return []interval{{int(m.DSCP.Val), int(m.DSCP.Val)}}
		}
	case DimTTL:
		return one(m.TTL)
	case DimLen:
		return one(m.Length)
	case DimSrcSet:
		return setKeys(kc.srcSets, m.SrcSet)
	case DimDstSet:
		return setKeys(kc.dstSets, m.DstSet)
	case DimCT:
		return ctKeys(m.CTState)
	}
	return nil
}

// ctKeys are the states (the key is a state's bit, 0 untracked) that a
// ct-state condition accepts.
func ctKeys(c rules.CTStates) []interval {
	if c == 0 {
		return nil
	}
	var out []interval
	for k := 0; k < ctKeyCount; k++ {
		if c&rules.CTStates(k) != 0 {
			out = addKeys(out, k, k)
		}
	}
	return out
}

// setKeys are the membership masks with the bit of set name: the keys
// whose j-th bit is set, in runs of 1<<j.
func setKeys(refs []string, name string) []interval {
	j := slices.Index(refs, name)
	if name == "" || j < 0 {
		return nil
	}
	var out []interval
	for lo := 1 << j; lo < SetKeys; lo += 2 << j {
		out = append(out, interval{lo, lo + 1<<j - 1})
	}
	return out
}

// l4Keys: TCP flags are the key itself (0-255); ICMP is type << 8 | code.
// The two share the key space safely because a flags rule is a TCP rule
// and an ICMP rule an ICMP one: the protocol dimension keeps them apart.
func l4Keys(m *rules.Match) []interval {
	var out []interval
	add := func(lo, hi int) { out = addKeys(out, lo, hi) }
	switch {
	case m.TCPFlags.Set:
		for v := 0; v < 256; v++ {
			if m.TCPFlags.Matches(uint8(v)) {
				add(v, v)
			}
		}
	case m.ICMPType.Set && m.ICMPCode.Set:
		k := int(m.ICMPType.Val)<<8 | int(m.ICMPCode.Val)
		add(k, k)
	case m.ICMPType.Set:
		t := int(m.ICMPType.Val) << 8
		add(t, t|0xff)
	case m.ICMPCode.Set:
		for t := 0; t < 256; t++ {
			k := t<<8 | int(m.ICMPCode.Val)
			add(k, k)
		}
	}
	return out
}

// protoSig is what the protocol dimension looks at in a rule; rules
// sharing one share a key set, computed once.
type protoSig struct {
	family rules.Family
	frag   rules.FragMatch
	proto  rules.Proto
}

type protoKeySets map[protoSig][]interval

func (pk protoKeySets) of(m *rules.Match) []interval {
	sig := protoSig{m.Family, m.Fragment, m.Proto}
	if ks, ok := pk[sig]; ok {
		return ks
	}
	var out []interval
	for k := 0; k < ProtoKeys; k++ {
		if protoKeyAccepts(k, &sig) {
			out = addKeys(out, k, k)
		}
	}
	pk[sig] = out
	return out
}

// protoKeyAccepts says whether a rule with signature s matches frames of
// protocol key k on the protocol dimension. Only called for rules with a
// condition here, so non-IP frames and ARP never match them.
func protoKeyAccepts(k int, s *protoSig) bool {
	if k >= PKeyNonIP {
		return false
	}
	group, slot := k/ProtoSpan, k%ProtoSpan
	frag, fam := rules.FragClass(group/2), rules.FamilyIPv4
	if group%2 == 1 {
		fam = rules.FamilyIPv6
	}
	if s.family != rules.FamilyAny && s.family != fam {
		return false
	}
	if !s.frag.Accepts(frag) {
		return false
	}
	if slot == ProtoSlotND {
		// ND only for rules naming ICMPv6 (see model.Matches).
		return s.proto.Set && s.proto.Num == rules.ProtoICMPv6 && fam == rules.FamilyIPv6
	}
	return !s.proto.Set || int(s.proto.Num) == slot
}
