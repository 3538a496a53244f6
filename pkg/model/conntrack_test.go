package model

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpfw/xdpfw/internal/fixtures"
)

// ctPkt builds frames for the connection-tracking tests: IPv4 or IPv6 by
// the addresses' family.
type ctPkt struct {
	t        *testing.T
	src, dst string
}

func (b ctPkt) ip(proto layers.IPProtocol) (gopacket.SerializableLayer, gopacket.NetworkLayer, layers.EthernetType) {
	s, d := net.ParseIP(b.src), net.ParseIP(b.dst)
	if netip.MustParseAddr(b.src).Is4() {
		l := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: s.To4(), DstIP: d.To4(), Id: 1}
		return l, l, layers.EthernetTypeIPv4
	}
	l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s, DstIP: d}
	return l, l, layers.EthernetTypeIPv6
}

// frame is Ethernet, the IP header and rest; l4 layers get their
// checksum's network layer.
func (b ctPkt) frame(proto layers.IPProtocol, rest ...gopacket.SerializableLayer) []byte {
	l3, nl, et := b.ip(proto)
	for _, l := range rest {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			c.SetNetworkLayerForChecksum(nl)
		}
	}
	return serialize(b.t, append([]gopacket.SerializableLayer{ether(et), l3}, rest...)...)
}

func (b ctPkt) tcp(sport, dport uint16, flags string) []byte {
	return fixtures.Peer{Src: b.src, Dst: b.dst}.TCP(sport, dport, flags)
}

// tcpRaw is a segment with the flag byte flags and the given numbers.
func (b ctPkt) tcpRaw(sport, dport uint16, flags uint8, seq, ack uint32) []byte {
	return fixtures.Peer{Src: b.src, Dst: b.dst}.TCPRaw(sport, dport, flags, seq, ack)
}

func (b ctPkt) udp(sport, dport uint16) []byte {
	return b.frame(layers.IPProtocolUDP, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("dns?"))
}

func (b ctPkt) is6() bool { return !netip.MustParseAddr(b.src).Is4() }

// echo is an echo request or reply with identifier id.
func (b ctPkt) echo(id uint16, reply bool) []byte {
	if b.is6() {
		typ := uint8(icmp6EchoRequest)
		if reply {
			typ = icmp6EchoReply
		}
		return b.frame(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)},
			&layers.ICMPv6Echo{Identifier: id, SeqNumber: 1})
	}
	typ := uint8(icmpEchoRequest)
	if reply {
		typ = icmpEchoReply
	}
	return b.frame(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: 1})
}

// icmpError is an ICMP error of type typ quoting quoted's IP packet (the
// frame without its Ethernet header).
func (b ctPkt) icmpError(typ uint8, quoted []byte) []byte {
	if b.is6() {
		return b.frame(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)},
			gopacket.Payload(append(make([]byte, 4), quoted[14:]...)))
	}
	return b.frame(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0)},
		gopacket.Payload(quoted[14:]))
}

// udpFragment is a fragment of a UDP datagram with identification id:
// the first (with the UDP header, more to come) or a later one.
func (b ctPkt) udpFragment(sport, dport uint16, id uint32, first bool) []byte {
	if b.is6() {
		l3, _, et := b.ip(layers.IPProtocolIPv6Fragment)
		// The fragment header: next header, reserved, offset (8-byte
		// units) << 3 | more fragments, identification.
		fh := []byte{uint8(layers.IPProtocolUDP), 0, 0, 1, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
		if !first {
			fh[3] = 4 << 3
			return serialize(b.t, ether(et), l3, gopacket.Payload(append(fh, "rest of it"...)))
		}
		udpHdr := []byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport), 0, 16, 0, 0}
		return serialize(b.t, ether(et), l3, gopacket.Payload(append(append(fh, udpHdr...), "part one"...)))
	}
	l3, _, et := b.ip(layers.IPProtocolUDP)
	ip := l3.(*layers.IPv4)
	ip.Id = uint16(id)
	if first {
		ip.Flags = layers.IPv4MoreFragments
		return serialize(b.t, ether(et), ip, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("part one"))
	}
	ip.FragOffset = 4
	return serialize(b.t, ether(et), ip, gopacket.Payload("rest of it"))
}

