package rulegen

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Edges gives frames built from each rule of rs: one that meets every
// condition of the rule, then one per edge of each condition with the
// rest left meeting the rule, so each boundary is tested on its own:
// the first and last address of a prefix and the addresses just outside,
// both ends of a range and the values beyond them, every TCP flag of the
// mask flipped, neighbouring ICMP types and codes, VLAN ids and their
// absence, each fragment class and both families.
func Edges(rs *rules.Ruleset) []Frame {
	var out []Frame
	for _, r := range rs.Rules {
		out = append(out, ruleEdges(&r.Match)...)
	}
	return out
}

func ruleEdges(m *rules.Match) []Frame {
	base := meeting(m)
	out := []Frame{base}
	vary := func(change func(f *Frame)) {
		f := base
		f.VLANs = append([]uint16(nil), base.VLANs...)
		change(&f)
		out = append(out, f)
	}
	for _, a := range PrefixEdges(m.Src) {
		vary(func(f *Frame) { f.Src = a })
	}
	for _, a := range PrefixEdges(m.Dst) {
		vary(func(f *Frame) { f.Dst = a })
	}
	for _, v := range rangeEdges(m.Sport, 65535) {
		vary(func(f *Frame) { f.Sport = v })
	}
	for _, v := range rangeEdges(m.Dport, 65535) {
		vary(func(f *Frame) { f.Dport = v })
	}
	for _, v := range rangeEdges(m.TTL, 255) {
		vary(func(f *Frame) { f.TTL = uint8(v) })
	}
	for _, v := range rangeEdges(m.Length, 9000) {
		vary(func(f *Frame) { f.Len = int(v) })
	}
	if m.TCPFlags.Set {
		for bit := 0; bit < 8; bit++ {
			vary(func(f *Frame) { f.TCPFlags ^= 1 << bit })
		}
	}
	if m.ICMPType.Set || m.ICMPCode.Set {
		vary(func(f *Frame) { f.ICMPType++ })
		vary(func(f *Frame) { f.ICMPType-- })
		vary(func(f *Frame) { f.ICMPCode++ })
	}
	if m.DSCP.Set {
		vary(func(f *Frame) { f.DSCP = (f.DSCP + 1) & 63 })
	}
	if m.VLAN.Set || m.InnerVLAN.Set {
		vary(func(f *Frame) { f.VLANs = nil })
		vary(func(f *Frame) { f.VLANs = []uint16{100} })
		vary(func(f *Frame) { f.VLANs = []uint16{1, 4095} })
		if len(base.VLANs) > 0 {
			vary(func(f *Frame) { f.VLANs[0] = (f.VLANs[0] + 1) & 0xfff })
		}
	}
	for _, c := range []rules.FragClass{rules.FragNone, rules.FragFirst, rules.FragLater} {
		if c != base.Frag {
			vary(func(f *Frame) { f.Frag = c })
		}
	}
	if m.Proto.Set {
		vary(func(f *Frame) { f.Proto = rules.ProtoUDP + rules.ProtoTCP - f.Proto%32 })
	}
	// The other family, same everything else: rules keep families apart.
	vary(func(f *Frame) {
		if f.Src.Is4() {
			f.Src, f.Dst = netip.MustParseAddr("2001:db8:1::5"), netip.MustParseAddr("2001:db8::1")
		} else {
			f.Src, f.Dst = netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
		}
	})
	vary(func(f *Frame) { f.Src, f.Dst = netip.Addr{}, netip.Addr{}; f.EtherType = 0x88cc })
	return out
}

// meeting is a frame that meets every condition of m (when one exists).
func meeting(m *rules.Match) Frame {
	f := Frame{TTL: 64, Len: 60, Proto: rules.ProtoTCP, Sport: 40000, Dport: 80, TCPFlags: 0x10}
	v6 := m.Family == rules.FamilyIPv6 || (m.Src.IsValid() && m.Src.Addr().Is6()) ||
		(m.Dst.IsValid() && m.Dst.Addr().Is6()) || (m.Proto.Set && m.Proto.Num == rules.ProtoICMPv6)
	f.Src, f.Dst = netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9")
	if v6 {
		f.Src, f.Dst = netip.MustParseAddr("2001:db8:9::7"), netip.MustParseAddr("2001:db8:9::9")
	}
	if m.Src.IsValid() {
		f.Src = m.Src.Addr()
	}
	if m.Dst.IsValid() {
		f.Dst = m.Dst.Addr()
	}
	if m.Proto.Set {
		f.Proto = m.Proto.Num
	}
	if m.Sport.Set {
		f.Sport = m.Sport.Lo
	}
	if m.Dport.Set {
		f.Dport = m.Dport.Lo
	}
	if m.TCPFlags.Set {
		f.TCPFlags = m.TCPFlags.Value
	}
	f.ICMPType, f.ICMPCode = m.ICMPType.Val, m.ICMPCode.Val
	switch m.Fragment {
	case rules.FragFirstOnly, rules.FragAnyFrag:
		f.Frag = rules.FragFirst
	case rules.FragLaterOnly:
		f.Frag = rules.FragLater
	}
	if m.VLAN.Set && m.VLAN.ID != rules.VLANNone {
		f.VLANs = []uint16{m.VLAN.ID}
	}
	if m.InnerVLAN.Set {
		outer := uint16(7)
		if len(f.VLANs) == 1 {
			outer = f.VLANs[0]
		}
		f.VLANs = []uint16{outer, m.InnerVLAN.ID}
	}
	f.DSCP = m.DSCP.Val
	if m.TTL.Set {
		f.TTL = uint8(m.TTL.Lo)
	}
	if m.Length.Set {
		f.Len = int(m.Length.Lo)
		if f.Len > 9000 {
			f.Len = 9000
		}
	}
	return f
}

// PrefixEdges are the first and last address of p and the two just
// outside it.
func PrefixEdges(p netip.Prefix) []netip.Addr {
	if !p.IsValid() {
		return nil
	}
	first, last := p.Addr(), lastAddr(p)
	out := []netip.Addr{first, last}
	if prev := first.Prev(); prev.IsValid() {
		out = append(out, prev)
	}
	if next := last.Next(); next.IsValid() {
		out = append(out, next)
	}
	return out
}

// rangeEdges: lo, hi and the values just outside, up to max.
func rangeEdges(r rules.Range, max int) []uint16 {
	if !r.Set {
		return nil
	}
	var out []uint16
	for _, v := range []int{int(r.Lo) - 1, int(r.Lo), int(r.Hi), int(r.Hi) + 1} {
		if v >= 0 && v <= max {
			out = append(out, uint16(v))
		}
	}
	return out
}
