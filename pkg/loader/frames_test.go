package loader

import (
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Frame builders for table-driven tests: small and explicit, so each case
// reads as the packet it sends.

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func udp4(src, dst string, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload("hello"))
}

func tcp4(src, dst string, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
	tc.SetNetworkLayerForChecksum(ip)
	return serialize(eth(layers.EthernetTypeIPv4), ip, tc)
}

func icmp4(src, dst string) []byte {
	return serialize(eth(layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)},
		gopacket.Payload("ping"))
}

func udp6(src, dst string, sport, dport uint16) []byte {
	ip := ip6(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(eth(layers.EthernetTypeIPv6), ip, u, gopacket.Payload("hello"))
}

func tcp6(src, dst string, sport, dport uint16) []byte {
	ip := ip6(src, dst, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
	tc.SetNetworkLayerForChecksum(ip)
	return serialize(eth(layers.EthernetTypeIPv6), ip, tc)
}

// icmp6 builds an ICMPv6 message of the given type (135 is a neighbour
// solicitation, 128 an echo request).
func icmp6(src, dst string, typ uint8) []byte {
	ip := ip6(src, dst, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	return serialize(eth(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(make([]byte, 20)))
}

func arp() []byte {
	return serialize(eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: macA, SourceProtAddress: net.IP{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 0, 0, 2},
	})
}

// truncated cuts a frame to n bytes.
func truncated(f []byte, n int) []byte { return f[:n] }
