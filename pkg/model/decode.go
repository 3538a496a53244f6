// Package model is xdpfw's reference model: Decode reads a frame as the
// datapath does (docs/design.md "Packet semantics") and Evaluate gives the
// verdict a ruleset assigns it ("Rule semantics"), by the obvious linear
// walk. Every datapath behaviour is checked against it: the datapath
// tests, `xdpfw replay --verify` and the fuzzers. It is pure Go: no root,
// no BPF.
package model

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Decode is the reference decoder: docs/design.md "Packet semantics", the
// same checks in the same order as xdp/parse.h. Any frame, however
// malformed, gets the verdict the datapath gives it, so replay can compare
// the two bit for bit.
//
// Every header is read here, byte by byte, not by gopacket's layer
// decoders, which disagree with the contract in places: Ethernet rewrites
// ethertypes below 0x0600 to LLC; IPv4 accepts total length 0 and lengths
// beyond the frame, ignores the version and rejects malformed options the
// contract never looks at; IPv6 rejects payload length 0 without a jumbo
// option and walks only hop-by-hop (the chain is walked here with the
// contract's bound, AH length and fragment rules); TCP rejects malformed
// options (the contract checks only the data offset); UDP rejects a length
// field of 1..7; ICMPv4 wants 8 bytes, the contract 4. Reading the bytes
// also keeps gopacket's layers, whose package init costs every CLI
// invocation about 17 ms, out of the xdpfw binary (tests still build frames
// with it).
//
// L4 bounds are checked against the end the IP header declares (total
// length or payload length), not the frame end, as parse.h does; bytes
// past that end (Ethernet padding) are ignored.

// Kind is what a frame carries above Ethernet (and VLAN tags).
type Kind uint8

const (
	KindOther Kind = iota // neither IPv4, IPv6 nor ARP
	KindIPv4
	KindIPv6
	KindARP
)