// ctStep is one packet through the tracker: out learns, in is placed.
type ctStep struct {
	name  string
	out   bool
	frame []byte
	at    time.Duration
	want  CTState // in only
}

func runSteps(t *testing.T, tr *Tracker, steps []ctStep) {
	t.Helper()
	for _, s := range steps {
		p := Decode(s.frame)
		if p.Malformed {
			t.Fatalf("%s: frame malformed: %s", s.name, p.Problem)
		}
		if s.out {
			tr.Egress(&p, s.frame, s.at)
			continue
		}
		if got := tr.Ingress(&p, s.frame, s.at); got != s.want {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
	}
}

// Both families run every scenario: local is this host, remote a server,
// other a third party.
type ctFamily struct{ name, local, remote, other string }

var ctFamilies = []ctFamily{
	{"ipv4", "192.0.2.10", "198.51.100.1", "203.0.113.9"},
	{"ipv6", "2001:db8::10", "2001:db8:1::1", "2001:db8:2::9"},
}

// eachFamily runs steps, made for the family, through a new tracker; out
// builds packets from local to remote, in from remote to local.
func eachFamily(t *testing.T, steps func(t *testing.T, fam ctFamily, out, in ctPkt) []ctStep) {
	for _, fam := range ctFamilies {
		t.Run(fam.name, func(t *testing.T) {
			out, in := ctPkt{t, fam.local, fam.remote}, ctPkt{t, fam.remote, fam.local}
			runSteps(t, NewTracker(DefaultCTConfig()), steps(t, fam, out, in))
		})
	}
}

func TestConntrackTCP(t *testing.T) {
	for _, fam := range ctFamilies {
		t.Run(fam.name, func(t *testing.T) {
			out, in := ctPkt{t, fam.local, fam.remote}, ctPkt{t, fam.remote, fam.local}
			stranger := ctPkt{t, fam.other, fam.local}
			tr := NewTracker(DefaultCTConfig())
			runSteps(t, tr, []ctStep{
				{name: "SYN-ACK before any SYN", frame: in.tcp(443, 40000, "SA"), want: CTInvalid},
				{name: "SYN out", out: true, frame: out.tcp(40000, 443, "S")},
				{name: "SYN-ACK back", frame: in.tcp(443, 40000, "SA"), at: time.Second, want: CTEstablished},
				{name: "data back", frame: in.tcp(443, 40000, "A"), at: 2 * time.Second, want: CTEstablished},
				{name: "the same ports from another host", frame: stranger.tcp(443, 40000, "A"), want: CTInvalid},
				{name: "another local port (ACK scan)", frame: in.tcp(443, 40001, "A"), want: CTInvalid},
				{name: "a SYN to a local service", frame: in.tcp(50000, 22, "S"), want: CTNew},
				{name: "SYN with FIN", frame: in.tcp(50000, 22, "SF"), want: CTInvalid},
				// A connection this host accepts: its SYN-ACK out starts the flow.
				{name: "SYN-ACK out", out: true, frame: out.tcp(22, 50000, "SA"), at: 3 * time.Second},
				{name: "client's ACK", frame: in.tcp(50000, 22, "A"), at: 3 * time.Second, want: CTEstablished},
				// Established lives long: a day later.
				{name: "a day later", frame: in.tcp(443, 40000, "A"), at: 24 * time.Hour, want: CTEstablished},
				// A FIN shortens it to the closing timeout.
				{name: "FIN out", out: true, frame: out.tcp(40000, 443, "FA"), at: 24 * time.Hour},
				{name: "FIN back", frame: in.tcp(443, 40000, "FA"), at: 24*time.Hour + time.Second, want: CTEstablished},
				{name: "after the closing timeout", frame: in.tcp(443, 40000, "A"), at: 24*time.Hour + 200*time.Second, want: CTInvalid},
			})
			if n := tr.Len(); n != 1 {
				t.Errorf("%d flows left, want the accepted one", n)
			}
		})
	}
}

func TestConntrackTCPResetAndSynTimeout(t *testing.T) {
	out, in := ctPkt{t, "192.0.2.10", "198.51.100.1"}, ctPkt{t, "198.51.100.1", "192.0.2.10"}
	tr := NewTracker(DefaultCTConfig())
	runSteps(t, tr, []ctStep{
		{name: "SYN out", out: true, frame: out.tcp(40000, 80, "S")},
		{name: "RST back", frame: in.tcp(80, 40000, "RA"), at: time.Second, want: CTEstablished},
		{name: "within the close timeout", frame: in.tcp(80, 40000, "A"), at: 5 * time.Second, want: CTEstablished},
		{name: "after it", frame: in.tcp(80, 40000, "A"), at: 20 * time.Second, want: CTInvalid},
		{name: "SYN out, unanswered", out: true, frame: out.tcp(40001, 80, "S"), at: 20 * time.Second},
		{name: "answer within 120 s", frame: in.tcp(80, 40001, "SA"), at: 130 * time.Second, want: CTEstablished},
		{name: "SYN out, never answered", out: true, frame: out.tcp(40002, 80, "S"), at: 200 * time.Second},
		{name: "answer after 120 s", frame: in.tcp(80, 40002, "SA"), at: 321 * time.Second, want: CTInvalid},
		{name: "a RST out starts nothing", out: true, frame: out.tcp(40003, 80, "R"), at: 400 * time.Second},
		{name: "so nothing comes back on it", frame: in.tcp(80, 40003, "A"), at: 400 * time.Second, want: CTInvalid},
	})
}

// TestConntrackTCPResetInSynSent: after the host's SYN (sequence number
// 999), a RST closes the flow only with ACK set and acknowledging 1000,
// as Linux in SYN-SENT takes it; the others leave it a SYN sent (120 s),
// not closed (10 s).
func TestConntrackTCPResetInSynSent(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "SYN out", out: true, frame: out.tcpRaw(40200, 443, tcpSYN, 999, 0)},
			{name: "RST without ACK", frame: in.tcpRaw(443, 40200, tcpRST, 0, 1000), at: time.Second, want: CTInvalid},
			{name: "RST-ACK of one past", frame: in.tcpRaw(443, 40200, tcpRST|tcpACK, 0, 1001), at: time.Second, want: CTInvalid},
			{name: "RST-ACK of one before", frame: in.tcpRaw(443, 40200, tcpRST|tcpACK, 0, 999), at: time.Second, want: CTInvalid},
			{name: "left a SYN sent", frame: in.tcpRaw(443, 40200, tcpSYN|tcpACK, 5000, 1000), at: 20 * time.Second, want: CTEstablished},
			{name: "SYN out", out: true, frame: out.tcpRaw(40201, 443, tcpSYN, ^uint32(0), 0), at: 30 * time.Second},
			{name: "refused, the number wrapping past 0", frame: in.tcpRaw(443, 40201, tcpRST|tcpACK, 0, 0), at: 30 * time.Second, want: CTEstablished},
			{name: "closed", frame: in.tcpRaw(443, 40201, tcpSYN|tcpACK, 5000, 0), at: 41 * time.Second, want: CTInvalid},
		}
	})
}

