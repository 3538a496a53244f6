package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Summary is the frame in one line, as tcpdump would sum it up: VLAN
// tags, protocol, addresses and ports, ICMP type and code, or what the
// frame is when it is not IP ("tcp 192.0.2.1:1234 > 198.51.100.2:22").
func (p *Packet) Summary() string {
	var b strings.Builder
	if p.VLANTags > 0 {
		fmt.Fprintf(&b, "vlan %d", p.VLAN[0])
		if p.VLANTags > 1 {
			fmt.Fprintf(&b, "/%d", p.VLAN[1])
		}
		b.WriteByte(' ')
	}
	switch {
	case p.Malformed:
		fmt.Fprintf(&b, "malformed: %s", p.Problem)
	case p.Kind == KindARP:
		b.WriteString("arp")
	case !p.HasProto:
		fmt.Fprintf(&b, "ethertype 0x%04x", p.EtherType)
	default:
		proto := rules.Proto{Set: true, Num: p.Proto}.String()
		if proto == strconv.Itoa(int(p.Proto)) {
			proto = "proto " + proto // a bare number would read as an address
		}
		b.WriteString(proto)
		if p.HasPorts {
			fmt.Fprintf(&b, " %s > %s", netip.AddrPortFrom(p.Src, p.Sport), netip.AddrPortFrom(p.Dst, p.Dport))
		} else {
			fmt.Fprintf(&b, " %s > %s", p.Src, p.Dst)
		}
		if p.HasICMP {
			fmt.Fprintf(&b, " type %d code %d", p.ICMPType, p.ICMPCode)
		}
		if p.Frag == rules.FragLater {
			b.WriteString(" (later fragment)")
		}
	}
	return b.String()
}
