package model

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Expected packets for the well-formed cases.
func pkt4(proto uint8) Packet {
	return Packet{Kind: KindIPv4, EtherType: 0x0800, Src: src4, Dst: dst4, Proto: proto, HasProto: true}
}

func pkt6(proto uint8) Packet {
	return Packet{Kind: KindIPv6, EtherType: 0x86DD, Src: src6, Dst: dst6, Proto: proto, HasProto: true}
}

func withPorts(p Packet, s, d uint16) Packet {
	p.HasPorts, p.Sport, p.Dport = true, s, d
	return p
}

func fragment(p Packet) Packet {
	p.Frag = rules.FragLater
	return p
}

// baseView keeps the fields the cases above spell out: frame class,
// addresses, protocol, ports, ND and later fragments. The fields of the
// richer matches are checked by TestDecodeMatchFields.
func baseView(p Packet) Packet {
	q := Packet{Kind: p.Kind, Malformed: p.Malformed, Problem: p.Problem, EtherType: p.EtherType,
		VLANTags: p.VLANTags, Src: p.Src, Dst: p.Dst, Proto: p.Proto, HasProto: p.HasProto,
		HasPorts: p.HasPorts, Sport: p.Sport, Dport: p.Dport, ND: p.ND}
	if p.Frag == rules.FragLater {
		q.Frag = rules.FragLater
	}
	return q
}

func tagged(p Packet, n int) Packet {
	p.VLANTags = n
	return p
}

type decodeCase struct {
	name  string
	frame []byte
	want  Packet // for well-formed frames
	bad   string // for malformed frames: a substring of Problem
}