// TestConntrackTCPAckHighest: the acknowledgement a RST is checked
// against is the host's highest in sequence space (wrapping past 2^32),
// not its last: a retransmitted or reordered segment out moved it back.
// A SYN-ACK out starts anew.
func TestConntrackTCPAckHighest(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "ACK out", out: true, frame: out.tcpRaw(40300, 443, tcpACK, 100, 0x100)},
			{name: "ACK out, sent before it", out: true, frame: out.tcpRaw(40300, 443, tcpACK, 100, 0xffffff00)},
			{name: "RST behind the highest", frame: in.tcpRaw(443, 40300, tcpRST, 0xffffff80, 0), want: CTInvalid},
			{name: "SYN-ACK out, a lower acknowledgement", out: true, frame: out.tcpRaw(40300, 443, tcpSYN|tcpACK, 100, 0x50)},
			{name: "RST at it", frame: in.tcpRaw(443, 40300, tcpRST, 0x50, 0), want: CTEstablished},
		}
	})
}

// TestConntrackTCPPickup: a flow picked up from a segment the host sends
// mid-stream (an ACK of no known flow: its record flushed or evicted,
// or an ACK scan from here) is timed as a SYN sent until a packet comes
// in on it, then as established; Linux likewise caps a picked-up
// connection without a reply at its unacknowledged timeout. It lived
// five days answered or not. The answer is established, as Linux's
// reply direction is.
func TestConntrackTCPPickup(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "stray ACK out", out: true, frame: out.tcp(40100, 443, "A")},
			{name: "nothing answered: gone after 120 s", frame: in.tcp(443, 40100, "A"), at: 121 * time.Second, want: CTInvalid},
			{name: "ACK out, picking a connection up", out: true, frame: out.tcp(40101, 443, "A"), at: 200 * time.Second},
			{name: "more out keeps it", out: true, frame: out.tcp(40101, 443, "PA"), at: 300 * time.Second},
			{name: "answer within 120 s of the last", frame: in.tcp(443, 40101, "PA"), at: 419 * time.Second, want: CTEstablished},
			{name: "answered: established's timeout", frame: in.tcp(443, 40101, "A"), at: 419*time.Second + 24*time.Hour, want: CTEstablished},
		}
	})
	// A tcp-established shorter than tcp-syn-sent times it, as Linux
	// takes the shorter of the two.
	out, in := ctPkt{t, "192.0.2.10", "198.51.100.1"}, ctPkt{t, "198.51.100.1", "192.0.2.10"}
	cfg := DefaultCTConfig()
	cfg.TCPEstablished = time.Minute
	runSteps(t, NewTracker(cfg), []ctStep{
		{name: "stray ACK out", out: true, frame: out.tcp(40102, 443, "A")},
		{name: "past tcp-established", frame: in.tcp(443, 40102, "A"), at: 61 * time.Second, want: CTInvalid},
	})
}

