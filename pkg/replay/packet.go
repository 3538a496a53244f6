package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Packet describes one frame by the fields rules match, for Test: an
// operator's question ("would a SYN from 203.0.113.5 to port 22 pass?")
// without a capture that holds one.
type Packet struct {
	Src, Dst           netip.Addr // one family
	Proto              uint8
	Sport, Dport       uint16 // TCP and UDP
	TCPFlags           uint8  // TCP: rules.TCPFlag bits
	ICMPType, ICMPCode uint8  // ICMP and ICMPv6
	VLAN               int    // the 802.1Q id, or -1 for an untagged frame
	DSCP, TTL          uint8
	// Length is the whole frame's, Ethernet header included; 0 is the
	// least its headers take (a payload of zeros makes up the rest).
	Length int
}

// Header lengths of what Frame writes.
const (
	ethLen  = 14
	vlanLen = 4
	ip4Len  = 20
	ip6Len  = 40
	tcpLen  = 20
	udpLen  = 8
	icmpLen = 8 // type, code, checksum, identifier, sequence
)

// tcpAck is ACK's bit in the TCP header's flags byte (and in TCPFlags).
const tcpAck = 0x10

// maxIPLen is the most an IP length field says: an IPv4 packet's total
// length, an IPv6 packet's payload length.
const maxIPLen = 65535

func (p Packet) l4Len() int {
	switch p.Proto {
	case rules.ProtoTCP:
		return tcpLen
	case rules.ProtoUDP:
		return udpLen
	case rules.ProtoICMP, rules.ProtoICMPv6:
		return icmpLen
	}
	return 0
}

// Frame is the packet as the wire carries it: Ethernet (an 802.1Q tag
// when VLAN is set), IPv4 or IPv6 with no options or extension headers,
// then the TCP, UDP or ICMP header and a zero payload, checksums right.
func (p Packet) Frame() ([]byte, error) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		return nil, errors.New("a packet needs a source and a destination address of one family")
	}
	v4 := p.Src.Is4()
	switch {
	case p.Proto == rules.ProtoICMP && !v4:
		return nil, errors.New("icmp is IPv4's: use icmpv6 with IPv6 addresses")
	case p.Proto == rules.ProtoICMPv6 && v4:
		return nil, errors.New("icmpv6 is IPv6's: use icmp with IPv4 addresses")
	// The headers the datapath walks past (AH's too: its length field
	// makes it one), so an IPv6 packet "of" one read as a header chain
	// cut short, malformed.
	case !v4 && (p.Proto == 0 || p.Proto == 43 || p.Proto == 44 || p.Proto == 51 || p.Proto == 60):
		return nil, fmt.Errorf("protocol %d is an IPv6 extension header, not one a packet can end in here", p.Proto)
	}
	l2 := ethLen
	if p.VLAN >= 0 {
		l2 += vlanLen
	}
	l3 := ip4Len
	if !v4 {
		l3 = ip6Len
	}
	least := l2 + l3 + p.l4Len()
	n := max(p.Length, least)
	if p.Length != 0 && p.Length < least {
		return nil, fmt.Errorf("length %d is less than the packet's headers (%d bytes)", p.Length, least)
	}
	if most := l2 + l3 - ip4Len + maxIPLen; n > most {
		return nil, fmt.Errorf("length %d is more than an IP packet's length field says (at most %d bytes here)", n, most)
	}
	b := make([]byte, n)
	// Locally administered MACs: the frame is described, never sent.
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	off := 12
	if p.VLAN >= 0 {
		binary.BigEndian.PutUint16(b[off:], 0x8100)
		binary.BigEndian.PutUint16(b[off+2:], uint16(p.VLAN))
		off += vlanLen
	}
	ip := b[off+2:]
	l4 := ip[l3:]
	if v4 {
		binary.BigEndian.PutUint16(b[off:], 0x0800)
		ip[0] = 0x45
		ip[1] = p.DSCP << 2
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
		ip[8], ip[9] = p.TTL, p.Proto
		copy(ip[12:16], p.Src.AsSlice())
		copy(ip[16:20], p.Dst.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], checksum(0, ip[:ip4Len]))
	} else {
		binary.BigEndian.PutUint16(b[off:], 0x86dd)
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(p.DSCP)<<22)
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6], ip[7] = p.Proto, p.TTL
		copy(ip[8:24], p.Src.AsSlice())
		copy(ip[24:40], p.Dst.AsSlice())
	}
	sumAt := -1
	switch p.Proto {
	case rules.ProtoTCP:
		binary.BigEndian.PutUint16(l4[0:], p.Sport)
		binary.BigEndian.PutUint16(l4[2:], p.Dport)
		binary.BigEndian.PutUint32(l4[4:], 1) // sequence
		if p.TCPFlags&tcpAck != 0 {
			binary.BigEndian.PutUint32(l4[8:], 1)
		}
		l4[12] = tcpLen / 4 << 4
		l4[13] = p.TCPFlags
		binary.BigEndian.PutUint16(l4[14:], 64240) // window
		sumAt = 16
	case rules.ProtoUDP:
		binary.BigEndian.PutUint16(l4[0:], p.Sport)
		binary.BigEndian.PutUint16(l4[2:], p.Dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		sumAt = 6
	case rules.ProtoICMP, rules.ProtoICMPv6:
		l4[0], l4[1] = p.ICMPType, p.ICMPCode
		binary.BigEndian.PutUint16(l4[4:], 1) // identifier
		binary.BigEndian.PutUint16(l4[6:], 1) // sequence
		sumAt = 2
	}
	if sumAt >= 0 {
		var sum uint32
		if p.Proto != rules.ProtoICMP { // ICMP's sum has no pseudo-header
			sum = pseudoSum(p.Src, p.Dst, p.Proto, len(l4))
		}
		c := checksum(sum, l4)
		if c == 0 && p.Proto == rules.ProtoUDP {
			c = 0xffff // UDP's 0 means "no checksum"
		}
		binary.BigEndian.PutUint16(l4[sumAt:], c)
	}
	return b, nil
}

