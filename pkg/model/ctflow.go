package model

import (
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The flows connection tracking keeps, and how a packet names its flow.
// A flow is named from this host's side: its local address and port (or
// ICMP echo identifier) and its remote ones. A packet going out names its
// flow by source then destination, a packet coming in by destination then
// source, so both directions meet at one key.

// FlowKey names one tracked flow.
type FlowKey struct {
	Proto         uint8
	Local, Remote netip.Addr
	// LocalPort and RemotePort are TCP and UDP ports; an ICMP echo flow
	// keeps its identifier in LocalPort; other protocols have neither.
	LocalPort, RemotePort uint16
}

// flowKind is how a flow is kept and timed.
type flowKind uint8

const (
	kindGeneric flowKind = iota // any other protocol: addresses only
	kindTCP
	kindUDP
	kindEcho // ICMP or ICMPv6 echo, by identifier
)

// ICMP types that matter to connection tracking.
const (
	icmpEchoReply     = 0
	icmpUnreachable   = 3
	icmpEchoRequest   = 8
	icmpTimeExceeded  = 11
	icmpParamProblem  = 12
	icmp6Unreachable  = 1
	icmp6TooBig       = 2
	icmp6TimeExceeded = 3
	icmp6ParamProblem = 4
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129
)

// DHCP ports: a client's request goes from client to server port, from an
// address it may not have yet to a broadcast or multicast one, so its
// flow is kept by ports alone (dhcpKey).
const (
	dhcp4Client, dhcp4Server = 68, 67
	dhcp6Client, dhcp6Server = 546, 547
)

// dhcp6Servers is All_DHCP_Relay_Agents_and_Servers, where DHCPv6
// clients send.
var dhcp6Servers = netip.MustParseAddr("ff02::1:2")

// isError reports whether an ICMP type of the family is an error that
// quotes the packet it answers.
func isError(family rules.Family, typ uint8) bool {
	if family == rules.FamilyIPv4 {
		return typ == icmpUnreachable || typ == icmpTimeExceeded || typ == icmpParamProblem
	}
	return typ == icmp6Unreachable || typ == icmp6TooBig || typ == icmp6TimeExceeded || typ == icmp6ParamProblem
}

func echoTypes(family rules.Family) (request, reply uint8) {
	if family == rules.FamilyIPv4 {
		return icmpEchoRequest, icmpEchoReply
	}
	return icmp6EchoRequest, icmp6EchoReply
}

func icmpProto(family rules.Family) uint8 {
	if family == rules.FamilyIPv4 {
		return rules.ProtoICMP
	}
	return rules.ProtoICMPv6
}

// flowView is what connection tracking reads of a decoded packet: its
// flow seen from the side it travels (out: source is local), and what it
// says about that flow.
type flowView struct {
	key       FlowKey
	kind      flowKind
	ok        bool // the packet names a flow (IP, and ports or an echo id where its protocol has them)
	echoReply bool // an ICMP echo reply (else, for kindEcho, a request)
	tcpFlags  uint8
	seq, ack  uint32 // TCP's sequence and acknowledgement numbers
	dhcp      bool   // between the DHCP client and server ports (dhcpKey)
}

// viewOf names the flow of p, a packet of frame travelling out (source
// local) or in (destination local). Later fragments name none: they carry
// no ports (see Tracker.Ingress for how they are placed).
func viewOf(p *Packet, frame []byte, out bool) flowView {
	v := flowView{}
	fam := p.Family()
	if fam == rules.FamilyAny || !p.HasProto || p.Frag == rules.FragLater {
		return v
	}
	local, remote := p.Src, p.Dst
	if !out {
		local, remote = remote, local
	}
	v.key = FlowKey{Proto: p.Proto, Local: local, Remote: remote}
	switch {
	case p.HasPorts:
		lport, rport := p.Sport, p.Dport
		if !out {
			lport, rport = rport, lport
		}
		v.key.LocalPort, v.key.RemotePort = lport, rport
		v.kind = kindUDP
		if p.Proto == rules.ProtoTCP {
			v.kind, v.tcpFlags, v.seq, v.ack = kindTCP, p.TCPFlags, p.TCPSeq, p.TCPAck
		} else if k, ok := dhcpKey(fam, lport, rport); ok {
			// A request to the broadcast or DHCPv6 multicast address is
			// answered by whichever server takes it: kept by its ports.
			// A unicast renewal, and anything coming in, keeps its
			// addresses (Tracker.Ingress tries the ports' key second).
			v.dhcp = true
			if out && (p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || p.Dst == dhcp6Servers) {
				v.key = k
			}
		}
	case p.HasICMP && p.Proto == icmpProto(fam):
		req, rep := echoTypes(fam)
		if p.ICMPType != req && p.ICMPType != rep {
			return v // errors and the rest: not a flow of their own
		}
		id, ok := echoID(p, frame)
		if !ok {
			return v
		}
		v.key.LocalPort, v.kind, v.echoReply = id, kindEcho, p.ICMPType == rep
	case p.Proto == rules.ProtoTCP || p.Proto == rules.ProtoUDP || p.Proto == icmpProto(fam):
		return v // its header is missing: the decoder took no ports
	default:
		v.kind = kindGeneric
	}
	v.ok = true
	return v
}

// dhcpKey is the key of a DHCP exchange the host broadcast, by the ports
// of its request (client port local, server port remote) and the
// family's zero addresses: the request leaves from 0.0.0.0 or a
// link-local address for a broadcast or multicast one, and the reply
// comes from whichever server answers, to the offered address or
// broadcast.
func dhcpKey(fam rules.Family, lport, rport uint16) (FlowKey, bool) {
	client, server := uint16(dhcp4Client), uint16(dhcp4Server)
	zero := netip.IPv4Unspecified()
	if fam == rules.FamilyIPv6 {
		client, server, zero = dhcp6Client, dhcp6Server, netip.IPv6Unspecified()
	}
	if lport != client || rport != server {
		return FlowKey{}, false
	}
	return FlowKey{Proto: rules.ProtoUDP, Local: zero, Remote: zero, LocalPort: client, RemotePort: server}, true
}

// echoID is an ICMP echo message's identifier: bytes 4-5 of its header,
// when the datagram holds them.
func echoID(p *Packet, frame []byte) (uint16, bool) {
	if p.L4Off+8 > p.IPEnd || p.IPEnd > len(frame) {
		return 0, false
	}
	return be16(frame[p.L4Off+4:]), true
}

// quotedFlow is the flow an ICMP error of frame answers: the packet it
// quotes (after the 8-byte ICMP header) went out from this host, so its
// source is local. ok is false when the quote does not name a flow: too
// short, not the error's family, or a later fragment.
func quotedFlow(p *Packet, frame []byte) (FlowKey, bool) {
	if p.L4Off+8 > p.IPEnd || p.IPEnd > len(frame) {
		return FlowKey{}, false
	}
	quote := frame[p.L4Off+8 : p.IPEnd]
	var inner Packet
	switch p.Kind {
	case KindIPv4:
		inner.Kind = KindIPv4
		if !quotedIPv4(quote, &inner) {
			return FlowKey{}, false
		}
	case KindIPv6:
		inner.Kind = KindIPv6
		if !quotedIPv6(quote, &inner) {
			return FlowKey{}, false
		}
	default:
		return FlowKey{}, false
	}
	// The quote is a frame of its own from here: viewOf reads it with
	// offsets into quote.
	v := viewOf(&inner, quote, true)
	if !v.ok || v.kind == kindEcho && v.echoReply {
		return FlowKey{}, false
	}
	return v.key, true
}

// quotedIPv4 reads the IPv4 header and the first 8 bytes after it from a
// quote, which routers cut short: the datagram's lengths are not checked
// against it.
func quotedIPv4(q []byte, inner *Packet) bool {
	if len(q) < ipv4MinHeader || q[0]>>4 != 4 {
		return false
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < ipv4MinHeader || len(q) < ihl {
		return false
	}
	if be16(q[6:])&0x1fff != 0 {
		return false // a later fragment quotes no ports
	}
	inner.Src = netip.AddrFrom4([4]byte(q[12:16]))
	inner.Dst = netip.AddrFrom4([4]byte(q[16:20]))
	inner.Proto, inner.HasProto = q[9], true
	return quotedL4(q, ihl, inner)
}

// quotedIPv6 is quotedIPv4 for IPv6, walking the quoted extension chain.
func quotedIPv6(q []byte, inner *Packet) bool {
	if len(q) < ipv6HeaderLen || q[0]>>4 != 6 {
		return false
	}
	inner.Src = netip.AddrFrom16([16]byte(q[8:24]))
	inner.Dst = netip.AddrFrom16([16]byte(q[24:40]))
	var fragID uint32
	proto, l4, frag, err := walkIPv6Chain(q[ipv6HeaderLen:], q[6], &fragID)
	if err != nil || frag == rules.FragLater {
		return false
	}
	inner.Proto, inner.HasProto = proto, true
	return quotedL4(q, ipv6HeaderLen+l4, inner)
}

// quotedL4 takes the ports, or the ICMP type and echo identifier, from the
// 8 bytes at off in the quote.
func quotedL4(q []byte, off int, inner *Packet) bool {
	if off+8 > len(q) {
		return inner.Proto != rules.ProtoTCP && inner.Proto != rules.ProtoUDP && inner.Proto != icmpProto(inner.Family())
	}
	inner.L4Off, inner.IPEnd = off, off+8
	switch {
	case inner.Proto == rules.ProtoTCP || inner.Proto == rules.ProtoUDP:
		inner.HasPorts, inner.Sport, inner.Dport = true, be16(q[off:]), be16(q[off+2:])
	case inner.Proto == icmpProto(inner.Family()):
		inner.HasICMP, inner.ICMPType, inner.ICMPCode = true, q[off], q[off+1]
	}
	return true
}