func TestConntrackUDP(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "query out", out: true, frame: out.udp(40000, 53)},
			{name: "answer", frame: in.udp(53, 40000), at: time.Second, want: CTEstablished},
			// The hole `udp sport 53 pass` opened: now just new.
			{name: "from port 53 to another port", frame: in.udp(53, 40001), at: time.Second, want: CTNew},
			{name: "answered: lives 120 s", frame: in.udp(53, 40000), at: 100 * time.Second, want: CTEstablished},
			{name: "query out, unanswered", out: true, frame: out.udp(40002, 53), at: 100 * time.Second},
			{name: "answer after 30 s", frame: in.udp(53, 40002), at: 131 * time.Second, want: CTNew},
		}
	})
}

func TestConntrackEcho(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "reply before a request", frame: in.echo(7, true), want: CTInvalid},
			{name: "ping out", out: true, frame: out.echo(7, false)},
			{name: "its reply", frame: in.echo(7, true), at: time.Second, want: CTEstablished},
			{name: "a reply of another id", frame: in.echo(8, true), at: time.Second, want: CTInvalid},
			{name: "a request in, same id", frame: in.echo(7, false), at: time.Second, want: CTNew},
			{name: "answering it starts nothing", out: true, frame: out.echo(9, true), at: time.Second},
			{name: "so a reply of that id is not one", frame: in.echo(9, true), at: time.Second, want: CTInvalid},
			{name: "after 30 s", frame: in.echo(7, true), at: 32 * time.Second, want: CTInvalid},
		}
	})
}