// pseudoSum is the sum of the pseudo-header TCP, UDP and ICMPv6 cover.
func pseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	var sum uint32
	for _, a := range [][]byte{src.AsSlice(), dst.AsSlice()} {
		for i := 0; i < len(a); i += 2 {
			sum += uint32(a[i])<<8 | uint32(a[i+1])
		}
	}
	return sum + uint32(proto) + uint32(n)
}

// checksum is the Internet checksum of b, begun from sum.
func checksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// String is the packet on one line, as tcpdump would put it: every field
// Test was given or took by default, so what was tested is on record.
func (p Packet) String() string {
	var b strings.Builder
	if p.VLAN >= 0 {
		fmt.Fprintf(&b, "vlan %d ", p.VLAN)
	}
	name := rules.Proto{Set: true, Num: p.Proto}.String()
	switch p.Proto {
	case rules.ProtoTCP, rules.ProtoUDP:
		fmt.Fprintf(&b, "%s %s > %s", name, netip.AddrPortFrom(p.Src, p.Sport), netip.AddrPortFrom(p.Dst, p.Dport))
		if p.Proto == rules.ProtoTCP {
			fmt.Fprintf(&b, " flags [%s]", rules.TCPFlagList(p.TCPFlags))
		}
	case rules.ProtoICMP, rules.ProtoICMPv6:
		fmt.Fprintf(&b, "%s %s > %s type %d code %d", name, p.Src, p.Dst, p.ICMPType, p.ICMPCode)
	default:
		fmt.Fprintf(&b, "proto %s %s > %s", name, p.Src, p.Dst)
	}
	fmt.Fprintf(&b, " dscp %d ttl %d length %d", p.DSCP, p.TTL, p.frameLen())
	return b.String()
}

// frameLen is the length Frame gives the packet.
func (p Packet) frameLen() int {
	n := ethLen + ip4Len + p.l4Len()
	if p.VLAN >= 0 {
		n += vlanLen
	}
	if p.Src.Is6() {
		n += ip6Len - ip4Len
	}
	return max(n, p.Length)
}
