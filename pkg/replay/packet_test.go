package replay

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// parsePacket is the packet the conditions (rule language texts by key)
// describe.
func parsePacket(t *testing.T, conds map[string]string) (Packet, error) {
	t.Helper()
	var m rules.Match
	for _, c := range rules.Conditions {
		if s, ok := conds[c.Key]; ok {
			if err := c.Parse(&m, s); err != nil {
				t.Fatalf("%s %q: %v", c.Key, s, err)
			}
		}
	}
	return PacketOf(m)
}

// TestPacketFrame: the frame a described packet becomes decodes, as the
// reference model decodes frames, to every field described or defaulted,
// well formed, with its IP and L4 checksums right.
func TestPacketFrame(t *testing.T) {
	for _, c := range []struct {
		conds map[string]string
		want  string // Packet.String
	}{
		{map[string]string{}, "tcp 192.0.2.1:49152 > 198.51.100.1:80 flags [syn] dscp 0 ttl 64 length 54"},
		{map[string]string{"src": "203.0.113.5", "dport": "22", "tcp-flags": "syn,ack"}, "tcp 203.0.113.5:49152 > 198.51.100.1:22 flags [syn,ack] dscp 0 ttl 64 length 54"},
		{map[string]string{"proto": "udp", "sport": "53", "dst": "10.0.0.1", "length": "300", "vlan": "7"}, "vlan 7 udp 192.0.2.1:53 > 10.0.0.1:80 dscp 0 ttl 64 length 300"},
		{map[string]string{"family": "ipv6", "proto": "udp", "dscp": "ef", "ttl": "1"}, "udp [2001:db8::1]:49152 > [2001:db8::2]:80 dscp 46 ttl 1 length 62"},
		{map[string]string{"icmp-type": "destination-unreachable", "icmp-code": "3"}, "icmp 192.0.2.1 > 198.51.100.1 type 3 code 3 dscp 0 ttl 64 length 42"},
		{map[string]string{"dst": "2001:db8::9", "proto": "icmpv6"}, "icmpv6 2001:db8::1 > 2001:db8::9 type 128 code 0 dscp 0 ttl 64 length 62"},
		{map[string]string{"proto": "47", "vlan": "untagged"}, "proto 47 192.0.2.1 > 198.51.100.1 dscp 0 ttl 64 length 34"},
		// ICMPv6 with no address or family given: IPv6's defaults.
		{map[string]string{"icmpv6-type": "echo-request"}, "icmpv6 2001:db8::1 > 2001:db8::2 type 128 code 0 dscp 0 ttl 64 length 62"},
		{map[string]string{"proto": "icmpv6", "icmpv6-code": "1"}, "icmpv6 2001:db8::1 > 2001:db8::2 type 128 code 1 dscp 0 ttl 64 length 62"},
	} {
		p, err := parsePacket(t, c.conds)
		if err != nil {
			t.Fatalf("%v: %v", c.conds, err)
		}
		if got := p.String(); got != c.want {
			t.Errorf("%v: packet %q, want %q", c.conds, got, c.want)
		}
		frame, err := p.Frame()
		if err != nil {
			t.Fatalf("%v: %v", c.conds, err)
		}
		d := model.Decode(frame)
		wantVLAN := uint16(rules.VLANNone)
		if p.VLAN >= 0 {
			wantVLAN = uint16(p.VLAN)
		}
		switch {
		case d.Malformed:
			t.Errorf("%v: decodes malformed: %s", c.conds, d.Problem)
		case d.Src != p.Src || d.Dst != p.Dst || d.Proto != p.Proto || d.DSCP != p.DSCP || d.TTL != p.TTL || d.Len != len(frame) || d.VLAN[0] != wantVLAN:
			t.Errorf("%v: decodes to %+v", c.conds, d)
		case d.HasPorts && (d.Sport != p.Sport || d.Dport != p.Dport):
			t.Errorf("%v: ports %d > %d", c.conds, d.Sport, d.Dport)
		case d.HasTCPFlags && d.TCPFlags != p.TCPFlags:
			t.Errorf("%v: TCP flags %#x, want %#x", c.conds, d.TCPFlags, p.TCPFlags)
		case d.HasICMP && (d.ICMPType != p.ICMPType || d.ICMPCode != p.ICMPCode):
			t.Errorf("%v: ICMP %d/%d", c.conds, d.ICMPType, d.ICMPCode)
		}
		checkSums(t, frame, d)
	}
}