func TestConntrackRelated(t *testing.T) {
	for _, fam := range ctFamilies {
		t.Run(fam.name, func(t *testing.T) {
			out := ctPkt{t, fam.local, fam.remote}
			router := ctPkt{t, fam.other, fam.local}
			elsewhere := ctPkt{t, fam.other, fam.remote} // addressed to another host
			unreach, timeExceeded, tooBig := uint8(icmpUnreachable), uint8(icmpTimeExceeded), uint8(0)
			if out.is6() {
				unreach, timeExceeded, tooBig = icmp6Unreachable, icmp6TimeExceeded, icmp6TooBig
			} else {
				tooBig = icmpUnreachable // fragmentation needed is an unreachable, code 4
			}
			probe := out.udp(40000, 33434)
			conn := out.tcp(40001, 443, "S")
			tr := NewTracker(DefaultCTConfig())
			runSteps(t, tr, []ctStep{
				{name: "unreachable before anything was sent", frame: router.icmpError(unreach, probe), want: CTInvalid},
				{name: "probe out", out: true, frame: probe},
				{name: "SYN out", out: true, frame: conn},
				{name: "port unreachable for the probe", frame: router.icmpError(unreach, probe), want: CTRelated},
				{name: "time exceeded for the probe", frame: router.icmpError(timeExceeded, probe), want: CTRelated},
				{name: "too big for the connection", frame: router.icmpError(tooBig, conn), want: CTRelated},
				{name: "quoting a flow never sent", frame: router.icmpError(unreach, out.udp(40009, 33434)), want: CTInvalid},
				{name: "quoting a packet this host did not send", frame: router.icmpError(unreach, ctPkt{t, fam.remote, fam.local}.udp(33434, 40000)), want: CTInvalid},
				{name: "addressed to another host", frame: elsewhere.icmpError(unreach, probe), want: CTInvalid},
				{name: "quote cut to the IP header", frame: router.icmpError(unreach, probe[:14+ipHeaderLen(out)]), want: CTInvalid},
			})
		})
	}
}

func ipHeaderLen(b ctPkt) int {
	if b.is6() {
		return ipv6HeaderLen
	}
	return ipv4MinHeader
}

func TestConntrackFragments(t *testing.T) {
	eachFamily(t, func(t *testing.T, _ ctFamily, out, in ctPkt) []ctStep {
		return []ctStep{
			{name: "later fragment, nothing known", frame: in.udpFragment(53, 40000, 77, false), want: CTInvalid},
			{name: "query out", out: true, frame: out.udp(40000, 53)},
			{name: "first fragment of the answer", frame: in.udpFragment(53, 40000, 77, true), at: time.Second, want: CTEstablished},
			{name: "its later fragment", frame: in.udpFragment(53, 40000, 77, false), at: time.Second, want: CTEstablished},
			{name: "a later fragment of another datagram", frame: in.udpFragment(53, 40000, 78, false), at: time.Second, want: CTInvalid},
			{name: "first fragment of a new flow", frame: in.udpFragment(53, 40005, 79, true), at: time.Second, want: CTNew},
			{name: "its later fragments are not placed", frame: in.udpFragment(53, 40005, 79, false), at: time.Second, want: CTInvalid},
			{name: "after the fragment timeout", frame: in.udpFragment(53, 40000, 77, false), at: 40 * time.Second, want: CTInvalid},
		}
	})
}

func TestConntrackDHCP(t *testing.T) {
	discover := ctPkt{t, "0.0.0.0", "255.255.255.255"}.udp(68, 67)
	offer := ctPkt{t, "192.0.2.1", "192.0.2.50"}.udp(67, 68)
	solicit := ctPkt{t, "fe80::10", "ff02::1:2"}.udp(546, 547)
	advertise := ctPkt{t, "fe80::1", "fe80::10"}.udp(547, 546)
	tr := NewTracker(DefaultCTConfig())
	runSteps(t, tr, []ctStep{
		{name: "offer with no discover", frame: offer, want: CTNew},
		{name: "discover out", out: true, frame: discover},
		{name: "offer", frame: offer, at: time.Second, want: CTEstablished},
		{name: "advertise with no solicit", frame: advertise, want: CTNew},
		{name: "solicit out", out: true, frame: solicit},
		{name: "advertise", frame: advertise, at: time.Second, want: CTEstablished},
	})
}