// decodeCases covers every clause of docs/design.md "Packet semantics".
func decodeCases(t testing.TB) []decodeCase {
	tcp4 := v4(t, layers.IPProtocolTCP, tcp(1234, 80))
	udp6 := v6(t, layers.IPProtocolUDP, udp(5353, 53))
	opts4 := ipv4(layers.IPProtocolTCP)
	opts4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	withOpts := serialize(t, ether(layers.EthernetTypeIPv4), opts4, tcp(1, 2))
	mf := ipv4(layers.IPProtocolTCP)
	mf.Flags = layers.IPv4MoreFragments
	nonFirst := ipv4(layers.IPProtocolTCP)
	nonFirst.FragOffset = 185
	nonFirstUDP := ipv4(layers.IPProtocolUDP)
	nonFirstUDP.FragOffset = 1
	nd := func(typ uint8) Packet {
		p := pkt6(58)
		p.Src = ll6
		p.ND = typ >= 133 && typ <= 137
		return p
	}

	// chain(n) is n extension headers (alternating types) then UDP.
	chain := func(n int, last uint8, tail ...gopacket.SerializableLayer) []gopacket.SerializableLayer {
		types := []uint8{0, 60, 43, 60, 43, 60, 43, 60, 43, 60}
		var ls []gopacket.SerializableLayer
		for i := 1; i < n; i++ {
			ls = append(ls, ext(types[i], 0))
		}
		ls = append(ls, ext(last, 0))
		return append(ls, tail...)
	}

	return []decodeCase{
		// Ethernet and VLAN.
		{name: "empty", frame: nil, bad: "ethernet: frame of 0 bytes"},
		{name: "13 bytes", frame: tcp4[:13], bad: "ethernet: frame of 13 bytes"},
		{name: "14 bytes, other", frame: rawFrame(0x88CC), want: Packet{EtherType: 0x88CC}},
		{name: "lldp", frame: serialize(t, ether(layers.EthernetTypeLinkLayerDiscovery), zeros(30)), want: Packet{Kind: KindOther, EtherType: 0x88CC}},
		{name: "802.3 length field", frame: rawFrame(0x002e, make([]byte, 46)), want: Packet{EtherType: 0x002e}},
		{name: "arp", frame: arpFrame(t), want: Packet{Kind: KindARP, EtherType: 0x0806}},
		{name: "arp, no body", frame: rawFrame(0x0806), want: Packet{Kind: KindARP, EtherType: 0x0806}},
		{name: "vlan ipv4", frame: serialize(t, ether(layers.EthernetTypeDot1Q), dot1q(10, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(1, 2)),
			want: tagged(withPorts(pkt4(17), 1, 2), 1)},
		{name: "qinq ipv6", frame: serialize(t, ether(layers.EthernetTypeQinQ), dot1q(10, layers.EthernetTypeDot1Q), dot1q(20, layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcp(3, 4)),
			want: tagged(withPorts(pkt6(6), 3, 4), 2)},
		{name: "two 8100 tags", frame: serialize(t, ether(layers.EthernetTypeDot1Q), dot1q(1, layers.EthernetTypeDot1Q), dot1q(2, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp(5, 6)),
			want: tagged(withPorts(pkt4(6), 5, 6), 2)},
		{name: "88a8 inner tag", frame: serialize(t, ether(layers.EthernetTypeDot1Q), dot1q(1, layers.EthernetTypeQinQ), dot1q(2, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp(5, 6)),
			want: tagged(withPorts(pkt4(6), 5, 6), 2)},
		{name: "vlan arp", frame: serialize(t, ether(layers.EthernetTypeDot1Q), dot1q(1, layers.EthernetTypeARP), zeros(28)),
			want: tagged(Packet{Kind: KindARP, EtherType: 0x0806}, 1)},
		{name: "vlan other", frame: rawFrame(0x8100, []byte{0, 1, 0x88, 0xb5}),
			want: tagged(Packet{Kind: KindOther, EtherType: 0x88b5}, 1)},
		{name: "vlan tag missing", frame: rawFrame(0x8100), bad: "vlan: tag 1 truncated"},
		{name: "vlan tag 3 bytes", frame: rawFrame(0x8100, []byte{0, 1, 8}), bad: "vlan: tag 1 truncated"},
		{name: "88a8 tag missing", frame: rawFrame(0x88A8), bad: "vlan: tag 1 truncated"},
		{name: "second tag truncated", frame: rawFrame(0x88A8, []byte{0, 1, 0x81, 0x00, 0}), bad: "vlan: tag 2 truncated"},
		{name: "third tag", frame: rawFrame(0x8100, []byte{0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00}, make([]byte, 40)), bad: "vlan: a third tag"},
		{name: "third tag 88a8", frame: rawFrame(0x88A8, []byte{0, 1, 0x81, 0x00, 0, 2, 0x88, 0xA8}), bad: "vlan: a third tag"},

		// IPv4.
		{name: "ipv4 tcp (padded to 60)", frame: tcp4, want: withPorts(pkt4(6), 1234, 80)},
		{name: "ipv4 udp, long padding", frame: append(v4(t, layers.IPProtocolUDP, udp(53, 5353), zeros(30)), make([]byte, 100)...),
			want: withPorts(pkt4(17), 53, 5353)},
		{name: "ipv4 icmp", frame: v4(t, layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}), want: pkt4(1)},
		{name: "ipv4 icmp 4 bytes", frame: rawFrame(0x0800, ipv4Raw(24, 1), []byte{8, 0, 0, 0}), want: pkt4(1)},
		{name: "ipv4 gre, empty", frame: v4(t, layers.IPProtocolGRE), want: pkt4(47)},
		{name: "ipv4 icmpv6 number, 1 byte", frame: v4(t, layers.IPProtocolICMPv6, raw(135)), want: pkt4(58)},
		{name: "ipv4 options", frame: withOpts, want: withPorts(pkt4(6), 1, 2)},
		{name: "ipv4 options gopacket rejects", frame: set(withOpts, l3+20, 0x44, 0xff), want: withPorts(pkt4(6), 1, 2)},
		{name: "ipv4 IHL 15", frame: rawFrame(0x0800, ipv4Raw(60+8, 17, 15), udpRaw(7, 8)), want: withPorts(pkt4(17), 7, 8)},
		{name: "ipv4 first fragment", frame: serialize(t, ether(layers.EthernetTypeIPv4), mf, tcp(9, 10)), want: withPorts(pkt4(6), 9, 10)},
		{name: "ipv4 first fragment, tcp truncated", frame: serialize(t, ether(layers.EthernetTypeIPv4), mf, zeros(8)), bad: "tcp: header truncated"},
		{name: "ipv4 non-first fragment", frame: serialize(t, ether(layers.EthernetTypeIPv4), nonFirst, zeros(3)), want: fragment(pkt4(6))},
		{name: "ipv4 non-first fragment, offset 1, empty", frame: serialize(t, ether(layers.EthernetTypeIPv4), nonFirstUDP), want: fragment(pkt4(17))},
		{name: "ipv4 version 6", frame: set(tcp4, l3, 0x65), bad: "ipv4: version 6"},
		{name: "ipv4 IHL 4", frame: set(tcp4, l3, 0x44), bad: "ipv4: IHL 4 below 5"},
		{name: "ipv4 IHL 0", frame: set(tcp4, l3, 0x40), bad: "ipv4: IHL 0 below 5"},
		{name: "ipv4 header truncated", frame: rawFrame(0x0800, ipv4Raw(20, 6)[:19]), bad: "ipv4: header truncated (19 bytes"},
		{name: "ipv4 total length beyond frame", frame: set16(tcp4, l3+2, uint16(len(tcp4)-l3+1)), bad: "ipv4: total length 47 beyond the frame (46 bytes)"},
		{name: "ipv4 total length = frame", frame: set16(tcp4, l3+2, uint16(len(tcp4)-l3)), want: withPorts(pkt4(6), 1234, 80)},
		{name: "ipv4 total length 0", frame: set16(tcp4, l3+2, 0), bad: "ipv4: total length 0 below header length 20"},
		{name: "ipv4 total length < IHL*4", frame: set16(withOpts, l3+2, 20), bad: "ipv4: total length 20 below header length 24"},
		{name: "ipv4 tcp truncated by total length, not frame", frame: v4(t, layers.IPProtocolTCP, zeros(19)), bad: "tcp: header truncated (19 bytes, need 20)"},
		{name: "ipv4 tcp doff 4", frame: set(tcp4, l3+20+12, 0x40), bad: "tcp: data offset 4 below 5"},
		{name: "ipv4 tcp doff 6 beyond packet", frame: set(tcp4, l3+20+12, 0x60), bad: "tcp: data offset 6 (24 bytes) beyond the packet (20 bytes)"},
		{name: "ipv4 tcp doff 15 with options", frame: set(v4(t, layers.IPProtocolTCP, tcpRaw(1, 2), zeros(40)), l3+20+12, 0xf0), want: withPorts(pkt4(6), 1, 2)},
		{name: "ipv4 udp 7 bytes", frame: v4(t, layers.IPProtocolUDP, zeros(7)), bad: "udp: header truncated (7 bytes, need 8)"},
		{name: "ipv4 udp length field 3", frame: set16(v4(t, layers.IPProtocolUDP, udp(1, 2)), l3+20+4, 3), want: withPorts(pkt4(17), 1, 2)},
		{name: "ipv4 icmp 3 bytes", frame: v4(t, layers.IPProtocolICMPv4, zeros(3)), bad: "icmp: header truncated (3 bytes, need 4)"},

		// IPv6.
		{name: "ipv6 udp", frame: udp6, want: withPorts(pkt6(17), 5353, 53)},
		{name: "ipv6 padding", frame: append(append([]byte{}, udp6...), 1, 2, 3, 4), want: withPorts(pkt6(17), 5353, 53)},
		{name: "ipv6 no next header, empty", frame: v6(t, layers.IPProtocolNoNextHeader), want: pkt6(59)},
		{name: "ipv6 icmp(1), empty", frame: v6(t, layers.IPProtocolICMPv4), want: pkt6(1)},
		{name: "ipv6 hop-by-hop", frame: v6(t, 0, ext(17, 0), udpRaw(1, 2)), want: withPorts(pkt6(17), 1, 2)},
		{name: "ipv6 routing", frame: v6(t, 43, ext(6, 2), tcpRaw(3, 4)), want: withPorts(pkt6(6), 3, 4)},
		{name: "ipv6 destination options", frame: v6(t, 60, ext(17, 1), udpRaw(5, 6)), want: withPorts(pkt6(17), 5, 6)},
		{name: "ipv6 AH", frame: v6(t, 51, ah(17, 4), udpRaw(7, 8)), want: withPorts(pkt6(17), 7, 8)},
		{name: "ipv6 AH, 12 bytes", frame: v6(t, 51, ah(6, 1), tcpRaw(7, 8)), want: withPorts(pkt6(6), 7, 8)},
		{name: "ipv6 first fragment", frame: v6(t, 44, frag(17, 0, true), udpRaw(9, 10)), want: withPorts(pkt6(17), 9, 10)},
		{name: "ipv6 first fragment, udp truncated", frame: v6(t, 44, frag(17, 0, true), zeros(7)), bad: "udp: header truncated"},
		{name: "ipv6 non-first fragment", frame: v6(t, 44, frag(17, 1, false), zeros(3)), want: fragment(pkt6(17))},
		{name: "ipv6 non-first fragment, no payload", frame: v6(t, 44, frag(6, 8191, true)), want: fragment(pkt6(6))},
		{name: "ipv6 non-first fragment after hop-by-hop", frame: v6(t, 0, ext(44, 0), frag(58, 100, true), raw(135)), want: fragment(pkt6(58))},
		{name: "ipv6 non-first fragment names an ext header", frame: v6(t, 44, frag(60, 2, false)), want: fragment(pkt6(60))},
		{name: "ipv6 fragment reserved bits only", frame: set(v6(t, 44, frag(17, 0, false), udpRaw(1, 2)), l3+40+3, 0x06), want: withPorts(pkt6(17), 1, 2)},
		{name: "ipv6 chain of 8", frame: v6(t, 0, chain(8, 17, udpRaw(11, 12))...), want: withPorts(pkt6(17), 11, 12)},
		{name: "ipv6 chain of 8, last a non-first fragment", frame: v6(t, 0, chain(7, 44, frag(6, 3, false))...), want: fragment(pkt6(6))},
		{name: "ipv6 chain of 9", frame: v6(t, 0, chain(9, 17, udpRaw(11, 12))...), bad: "ipv6: more than 8 extension headers"},
		{name: "ipv6 chain of 8 then a fragment", frame: v6(t, 0, chain(8, 44, frag(6, 3, false))...), bad: "ipv6: more than 8 extension headers"},
		{name: "ipv6 header truncated", frame: rawFrame(0x86DD, make([]byte, 39)), bad: "ipv6: header truncated (39 bytes"},
		{name: "ipv6 version 4", frame: set(udp6, l3, 0x40), bad: "ipv6: version 4"},
		{name: "ipv6 payload length beyond frame", frame: set16(udp6, l3+4, uint16(len(udp6)-l3-40+1)), bad: "ipv6: payload length 9 beyond the frame (8 bytes"},
		{name: "ipv6 ext header truncated", frame: v6(t, 0, zeros(7)), bad: "ipv6: extension header 1 (type 0) at payload offset 0 truncated (payload length 7)"},
		{name: "ipv6 fragment header truncated", frame: v6(t, 0, ext(44, 0), zeros(4)), bad: "ipv6: extension header 2 (type 44) at payload offset 8 truncated"},
		{name: "ipv6 ext header overruns payload", frame: v6(t, 0, ext(59, 1)[:8]), bad: "ipv6: extension headers end at payload offset 16, beyond payload length 8"},
		{name: "ipv6 ext overrun, then another", frame: v6(t, 60, ext(43, 1)[:8], zeros(4)), bad: "ipv6: extension header 2 (type 43) at payload offset 16 truncated"},
		{name: "ipv6 AH overruns payload", frame: v6(t, 51, ah(59, 10)[:24]), bad: "ipv6: extension headers end at payload offset 48, beyond payload length 24"},
		{name: "ipv6 exact end after ext", frame: v6(t, 60, ext(59, 1)), want: pkt6(59)},
		{name: "ipv6 tcp truncated by payload length, not frame", frame: append(v6(t, layers.IPProtocolTCP, zeros(19)), make([]byte, 10)...), bad: "tcp: header truncated (19 bytes, need 20)"},
		{name: "ipv6 tcp after ext, doff beyond", frame: set(v6(t, 0, ext(6, 0), tcpRaw(1, 2)), l3+40+8+12, 0x60), bad: "tcp: data offset 6"},
		{name: "ipv6 icmpv6 3 bytes", frame: v6(t, layers.IPProtocolICMPv6, zeros(3)), bad: "icmpv6: header truncated (3 bytes, need 4)"},
		{name: "ipv6 icmpv6 after ext, 4 bytes", frame: v6(t, 0, ext(58, 0), icmp6Raw(136)), want: func() Packet { p := pkt6(58); p.ND = true; return p }()},

		// Neighbour discovery: ICMPv6 types 133-137 only.
		{name: "nd 133 router solicitation", frame: ndFrame(t, 133), want: nd(133)},
		{name: "nd 134 router advertisement", frame: ndFrame(t, 134), want: nd(134)},
		{name: "nd 135 neighbour solicitation", frame: ndFrame(t, 135), want: nd(135)},
		{name: "nd 136 neighbour advertisement", frame: ndFrame(t, 136), want: nd(136)},
		{name: "nd 137 redirect", frame: ndFrame(t, 137), want: nd(137)},
		{name: "icmpv6 128 echo", frame: ndFrame(t, 128), want: nd(128)},
		{name: "icmpv6 132 (MLD done)", frame: ndFrame(t, 132), want: nd(132)},
		{name: "icmpv6 138", frame: ndFrame(t, 138), want: nd(138)},
	}
}

// ipv4Raw is a 20-byte IPv4 header (more with ihl) with the given total
// length and protocol, not a fragment.
func ipv4Raw(total int, proto uint8, ihl ...int) []byte {
	n := 5
	if len(ihl) > 0 {
		n = ihl[0]
	}
	h := make([]byte, n*4)
	h[0] = 0x40 | byte(n)
	h[2], h[3] = byte(total>>8), byte(total)
	h[8] = 64
	h[9] = proto
	copy(h[12:], src4.AsSlice())
	copy(h[16:], dst4.AsSlice())
	return h
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases(t) {
		got := Decode(tc.frame)
		if tc.bad != "" {
			if !got.Malformed || !strings.Contains(got.Problem, tc.bad) {
				t.Errorf("%s: got Malformed=%v Problem=%q, want malformed with %q", tc.name, got.Malformed, got.Problem, tc.bad)
			}
			continue
		}
		if baseView(got) != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, baseView(got), tc.want)
		}
	}
}

// TestDecodeAgreesWithGopacket cross-checks addresses and ports with
// gopacket's own full decoding on frames both consider well formed. It
// guards the byte offsets, not the contract (gopacket is not the contract).
func TestDecodeAgreesWithGopacket(t *testing.T) {
	checked := 0
	for _, tc := range decodeCases(t) {
		if tc.bad != "" || tc.want.Frag == rules.FragLater {
			continue
		}
		pkt := gopacket.NewPacket(tc.frame, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.ErrorLayer() != nil {
			continue
		}
		got := Decode(tc.frame)
		checkTagsAndICMPv6(t, tc.name, pkt, got)
		if nl := pkt.NetworkLayer(); nl != nil && got.HasProto {
			s, d := nl.NetworkFlow().Endpoints()
			if s.String() != got.Src.String() || d.String() != got.Dst.String() {
				t.Errorf("%s: addresses %v>%v, gopacket %v>%v", tc.name, got.Src, got.Dst, s, d)
			}
		}
		if tl := pkt.TransportLayer(); tl != nil && got.HasPorts {
			s, d := tl.TransportFlow().Endpoints()
			if s.String() != itoa(got.Sport) || d.String() != itoa(got.Dport) {
				t.Errorf("%s: ports %d>%d, gopacket %v>%v", tc.name, got.Sport, got.Dport, s, d)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("only %d frames cross-checked", checked)
	}
}

// checkTagsAndICMPv6 compares the VLAN IDs and the ICMPv6 type and code
// Decode read with gopacket's Dot1Q and ICMPv6 layers of the same frame.
func checkTagsAndICMPv6(t *testing.T, name string, pkt gopacket.Packet, got Packet) {
	t.Helper()
	tags := 0
	for _, l := range pkt.Layers() {
		if tag, ok := l.(*layers.Dot1Q); ok && tags < maxVLANTags {
			if got.VLAN[tags] != tag.VLANIdentifier {
				t.Errorf("%s: tag %d VLAN %d, gopacket %d", name, tags+1, got.VLAN[tags], tag.VLANIdentifier)
			}
			tags++
		}
	}
	if tags != int(got.VLANTags) {
		t.Errorf("%s: %d tags, gopacket %d", name, got.VLANTags, tags)
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && got.Kind == KindIPv6 {
		if !got.HasICMP || got.ICMPType != l.TypeCode.Type() || got.ICMPCode != l.TypeCode.Code() {
			t.Errorf("%s: icmpv6 %v %d/%d, gopacket %d/%d", name, got.HasICMP, got.ICMPType, got.ICMPCode, l.TypeCode.Type(), l.TypeCode.Code())
		}
	}
}

// TestDecodeTagControl: a tag's priority and DEI bits are not its VLAN ID,
// and an ICMPv6 code is its second byte, not the checksum's.
func TestDecodeTagControl(t *testing.T) {
	outer := &layers.Dot1Q{Priority: 7, DropEligible: true, VLANIdentifier: 0xabc, Type: layers.EthernetTypeDot1Q}
	inner := &layers.Dot1Q{Priority: 5, VLANIdentifier: 1, Type: layers.EthernetTypeIPv6}
	frame := serialize(t, ether(layers.EthernetTypeQinQ), outer, inner, ipv6(layers.IPProtocolICMPv6), raw(1, 4, 0x12, 0x34))
	got := Decode(frame)
	if got.Malformed || got.VLANTags != 2 || got.VLAN != [2]uint16{0xabc, 1} {
		t.Fatalf("tags %d %v (malformed %v), want 2 [2748 1]", got.VLANTags, got.VLAN, got.Malformed)
	}
	if !got.HasICMP || got.ICMPType != 1 || got.ICMPCode != 4 {
		t.Errorf("icmpv6 %v %d/%d, want 1/4", got.HasICMP, got.ICMPType, got.ICMPCode)
	}
	checkTagsAndICMPv6(t, "priority tags", gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default), got)
}

func itoa(v uint16) string { return rules.PortRange{Set: true, Lo: v, Hi: v}.String() }

// FuzzDecode checks that Decode never panics and that its output is
// self-consistent. `go test` runs the seeds; `go test -fuzz=FuzzDecode`
// explores.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases(f) {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p := Decode(frame)
		if p.Malformed != (p.Problem != "") {
			t.Fatalf("Malformed=%v but Problem=%q", p.Malformed, p.Problem)
		}
		if p.Malformed {
			return
		}
		if p.HasPorts && (p.Frag == rules.FragLater || (p.Proto != rules.ProtoTCP && p.Proto != rules.ProtoUDP)) {
			t.Fatalf("ports on %+v", p)
		}
		if p.ND && (p.Kind != KindIPv6 || p.Proto != rules.ProtoICMPv6 || p.Frag == rules.FragLater) {
			t.Fatalf("ND on %+v", p)
		}
		if p.HasProto != (p.Kind == KindIPv4 || p.Kind == KindIPv6) {
			t.Fatalf("HasProto on %+v", p)
		}
		if p.HasProto && (p.Src.Is4() != (p.Kind == KindIPv4) || !p.Dst.IsValid()) {
			t.Fatalf("addresses on %+v", p)
		}
		if !p.HasProto && (p.Src != netip.Addr{} || p.HasPorts) {
			t.Fatalf("non-IP with IP fields: %+v", p)
		}
	})
}