func (k Kind) String() string {
	switch k {
	case KindOther:
		return "other"
	case KindIPv4:
		return "ipv4"
	case KindIPv6:
		return "ipv6"
	case KindARP:
		return "arp"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Packet is the decoded view of one frame: what the datapath's struct pkt
// holds, plus a few fields for diagnostics. When Malformed is set, Problem
// says why and the other fields hold whatever was decoded before the
// failing check; only Malformed decides the verdict.
type Packet struct {
	Kind      Kind
	Malformed bool
	Problem   string // why the frame is malformed; "" if it is not

	EtherType uint16    // after any VLAN tags
	VLANTags  int       // VLAN tags skipped, 0..2
	VLAN      [2]uint16 // outer and inner VLAN id, rules.VLANNone when absent
	Len       int       // frame length in bytes
	Iface     string    // input interface; set by the caller, not decoded
	// CT is the connection-tracking state, set by the caller (the
	// Tracker's answer, EvaluateTracked) and not decoded: CTUntracked
	// unless something looked it up.
	CT CTState

	Src, Dst netip.Addr      // IP only; IPv4 as 4-byte addresses
	Proto    uint8           // L4 protocol, after the IPv6 extension chain
	HasProto bool            // IP frame with its protocol decoded
	Frag     rules.FragClass // FragLater: no L4 header, no ports
	DSCP     uint8           // IP only
	TTL      uint8           // IP only: TTL or hop limit

	HasPorts     bool // TCP or UDP with an L4 header
	Sport, Dport uint16
	ND           bool // ICMPv6 neighbour discovery (types 133-137)

	HasTCPFlags        bool // TCP with an L4 header
	TCPFlags           uint8
	TCPSeq, TCPAck     uint32 // with TCPFlags: the sequence and acknowledgement numbers
	HasICMP            bool   // ICMP in IPv4 or ICMPv6 in IPv6, with a header
	ICMPType, ICMPCode uint8

	// Where connection tracking looks further (conntrack.go): the
	// fragment's identification (IPv4, or the IPv6 fragment header's),
	// and the frame offsets of the L4 header and of the end the IP header
	// declares (0 when there is none).
	FragID              uint32
	L3Off, L4Off, IPEnd int
}

// Family is the frame's address family, FamilyAny if it is not IP.
func (p *Packet) Family() rules.Family {
	switch p.Kind {
	case KindIPv4:
		return rules.FamilyIPv4
	case KindIPv6:
		return rules.FamilyIPv6
	}
	return rules.FamilyAny
}

// Header sizes, ethertypes and protocol numbers of the contract.
const (
	ethHeaderLen  = 14
	vlanTagLen    = 4
	vlanIDMask    = 0x0fff
	maxVLANTags   = 2
	ipv4MinHeader = 20
	ipv6HeaderLen = 40
	maxExtHeaders = 8
	tcpMinHeader  = 20
	udpHeaderLen  = 8
	icmpMinHeader = 4

	etherTypeIPv4   = 0x0800
	etherTypeARP    = 0x0806
	etherTypeVLAN   = 0x8100
	etherTypeQinQ   = 0x88A8
	etherTypeIPv6   = 0x86DD
	ipprotoHopOpts  = 0
	ipprotoRouting  = 43
	ipprotoFragment = 44
	ipprotoAH       = 51
	ipprotoDstOpts  = 60

	ndFirstType = 133 // router solicitation
	ndLastType  = 137 // redirect
)

// Decode decodes one Ethernet frame. It never fails: a frame that breaks
// the contract comes back with Malformed set.
func Decode(frame []byte) Packet {
	p := Packet{Len: len(frame), VLAN: [2]uint16{rules.VLANNone, rules.VLANNone}}
	if err := decodeFrame(frame, &p); err != nil {
		p.Malformed = true
		p.Problem = err.Error()
	}
	return p
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func isVLAN(etherType uint16) bool {
	return etherType == etherTypeVLAN || etherType == etherTypeQinQ
}

// decodeFrame handles Ethernet and up to two VLAN tags, then the network
// layer by ethertype.
func decodeFrame(frame []byte, p *Packet) error {
	if len(frame) < ethHeaderLen {
		return fmt.Errorf("ethernet: frame of %d bytes, need %d", len(frame), ethHeaderLen)
	}
	etherType := be16(frame[12:])
	off := ethHeaderLen
	for p.VLANTags < maxVLANTags && isVLAN(etherType) {
		// A tag: priority, DEI and the 12-bit VLAN ID, then the inner ethertype.
		if len(frame)-off < vlanTagLen {
			return fmt.Errorf("vlan: tag %d truncated (%d bytes left, need %d)", p.VLANTags+1, len(frame)-off, vlanTagLen)
		}
		p.VLAN[p.VLANTags] = be16(frame[off:]) & vlanIDMask
		etherType = be16(frame[off+2:])
		off += vlanTagLen
		p.VLANTags++
	}
	p.EtherType = etherType
	p.L3Off = off
	switch etherType {
	case etherTypeIPv4:
		p.Kind = KindIPv4
		return decodeIPv4(frame[off:], p)
	case etherTypeIPv6:
		p.Kind = KindIPv6
		return decodeIPv6(frame[off:], p)
	case etherTypeARP:
		p.Kind = KindARP
		return nil
	case etherTypeVLAN, etherTypeQinQ:
		return fmt.Errorf("vlan: a third tag (at most %d)", maxVLANTags)
	}
	p.Kind = KindOther
	return nil
}

// decodeIPv4 decodes the IPv4 header at the start of h (h runs to the
// frame end).
func decodeIPv4(h []byte, p *Packet) error {
	if len(h) < ipv4MinHeader {
		return fmt.Errorf("ipv4: header truncated (%d bytes, need %d)", len(h), ipv4MinHeader)
	}
	if v := h[0] >> 4; v != 4 {
		return fmt.Errorf("ipv4: version %d", v)
	}
	ihl := int(h[0]&0x0f) * 4
	if ihl < ipv4MinHeader {
		return fmt.Errorf("ipv4: IHL %d below 5", ihl/4)
	}
	total := int(be16(h[2:]))
	if total < ihl {
		return fmt.Errorf("ipv4: total length %d below header length %d", total, ihl)
	}
	if total > len(h) {
		return fmt.Errorf("ipv4: total length %d beyond the frame (%d bytes)", total, len(h))
	}
	p.Src = netip.AddrFrom4([4]byte(h[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(h[16:20]))
	p.Proto = h[9]
	p.HasProto = true
	p.DSCP = h[1] >> 2
	p.TTL = h[8]
	p.FragID = uint32(be16(h[4:]))
	p.L4Off, p.IPEnd = p.L3Off+ihl, p.L3Off+total
	// A non-first fragment carries no L4 header: classify on L3 only.
	frag := be16(h[6:])
	if frag&0x1fff != 0 {
		p.Frag = rules.FragLater
		return nil
	}
	if frag&0x2000 != 0 { // more fragments
		p.Frag = rules.FragFirst
	}
	return decodeL4(h[ihl:total], p)
}

// decodeIPv6 decodes the IPv6 header at the start of h and walks its
// extension chain.
func decodeIPv6(h []byte, p *Packet) error {
	if len(h) < ipv6HeaderLen {
		return fmt.Errorf("ipv6: header truncated (%d bytes, need %d)", len(h), ipv6HeaderLen)
	}
	if v := h[0] >> 4; v != 6 {
		return fmt.Errorf("ipv6: version %d", v)
	}
	plen := int(be16(h[4:]))
	if ipv6HeaderLen+plen > len(h) {
		return fmt.Errorf("ipv6: payload length %d beyond the frame (%d bytes after the header)", plen, len(h)-ipv6HeaderLen)
	}
	p.Src = netip.AddrFrom16([16]byte(h[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(h[24:40]))
	p.DSCP = (h[0]&0x0f)<<2 | h[1]>>6 // top 6 bits of the traffic class
	p.TTL = h[7]
	payload := h[ipv6HeaderLen : ipv6HeaderLen+plen]
	proto, l4, frag, err := walkIPv6Chain(payload, h[6], &p.FragID)
	if err != nil {
		return err
	}
	p.Proto = proto
	p.HasProto = true
	p.Frag = frag
	p.L4Off, p.IPEnd = p.L3Off+ipv6HeaderLen+l4, p.L3Off+ipv6HeaderLen+plen
	if frag == rules.FragLater {
		return nil
	}
	return decodeL4(payload[l4:], p)
}

func isExtHeader(nh uint8) bool {
	switch nh {
	case ipprotoHopOpts, ipprotoRouting, ipprotoFragment, ipprotoAH, ipprotoDstOpts:
		return true
	}
	return false
}

// walkIPv6Chain skips at most maxExtHeaders extension headers in payload,
// starting with next header nh. It returns the L4 protocol and the offset
// of the L4 header in payload, and the fragment class: FragLater for a
// non-first fragment, whose fragment header names the protocol but which
// has no L4 header; FragFirst for offset 0 with more fragments to come. A
// fragment header with offset 0 and no more fragments is an atomic
// fragment (RFC 6946): the whole packet, FragNone. A fragment header's
// identification goes to fragID.
func walkIPv6Chain(payload []byte, nh uint8, fragID *uint32) (proto uint8, l4 int, frag rules.FragClass, err error) {
	cur := 0
	for n := 1; n <= maxExtHeaders && isExtHeader(nh); n++ {
		// Every header type starts with 8 bytes (next header, length...).
		if cur+8 > len(payload) {
			return 0, 0, 0, fmt.Errorf("ipv6: extension header %d (type %d) at payload offset %d truncated (payload length %d)", n, nh, cur, len(payload))
		}
		x := payload[cur:]
		switch nh {
		case ipprotoFragment:
			*fragID = binary.BigEndian.Uint32(x[4:])
			if be16(x[2:])&0xfff8 != 0 {
				return x[0], 0, rules.FragLater, nil
			}
			if x[3]&1 != 0 {
				frag = rules.FragFirst
			}
			cur += 8
		case ipprotoAH:
			cur += (int(x[1]) + 2) * 4 // AH counts 4-byte words, minus 2
		default:
			cur += (int(x[1]) + 1) * 8 // 8-byte units, not counting the first
		}
		nh = x[0]
	}
	if isExtHeader(nh) {
		return 0, 0, 0, fmt.Errorf("ipv6: more than %d extension headers", maxExtHeaders)
	}
	if cur > len(payload) {
		return 0, 0, 0, fmt.Errorf("ipv6: extension headers end at payload offset %d, beyond payload length %d", cur, len(payload))
	}
	return nh, cur, frag, nil
}

// decodeL4 checks the L4 header at the start of l4, which runs to the end
// the IP header declares, and takes the ports and the ND flag from it.
func decodeL4(l4 []byte, p *Packet) error {
	switch p.Proto {
	case rules.ProtoTCP:
		if len(l4) < tcpMinHeader {
			return fmt.Errorf("tcp: header truncated (%d bytes, need %d)", len(l4), tcpMinHeader)
		}
		doff := int(l4[12] >> 4)
		if doff < 5 {
			return fmt.Errorf("tcp: data offset %d below 5", doff)
		}
		if doff*4 > len(l4) {
			return fmt.Errorf("tcp: data offset %d (%d bytes) beyond the packet (%d bytes)", doff, doff*4, len(l4))
		}
		p.HasTCPFlags, p.TCPFlags = true, l4[13]
		p.TCPSeq, p.TCPAck = binary.BigEndian.Uint32(l4[4:]), binary.BigEndian.Uint32(l4[8:])
	case rules.ProtoUDP:
		if len(l4) < udpHeaderLen {
			return fmt.Errorf("udp: header truncated (%d bytes, need %d)", len(l4), udpHeaderLen)
		}
	case rules.ProtoICMP:
		// ICMP in IPv6 is just another protocol number: no checks.
		if p.Kind != KindIPv4 {
			return nil
		}
		if len(l4) < icmpMinHeader {
			return fmt.Errorf("icmp: header truncated (%d bytes, need %d)", len(l4), icmpMinHeader)
		}
		p.HasICMP, p.ICMPType, p.ICMPCode = true, l4[0], l4[1]
		return nil
	case rules.ProtoICMPv6:
		if p.Kind != KindIPv6 {
			return nil // ICMPv6 in IPv4: no checks, never ND
		}
		if len(l4) < icmpMinHeader {
			return fmt.Errorf("icmpv6: header truncated (%d bytes, need %d)", len(l4), icmpMinHeader)
		}
		t := l4[0]
		p.HasICMP, p.ICMPType, p.ICMPCode = true, t, l4[1]
		p.ND = t >= ndFirstType && t <= ndLastType
		return nil
	default:
		return nil
	}
	// TCP and UDP both start with the source and destination ports.
	p.HasPorts = true
	p.Sport = be16(l4[0:])
	p.Dport = be16(l4[2:])
	return nil
}
