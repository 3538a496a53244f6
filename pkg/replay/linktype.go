package replay

import (
	"encoding/binary"
	"fmt"
)

// Link types (LINKTYPE_* of the pcap and pcapng formats) xdpfw replays.
// XDP programs see Ethernet frames: anything else gets the Ethernet header
// the program would have seen, synthesized (toEthernet).
const (
	linkTypeNull     = 0   // BSD loopback: 4-byte address family, host order
	linkTypeEthernet = 1   //
	linkTypeRaw12    = 12  // DLT_RAW on most BSDs, written by old tools
	linkTypeRaw14    = 14  // DLT_RAW on OpenBSD
	linkTypeRaw      = 101 // raw IPv4 or IPv6, by the version nibble
	linkTypeLoop     = 108 // OpenBSD loopback: family in network order
	linkTypeSLL      = 113 // Linux cooked v1 (tcpdump -i any)
	linkTypeIPv4     = 228
	linkTypeIPv6     = 229
	linkTypeSLL2     = 276 // Linux cooked v2 (tcpdump -i any, libpcap 1.10+)
)

var linkTypeNames = map[uint32]string{
	0:   "NULL",
	1:   "ETHERNET",
	9:   "PPP",
	12:  "RAW",
	14:  "RAW",
	101: "RAW",
	105: "IEEE802_11",
	108: "LOOP",
	113: "LINUX_SLL",
	117: "PFLOG",
	127: "IEEE802_11_RADIOTAP",
	228: "IPV4",
	229: "IPV6",
	276: "LINUX_SLL2",
}

func supportedLinkType(lt uint32) bool {
	switch lt {
	case linkTypeNull, linkTypeEthernet, linkTypeRaw12, linkTypeRaw14, linkTypeRaw,
		linkTypeLoop, linkTypeSLL, linkTypeIPv4, linkTypeIPv6, linkTypeSLL2:
		return true
	}
	return false
}

// linkTypeName names a link type the way tcpdump does, with its number.
func linkTypeName(lt uint32) string {
	if n, ok := linkTypeNames[lt]; ok {
		return fmt.Sprintf("%s (%d)", n, lt)
	}
	return fmt.Sprint(lt)
}

func linkTypeError(lt uint32) error {
	return fmt.Errorf("link type %s is not one xdpfw replays (Ethernet, Linux cooked, raw IP, loopback)", linkTypeName(lt))
}

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd

	packetOutgoing = 4 // PACKET_OUTGOING in a cooked header
	arphrdNetlink  = 824
)

// Directions a capture may record for a frame.
const (
	dirUnknown = iota
	dirIn
	dirOut
)

// Reasons a frame is skipped, as the report shows them.
const (
	skipSuperFrame = "offload super-frame (TSO/GSO/GRO, BIG TCP): XDP never receives it"
)

// convert turns one captured record of link type lt into the frame to
// replay. An outgoing frame is marked Out (replay learns from it through
// the egress program), unless it is an offload super-frame, which no test
// run can take.
func convert(index int, lt uint32, data []byte, wire int, dir int) Frame {
	f := Frame{Index: index}
	if lt == linkTypeEthernet {
		f.Data, f.WireLen = data, wire
	} else {
		f.Data, f.WireLen, dir, f.Skip = toEthernet(lt, data, wire, dir)
	}
	if f.Skip == "" && dir == dirOut {
		f.Out = true
		if !f.Truncated() && superFrame(f.Data) {
			f.Skip = "outgoing " + skipSuperFrame
		}
	}
	return f
}

