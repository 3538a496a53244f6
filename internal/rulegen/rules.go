package rulegen

import (
	"math/rand/v2"
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Pools of overlapping values rules and frames are drawn from, so that
// random rules overlap each other and random frames hit them.
var (
	prefixes = [2][]netip.Prefix{
		pfx("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "192.0.2.0/24", "0.0.0.0/0", "10.1.2.128/25"),
		pfx("2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5/128", "::/0", "fd00::/8"),
	}
	ranges = []rules.Range{{Set: true, Lo: 0, Hi: 0}, {Set: true, Lo: 22, Hi: 22}, {Set: true, Lo: 1000, Hi: 2000},
		{Set: true, Lo: 2000, Hi: 65535}, {Set: true, Lo: 53, Hi: 53}, {Set: true, Lo: 1, Hi: 1023}}
	ttls    = []rules.Range{{Set: true, Lo: 0, Hi: 1}, {Set: true, Lo: 64, Hi: 64}, {Set: true, Lo: 2, Hi: 100}, {Set: true, Lo: 200, Hi: 255}}
	lengths = []rules.Range{{Set: true, Lo: 0, Hi: 99}, {Set: true, Lo: 100, Hi: 200}, {Set: true, Lo: 1500, Hi: 65535}, {Set: true, Lo: 64, Hi: 64}}
	protos  = []uint8{rules.ProtoTCP, rules.ProtoUDP, rules.ProtoICMP, rules.ProtoICMPv6, 47}
	vlans   = []uint16{0, 1, 100, 4095, rules.VLANNone}
	dscps   = []uint8{0, 10, 46, 63}
	flagSet = []rules.TCPFlags{{Set: true, Mask: 0x12, Value: 0x02}, {Set: true, Mask: 0x02, Value: 0x02},
		{Set: true, Mask: 0x04, Value: 0x04}, {Set: true, Mask: 0xff, Value: 0x10}, {Set: true, Mask: 0x11, Value: 0}}
	icmpTypes = []uint8{0, 3, 8, 11, 128, 129, 135}
	ifaces    = []string{"lo", "eth0"}
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Ruleset gives a valid ruleset of n rules (IDs 1..n, priorities 0-4) in
// which each rule sets a few random conditions.
func Ruleset(rng *rand.Rand, n int) *rules.Ruleset {
	rs := &rules.Ruleset{Policy: rules.Action(1 + rng.IntN(2))}
	for len(rs.Rules) < n {
		r := rules.Rule{ID: uint32(len(rs.Rules) + 1), Priority: uint32(rng.IntN(5)), Action: rules.Action(1 + rng.IntN(2))}
		r.Match = randomMatch(rng)
		if r.Validate() != nil {
			continue // an impossible combination: draw again
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs
}

func randomMatch(rng *rand.Rand) rules.Match {
	var m rules.Match
	one := func(k int) bool { return rng.IntN(k) == 0 }
	fam := rng.IntN(2)
	if one(3) {
		m.Src = prefixes[fam][rng.IntN(len(prefixes[fam]))]
	}
	if one(3) {
		m.Dst = prefixes[fam][rng.IntN(len(prefixes[fam]))]
	}
	if one(8) {
		m.Family = rules.FamilyIPv4
		if fam == 1 {
			m.Family = rules.FamilyIPv6
		}
	}
	if one(2) {
		m.Proto = rules.Proto{Set: true, Num: protos[rng.IntN(len(protos))]}
	}
	if one(6) {
		m.Fragment = rules.FragMatch(1 + rng.IntN(4))
	}
	ports := !m.Proto.Set || m.Proto.Num == rules.ProtoTCP || m.Proto.Num == rules.ProtoUDP
	if ports && one(3) {
		m.Sport = ranges[rng.IntN(len(ranges))]
	}
	if ports && one(3) {
		m.Dport = ranges[rng.IntN(len(ranges))]
	}
	switch {
	case m.Proto.Set && m.Proto.Num == rules.ProtoTCP && one(3):
		m.TCPFlags = flagSet[rng.IntN(len(flagSet))]
	case m.Proto.Set && (m.Proto.Num == rules.ProtoICMP || m.Proto.Num == rules.ProtoICMPv6) && one(2):
		if one(2) {
			m.ICMPType = rules.Opt8{Set: true, Val: icmpTypes[rng.IntN(len(icmpTypes))]}
		}
		if one(3) {
			m.ICMPCode = rules.Opt8{Set: true, Val: uint8(rng.IntN(3))}
		}
	}
	if one(6) {
		m.VLAN = rules.VLAN{Set: true, ID: vlans[rng.IntN(len(vlans))]}
	}
	if one(10) {
		m.InnerVLAN = rules.VLAN{Set: true, ID: vlans[rng.IntN(len(vlans)-1)]}
	}
	if one(8) {
		m.DSCP = rules.Opt8{Set: true, Val: dscps[rng.IntN(len(dscps))]}
	}
	if one(8) {
		m.TTL = ttls[rng.IntN(len(ttls))]
	}
	if one(8) {
		m.Length = lengths[rng.IntN(len(lengths))]
	}
	if one(10) {
		m.Iface = ifaces[rng.IntN(len(ifaces))]
	}
	if one(10) {
		m.CTState = rules.CTStates(1 + rng.IntN(15))
	}
	return m
}

// RandomFrame draws a frame from the pools.
func RandomFrame(rng *rand.Rand) Frame {
	f := Frame{TTL: 64, Len: 60}
	switch rng.IntN(16) {
	case 0:
		f.EtherType = 0x0806 // ARP
		return f
	case 1:
		f.EtherType = 0x88cc // LLDP
		f.VLANs = randomTags(rng)
		return f
	}
	fam := rng.IntN(2)
	f.Src = addrIn(rng, prefixes[fam][rng.IntN(len(prefixes[fam]))])
	f.Dst = addrIn(rng, prefixes[fam][rng.IntN(len(prefixes[fam]))])
	f.Proto = protos[rng.IntN(len(protos))]
	f.VLANs = randomTags(rng)
	f.DSCP = dscps[rng.IntN(len(dscps))]
	f.TTL = uint8(rng.IntN(256))
	f.Frag = rules.FragClass(rng.IntN(6) / 4) // mostly whole packets
	if rng.IntN(8) == 0 {
		f.Frag = rules.FragLater
	}
	f.Sport = rangeEdge(rng, ranges[rng.IntN(len(ranges))])
	f.Dport = rangeEdge(rng, ranges[rng.IntN(len(ranges))])
	f.TCPFlags = uint8(rng.IntN(256))
	f.ICMPType = icmpTypes[rng.IntN(len(icmpTypes))]
	f.ICMPCode = uint8(rng.IntN(3))
	f.Len = int(rangeEdge(rng, lengths[rng.IntN(len(lengths))]))
	if f.Len > 9000 {
		f.Len = 60 + rng.IntN(3000)
	}
	return f
}

func randomTags(rng *rand.Rand) []uint16 {
	n := rng.IntN(5) / 2 // 0, 0, 1, 1, 2
	tags := make([]uint16, n)
	for i := range tags {
		tags[i] = vlans[rng.IntN(len(vlans)-1)]
	}
	return tags
}

// addrIn picks an address of p near its edges: first, last, or random.
func addrIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	switch rng.IntN(3) {
	case 0:
		return p.Addr()
	case 1:
		return lastAddr(p)
	}
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if rng.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// rangeEdge picks lo-1, lo, hi or hi+1 of r (clamped to 16 bits).
func rangeEdge(rng *rand.Rand, r rules.Range) uint16 {
	switch rng.IntN(4) {
	case 0:
		if r.Lo > 0 {
			return r.Lo - 1
		}
		return r.Lo
	case 1:
		return r.Lo
	case 2:
		return r.Hi
	}
	if r.Hi < 65535 {
		return r.Hi + 1
	}
	return r.Hi
}