// TestConntrackUnsolicited: nothing coming in creates state, so a flood
// of spoofed sources leaves the table as it was.
func TestConntrackUnsolicited(t *testing.T) {
	tr := NewTracker(DefaultCTConfig())
	for i := 0; i < 1000; i++ {
		src := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}).String()
		in := ctPkt{t, src, "192.0.2.10"}
		for _, f := range [][]byte{in.tcp(uint16(i), 80, "S"), in.udp(uint16(i), 53), in.echo(uint16(i), false), in.udpFragment(1, 2, uint32(i), true)} {
			p := Decode(f)
			tr.Ingress(&p, f, 0)
		}
	}
	if tr.Len() != 0 || tr.Inserts != 0 || len(tr.frags) != 0 {
		t.Errorf("unsolicited traffic made %d flows (%d inserts), %d fragment records", tr.Len(), tr.Inserts, len(tr.frags))
	}
}

func TestConntrackCapacity(t *testing.T) {
	cfg := DefaultCTConfig()
	cfg.Capacity = 2
	out, in := ctPkt{t, "192.0.2.10", "198.51.100.1"}, ctPkt{t, "198.51.100.1", "192.0.2.10"}
	tr := NewTracker(cfg)
	runSteps(t, tr, []ctStep{
		{name: "first out", out: true, frame: out.udp(1000, 53)},
		{name: "second out", out: true, frame: out.udp(1001, 53), at: time.Second},
		{name: "first answered: seen last now", frame: in.udp(53, 1000), at: 2 * time.Second, want: CTEstablished},
		{name: "third out evicts the second", out: true, frame: out.udp(1002, 53), at: 3 * time.Second},
		{name: "second's answer", frame: in.udp(53, 1001), at: 4 * time.Second, want: CTNew},
		{name: "first's answer", frame: in.udp(53, 1000), at: 4 * time.Second, want: CTEstablished},
	})
	if tr.Len() != 2 || tr.Evictions != 1 || tr.Inserts != 3 {
		t.Errorf("%d flows, %d evictions, %d inserts; want 2, 1, 3", tr.Len(), tr.Evictions, tr.Inserts)
	}
}

func TestConntrackUntracked(t *testing.T) {
	tr := NewTracker(DefaultCTConfig())
	for name, f := range map[string][]byte{
		"arp":          arpFrame(t),
		"neighbour ad": ctPkt{t, "fe80::1", "fe80::10"}.frame(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(136, 0)}, gopacket.Payload(make([]byte, 20))),
		"mld query":    ctPkt{t, "fe80::1", "ff02::1"}.frame(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(130, 0)}, gopacket.Payload(make([]byte, 20))),
		"mldv2 report": ctPkt{t, "fe80::1", "ff02::16"}.frame(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(143, 0)}, gopacket.Payload(make([]byte, 20))),
	} {
		p := Decode(f)
		if got := tr.Ingress(&p, f, 0); got != CTUntracked {
			t.Errorf("%s: %v, want untracked", name, got)
		}
	}
	if got := (CTNew | CTEstablished).String(); got != "new,established" {
		t.Errorf("state string %q", got)
	}
}

// FuzzConntrack: any frame, going out then coming in, is placed without a
// panic, and coming in never adds a flow.
func FuzzConntrack(f *testing.F) {
	for _, tc := range decodeCases(f) {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		router := ctPkt{t, "192.0.2.10", "198.51.100.1"}
		tr := NewTracker(DefaultCTConfig())
		p := Decode(frame)
		tr.Egress(&p, frame, 0)
		n := tr.Len()
		tr.Ingress(&p, frame, time.Second)
		// The frame as an error quoting itself, as a router would.
		if len(frame) > 14 {
			q := router.icmpError(icmpUnreachable, frame)
			qp := Decode(q)
			tr.Ingress(&qp, q, time.Second)
		}
		if tr.Len() > n {
			t.Fatalf("coming in added flows: %d, was %d", tr.Len(), n)
		}
	})
}
