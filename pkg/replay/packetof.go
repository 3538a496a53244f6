package replay

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Defaults of a described packet: documentation addresses (RFC 5737,
// RFC 3849), a TCP SYN from the first IANA ephemeral port to port 80, as
// a new connection begins, with Linux's TTL.
var (
	defaultSrc4 = netip.MustParseAddr("192.0.2.1")
	defaultDst4 = netip.MustParseAddr("198.51.100.1")
	defaultSrc6 = netip.MustParseAddr("2001:db8::1")
	defaultDst6 = netip.MustParseAddr("2001:db8::2")
)

const (
	defaultSport = 49152
	defaultDport = 80
	defaultTTL   = 64
	tcpSyn       = 0x02
	echoRequest4 = 8
	echoRequest6 = 128
)

// PacketOf is the packet m describes, m parsed from a rule's conditions
// (rules.Conditions) with one value each: an address, not a prefix or a
// set; a port, TTL or length, not a range. What m leaves out takes the
// defaults above; the family follows the addresses given, else
// m.Family, else the protocol (ICMPv6 is IPv6's), else IPv4. Conditions that are no field of one packet
// (connection-tracking state, fragments, an inner VLAN) are refused.
func PacketOf(m rules.Match) (Packet, error) {
	p := Packet{VLAN: -1, TTL: defaultTTL, DSCP: m.DSCP.Val}
	switch {
	case m.SrcSet != "" || m.DstSet != "":
		return p, errors.New("an address of a packet is one address, not a set")
	case m.CTState != 0:
		return p, errors.New("ct-state is not a field of a packet: the packet tested is the first of its flow (a ct-state rule sees it new, or invalid when no flow begins so)")
	case m.Fragment != rules.FragAnyPacket && m.Fragment != rules.FragNotFrag:
		return p, errors.New("the packet tested is whole: fragments are not described")
	case m.InnerVLAN.Set:
		return p, errors.New("a double-tagged packet is not described: --vlan gives its one tag")
	}
	var err error
	if p.Src, err = hostOf("src", m.Src); err != nil {
		return p, err
	}
	if p.Dst, err = hostOf("dst", m.Dst); err != nil {
		return p, err
	}
	// With no address given, --icmpv6-type or --proto icmpv6 alone asks
	// for an IPv6 packet: IPv4's default addresses made one refused as
	// "icmpv6 is IPv6's: use icmp with IPv4 addresses", none given.
	byProto := m.Family == rules.FamilyAny && m.Proto.Set && m.Proto.Num == rules.ProtoICMPv6
	v6 := p.Src.Is6() || p.Dst.Is6() || (!p.Src.IsValid() && !p.Dst.IsValid() && (m.Family == rules.FamilyIPv6 || byProto))
	switch {
	case p.Src.IsValid() && p.Dst.IsValid() && p.Src.Is4() != p.Dst.Is4():
		return p, errors.New("--src and --dst are of two families")
	case m.Family == rules.FamilyIPv4 && v6, m.Family == rules.FamilyIPv6 && !v6:
		return p, fmt.Errorf("--family %s and the addresses given are of two families", m.Family)
	}
	if !p.Src.IsValid() {
		p.Src = pick(v6, defaultSrc6, defaultSrc4)
	}
	if !p.Dst.IsValid() {
		p.Dst = pick(v6, defaultDst6, defaultDst4)
	}
	p.Proto = rules.ProtoTCP
	if m.Proto.Set {
		p.Proto = m.Proto.Num
	}
	if (m.Sport.Set || m.Dport.Set) && p.Proto != rules.ProtoTCP && p.Proto != rules.ProtoUDP {
		return p, fmt.Errorf("ports are TCP's and UDP's, not %s's", m.Proto)
	}
	single := map[string]rules.Range{"sport": m.Sport, "dport": m.Dport, "ttl": m.TTL, "length": m.Length}
	for key, r := range single {
		if r.Set && r.Lo != r.Hi {
			return p, fmt.Errorf("--%s %s is a range: a packet has one value", key, r)
		}
	}
	p.Sport, p.Dport = pickPort(m.Sport, defaultSport), pickPort(m.Dport, defaultDport)
	p.TCPFlags = tcpSyn
	if m.TCPFlags.Set {
		p.TCPFlags = m.TCPFlags.Value
	}
	if p.Proto == rules.ProtoICMP || p.Proto == rules.ProtoICMPv6 {
		p.ICMPType = pick(p.Proto == rules.ProtoICMPv6, uint8(echoRequest6), uint8(echoRequest4))
		if m.ICMPType.Set {
			p.ICMPType = m.ICMPType.Val
		}
		p.ICMPCode = m.ICMPCode.Val
	}
	if m.VLAN.Set && m.VLAN.ID != rules.VLANNone {
		p.VLAN = int(m.VLAN.ID)
	}
	if m.TTL.Set {
		p.TTL = uint8(m.TTL.Lo)
	}
	if m.Length.Set {
		p.Length = int(m.Length.Lo)
	}
	return p, nil
}

// hostOf is the address of a host prefix, the zero Addr for none.
func hostOf(key string, pfx netip.Prefix) (netip.Addr, error) {
	if !pfx.IsValid() {
		return netip.Addr{}, nil
	}
	if pfx.Bits() != pfx.Addr().BitLen() {
		return netip.Addr{}, fmt.Errorf("--%s %s is a prefix: a packet has one address", key, pfx)
	}
	// As rule add refuses it: ::ffff:203.0.113.5, as a dual-stack
	// server logs an IPv4 client, made an IPv6 packet carrying it, which
	// only a crafted frame is, and the verdict told was not the IPv4
	// client's.
	if a := pfx.Addr(); rules.MappedPrefix(pfx) != nil {
		return netip.Addr{}, fmt.Errorf("--%s %s is IPv4 %s written as IPv6 (IPv4-mapped): the packet would be a crafted IPv6 one, never the IPv4 client's (write %s)", key, a, a.Unmap(), a.Unmap())
	}
	return pfx.Addr(), nil
}

func pickPort(r rules.Range, def uint16) uint16 {
	if r.Set {
		return r.Lo
	}
	return def
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