// toEthernet gives the Ethernet frame a record of a non-Ethernet link type
// stands for: its network-layer bytes behind a header with zero MACs (the
// cooked header's link-layer address as the source when it is a MAC) and
// the EtherType the record's own header names. wire is the record's wire
// length, returned as the Ethernet frame's.
func toEthernet(lt uint32, data []byte, wire, dir int) (eth []byte, ethWire, direction int, skip string) {
	var hdrLen int
	var etherType uint16
	var src []byte
	switch lt {
	case linkTypeSLL:
		hdrLen = 16
		if len(data) < hdrLen {
			return nil, 0, dir, "shorter than its Linux cooked (v1) header"
		}
		if binary.BigEndian.Uint16(data[0:]) == packetOutgoing {
			dir = dirOut
		}
		if binary.BigEndian.Uint16(data[2:]) == arphrdNetlink {
			return nil, 0, dir, "netlink message, not a frame"
		}
		if n := binary.BigEndian.Uint16(data[4:]); n == 6 {
			src = data[6:12]
		}
		etherType = binary.BigEndian.Uint16(data[14:])
	case linkTypeSLL2:
		hdrLen = 20
		if len(data) < hdrLen {
			return nil, 0, dir, "shorter than its Linux cooked (v2) header"
		}
		etherType = binary.BigEndian.Uint16(data[0:])
		if binary.BigEndian.Uint16(data[8:]) == arphrdNetlink {
			return nil, 0, dir, "netlink message, not a frame"
		}
		if data[10] == packetOutgoing {
			dir = dirOut
		}
		if data[11] == 6 {
			src = data[12:18]
		}
	case linkTypeNull, linkTypeLoop:
		hdrLen = 4
		if len(data) < hdrLen {
			return nil, 0, dir, "shorter than its loopback header"
		}
		var ok bool
		if etherType, ok = familyEtherType(data[:4], lt == linkTypeLoop); !ok {
			return nil, 0, dir, fmt.Sprintf("loopback address family %d is neither IPv4 nor IPv6", family(data[:4], lt == linkTypeLoop))
		}
	case linkTypeIPv4:
		etherType = etherTypeIPv4
	case linkTypeIPv6:
		etherType = etherTypeIPv6
	default: // raw: by the IP version
		if len(data) == 0 {
			return nil, 0, dir, "empty raw IP record"
		}
		switch data[0] >> 4 {
		case 4:
			etherType = etherTypeIPv4
		case 6:
			etherType = etherTypeIPv6
		default:
			return nil, 0, dir, fmt.Sprintf("raw IP record of version %d", data[0]>>4)
		}
	}
	if etherType < 0x0600 {
		return nil, 0, dir, fmt.Sprintf("cooked protocol 0x%04x is not an EtherType (802.3 or 802.2 frame)", etherType)
	}
	eth = make([]byte, 14+len(data)-hdrLen)
	if src != nil {
		copy(eth[6:12], src)
	}
	binary.BigEndian.PutUint16(eth[12:], etherType)
	copy(eth[14:], data[hdrLen:])
	return eth, max(wire-hdrLen, 0) + 14, dir, ""
}

// family reads a loopback header's address family: network order for LOOP,
// else the capturing host's order, which the file does not record: a
// family is a small number, so the order that gives one is taken.
func family(b []byte, network bool) uint32 {
	be := binary.BigEndian.Uint32(b)
	if network {
		return be
	}
	if le := binary.LittleEndian.Uint32(b); le <= 0xffff {
		return le
	}
	return be
}

func familyEtherType(b []byte, network bool) (uint16, bool) {
	switch family(b, network) {
	case 2: // AF_INET everywhere
		return etherTypeIPv4, true
	case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
		return etherTypeIPv6, true
	}
	return 0, false
}

// superFrame reports whether an Ethernet frame's IP header describes a
// packet that is not on the wire as one frame: an IPv4 total length of 0
// (what BIG TCP writes beyond 64 KiB) or an IP length larger than the
// frame, which segmentation or GRO offload produces above the NIC.
func superFrame(eth []byte) bool {
	off := 12
	for off+4 <= len(eth) {
		et := binary.BigEndian.Uint16(eth[off:])
		if et != 0x8100 && et != 0x88a8 {
			break
		}
		off += 4
	}
	if off+2 > len(eth) {
		return false
	}
	et, ip := binary.BigEndian.Uint16(eth[off:]), eth[off+2:]
	switch {
	case et == etherTypeIPv4 && len(ip) >= 20 && ip[0]>>4 == 4:
		total := int(binary.BigEndian.Uint16(ip[2:]))
		return total == 0 || total > len(ip)
	case et == etherTypeIPv6 && len(ip) >= 40 && ip[0]>>4 == 6:
		payload := int(binary.BigEndian.Uint16(ip[4:]))
		return (payload == 0 && len(ip) > 40+65535) || 40+payload > len(ip)
	}
	return false
}
