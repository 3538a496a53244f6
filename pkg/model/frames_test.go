package model

// Frame builders for the Decode and Evaluate tests. Well-formed frames are
// built with gopacket's serializers; malformed ones by building a good
// frame and then breaking one field, or from raw bytes where gopacket
// would fix what the test means to break (it pads Ethernet frames to 60
// bytes and recomputes lengths).

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}

	src4 = netip.MustParseAddr("192.0.2.1")
	dst4 = netip.MustParseAddr("198.51.100.2")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8::2")
	ll6  = netip.MustParseAddr("fe80::1")
)

// Offsets in an untagged frame.
const (
	l3 = 14 // IP header
)

// serialize builds a frame from layers, fixing lengths (IHL, total and
// payload length, TCP data offset, UDP length) but not checksums, which
// the contract ignores.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func dot1q(id uint16, et layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: et}
}

func ipv4(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: src4.AsSlice(), DstIP: dst4.AsSlice()}
}

func ipv6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: src6.AsSlice(), DstIP: dst6.AsSlice()}
}

func tcp(s, d uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(s), DstPort: layers.TCPPort(d), SYN: true, Window: 1024}
}

func udp(s, d uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(s), DstPort: layers.UDPPort(d)}
}

func raw(b ...byte) gopacket.Payload { return gopacket.Payload(b) }

func zeros(n int) gopacket.Payload { return make(gopacket.Payload, n) }

// v4 is an untagged IPv4 frame carrying the given L4 layers.
func v4(t testing.TB, p layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
	return serialize(t, append([]gopacket.SerializableLayer{ether(layers.EthernetTypeIPv4), ipv4(p)}, l4...)...)
}

// v6 is an untagged IPv6 frame whose first next header is nh.
func v6(t testing.TB, nh layers.IPProtocol, rest ...gopacket.SerializableLayer) []byte {
	return serialize(t, append([]gopacket.SerializableLayer{ether(layers.EthernetTypeIPv6), ipv6(nh)}, rest...)...)
}

// rawFrame is an Ethernet header and payload with no padding, for frames
// that must end exactly where the test says.
func rawFrame(etherType uint16, payload ...[]byte) []byte {
	f := append(append([]byte{}, macB...), macA...)
	f = binary.BigEndian.AppendUint16(f, etherType)
	for _, p := range payload {
		f = append(f, p...)
	}
	return f
}

// set returns a copy of f with bytes at off replaced.
func set(f []byte, off int, b ...byte) []byte {
	out := append([]byte(nil), f...)
	copy(out[off:], b)
	return out
}

func set16(f []byte, off int, v uint16) []byte {
	return set(f, off, byte(v>>8), byte(v))
}

// Extension headers, raw. ext has (hdrLen+1)*8 bytes, ah (ahLen+2)*4.
func ext(nh uint8, hdrLen uint8) gopacket.Payload {
	b := make([]byte, (int(hdrLen)+1)*8)
	b[0], b[1] = nh, hdrLen
	return b
}

func ah(nh uint8, ahLen uint8) gopacket.Payload {
	b := make([]byte, (int(ahLen)+2)*4)
	b[0], b[1] = nh, ahLen
	return b
}

// frag is a fragment header; offset is in 8-byte units.
func frag(nh uint8, offset uint16, more bool) gopacket.Payload {
	b := make([]byte, 8)
	b[0] = nh
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return b
}

// udpRaw and tcpRaw are L4 headers as bytes, for use after raw extension
// headers.
func udpRaw(s, d uint16) gopacket.Payload {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], s)
	binary.BigEndian.PutUint16(b[2:], d)
	binary.BigEndian.PutUint16(b[4:], 8)
	return b
}

func tcpRaw(s, d uint16) gopacket.Payload {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], s)
	binary.BigEndian.PutUint16(b[2:], d)
	b[12] = 5 << 4
	return b
}

func icmp6Raw(typ uint8) gopacket.Payload { return raw(typ, 0, 0, 0) }

// ndFrame is an ICMPv6 message of type typ from a link-local address.
func ndFrame(t testing.TB, typ uint8) []byte {
	ip := ipv6(layers.IPProtocolICMPv6)
	ip.SrcIP = ll6.AsSlice()
	ip.HopLimit = 255
	return serialize(t, ether(layers.EthernetTypeIPv6), ip, icmp6Raw(typ), zeros(20))
}

func arpFrame(t testing.TB) []byte {
	return serialize(t, ether(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: macA, SourceProtAddress: src4.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: dst4.AsSlice(),
	})
}