// checkSums checks the IPv4 header's checksum and the L4 one (TCP, UDP,
// ICMP, ICMPv6): each sums to all ones with its sum field in.
func checkSums(t *testing.T, frame []byte, d model.Packet) {
	t.Helper()
	if d.Src.Is4() {
		if c := checksum(0, frame[d.L3Off:d.L3Off+ip4Len]); c != 0 {
			t.Errorf("IPv4 header checksum off by %#x", c)
		}
	}
	l4 := frame[d.L4Off:]
	var sum uint32
	switch d.Proto {
	case rules.ProtoTCP, rules.ProtoUDP, rules.ProtoICMPv6:
		sum = pseudoSum(d.Src, d.Dst, d.Proto, len(l4))
	case rules.ProtoICMP:
	default:
		return
	}
	if c := checksum(sum, l4); c != 0 {
		t.Errorf("proto %d checksum off by %#x", d.Proto, c)
	}
	if d.Proto == rules.ProtoUDP && binary.BigEndian.Uint16(l4[6:]) == 0 {
		t.Error("UDP checksum 0 (none)")
	}
}

// TestPacketRefused: conditions that are no one packet's are refused in
// one line saying why, and so are frames that cannot be made.
func TestPacketRefused(t *testing.T) {
	for _, c := range []struct {
		conds map[string]string
		err   string
	}{
		{map[string]string{"src": "10.0.0.0/8"}, "--src 10.0.0.0/8 is a prefix"},
		{map[string]string{"dst": "@feed"}, "not a set"},
		{map[string]string{"dport": "1-1024"}, "--dport 1-1024 is a range"},
		{map[string]string{"ttl": "1-2"}, "--ttl 1-2 is a range"},
		{map[string]string{"src": "10.0.0.1", "dst": "2001:db8::1"}, "two families"},
		{map[string]string{"src": "10.0.0.1", "family": "ipv6"}, "two families"},
		{map[string]string{"proto": "icmp", "dport": "80"}, "ports are TCP's and UDP's"},
		{map[string]string{"ct-state": "new"}, "ct-state is not a field of a packet"},
		{map[string]string{"fragment": "first"}, "fragments are not described"},
		{map[string]string{"inner-vlan": "5", "vlan": "4"}, "double-tagged"},
		{map[string]string{"src": "::ffff:203.0.113.5"}, "--src ::ffff:203.0.113.5 is IPv4 203.0.113.5 written as IPv6 (IPv4-mapped): the packet would be a crafted IPv6 one, never the IPv4 client's (write 203.0.113.5)"},
		{map[string]string{"dst": "::ffff:10.0.0.1", "src": "::ffff:10.0.0.2"}, "(write 10.0.0.2)"},
	} {
		_, err := parsePacket(t, c.conds)
		if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", c.conds, err, c.err)
		}
	}
	for _, c := range []struct {
		p   Packet
		err string
	}{
		{Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: rules.ProtoICMPv6, VLAN: -1}, "icmpv6 is IPv6's"},
		{Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), Proto: rules.ProtoICMP, VLAN: -1}, "icmp is IPv4's"},
		{Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), Proto: 44, VLAN: -1}, "extension header"},
		{Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), Proto: 51, VLAN: -1}, "extension header"}, // AH
		{Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: rules.ProtoTCP, VLAN: -1, Length: 40}, "less than the packet's headers (54 bytes)"},
		{Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: rules.ProtoTCP, VLAN: -1, Length: 14 + 65536}, "more than an IP packet's length field says (at most 65549 bytes here)"},
	} {
		_, err := c.p.Frame()
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: error %v, want %q", c.p, err, c.err)
		}
	}
}
