package model

import (
	"container/list"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Connection tracking, as the reference for the datapath's: flows are
// learned only from packets this host sends (or forwards) out, so
// unsolicited traffic never creates state by itself, and what the host
// answers to it is kept briefly (a spoofed flood at an open service
// churns the table rather than filling it for days); packets coming in
// are placed against what was learned.
//
// States, as nftables names them, for a packet coming in:
//   - established: it belongs to a learned flow (for TCP, any segment of
//     it; for UDP and other protocols, any datagram back; for ICMP echo, a
//     reply with the request's identifier); a DHCP reply to a request this
//     host sent; a later fragment of a datagram whose first fragment was
//     established.
//   - related: an ICMP or ICMPv6 error (unreachable, fragmentation needed
//     or packet too big, time exceeded, parameter problem) addressed to
//     this host and quoting a packet of a learned flow.
//   - new: none of those, and able to start a flow: a TCP SYN (without
//     ACK, RST or FIN), any UDP datagram or other protocol, an ICMP echo
//     request.
//   - invalid: none of those and unable to start one: other TCP segments
//     (and on any flow, one whose flags no stack sends: tcpValid),
//     ICMP errors quoting no learned flow, echo replies with no request,
//     other ICMP types, later fragments of no known datagram.
//
// Frames that are not IP, and ICMPv6 neighbour discovery and multicast
// listener messages, are not tracked (nftables' "untracked"): they have
// no state, and no ct-state condition matches them.
//
// Eviction: the table holds at most Capacity flows and drops the one
// seen least recently to learn another. The kernel's LRU map evicts by an
// approximation of that order, so the model and the datapath agree only
// while the table is not full; tests stay below it.

// CTState is a packet's connection-tracking state; the values are bits so
// a condition can name several.
type CTState uint8

const (
	CTUntracked   CTState = layout.CtUntracked
	CTNew         CTState = layout.CtNew
	CTEstablished CTState = layout.CtEstablished
	CTRelated     CTState = layout.CtRelated
	CTInvalid     CTState = layout.CtInvalid
)

func (s CTState) String() string {
	var names []string
	for _, n := range []struct {
		bit  CTState
		name string
	}{{CTNew, "new"}, {CTEstablished, "established"}, {CTRelated, "related"}, {CTInvalid, "invalid"}} {
		if s&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "untracked"
	}
	return strings.Join(names, ",")
}

// CTConfig bounds the table and times flows out, in the spirit of
// nftables' defaults: established TCP lives long, closing TCP short, UDP
// short until answered.
type CTConfig struct {
	Capacity     int // flows
	FragCapacity int // fragmented datagrams being tracked

	TCPSynSent     time.Duration // a SYN sent, or a flow picked up mid-stream, no answer yet
	TCPSynRecv     time.Duration // a SYN answered (this host's SYN-ACK), not yet acknowledged
	TCPEstablished time.Duration
	TCPClosing     time.Duration // a FIN seen either way
	TCPClose       time.Duration // a RST seen either way
	UDP            time.Duration // sent, never answered
	UDPReplied     time.Duration // answered
	ICMP           time.Duration // echo
	Generic        time.Duration // other protocols
	Fragment       time.Duration // from a datagram's first fragment to its last
}

// DefaultCTConfig is the default of a ruleset that reads connection
// state: the datapath's whole table and timeouts (nftables').
func DefaultCTConfig() CTConfig { return ctConfig(rules.Conntrack{}, layout.CtEntries) }

// tcpState is as much TCP state as timeouts need.
type tcpState uint8

const (
	tcpSynSent tcpState = iota
	tcpSynRecv          // learned from this host's SYN-ACK: someone else's SYN, maybe spoofed
	tcpEstablished
	tcpClosing
	tcpClose
)

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// Flow is one learned flow, as `ct list` shows it.
type Flow struct {
	Key      FlowKey
	kind     flowKind
	tcp      tcpState
	Replied  bool          // a packet came back
	LastSeen time.Duration // the time of the last packet either way
	// What a RST coming in on a TCP flow is checked against (rstValid):
	// by ackKind (layout.CtAck*), the highest acknowledgement number this
	// host sent (in sequence space), where the other side's sequence
	// stands, or
	// what the answer to the host's SYN must acknowledge.
	ack     uint32
	ackKind uint8
	elem    *list.Element
}

func (f *Flow) String() string {
	return fmt.Sprintf("%d %s:%d > %s:%d", f.Key.Proto, f.Key.Local, f.Key.LocalPort, f.Key.Remote, f.Key.RemotePort)
}

// fragKey names a fragmented datagram coming in, as its later fragments
// do: by addresses, protocol (IPv4 only) and identification.
type fragKey struct {
	Proto    uint8
	Src, Dst netip.Addr
	ID       uint32
}

// fragKeyOf is p's fragKey. An IPv6 datagram's fragments are one by
// addresses and id alone (RFC 8200): a later fragment names the header
// after the fragment header, which is not the L4 protocol where the
// first fragment has options after it.
func fragKeyOf(p *Packet) fragKey {
	k := fragKey{Src: p.Src, Dst: p.Dst, ID: p.FragID}
	if p.Family() == rules.FamilyIPv4 {
		k.Proto = p.Proto
	}
	return k
}

// Tracker is the table, with a clock given by the caller (capture
// timestamps in replay).
type Tracker struct {
	cfg   CTConfig
	flows map[FlowKey]*Flow
	lru   *list.List // front: seen most recently
	frags map[fragKey]time.Duration
	fifo  []fragKey // frags in the order they were recorded, for the bound

	Inserts, Evictions int
}

// NewTracker returns an empty table.
func NewTracker(cfg CTConfig) *Tracker {
	return &Tracker{cfg: cfg, flows: map[FlowKey]*Flow{}, lru: list.New(), frags: map[fragKey]time.Duration{}}
}

// Len is the number of flows in the table, expired ones included until
// something looks them up or evicts them.
func (t *Tracker) Len() int { return len(t.flows) }

// Lookup returns the live flow of key at now, or nil.
func (t *Tracker) Lookup(key FlowKey, now time.Duration) *Flow {
	f := t.flows[key]
	if f == nil {
		return nil
	}
	if now-f.LastSeen > t.timeout(f) {
		t.remove(f)
		return nil
	}
	return f
}

func (t *Tracker) timeout(f *Flow) time.Duration {
	switch f.kind {
	case kindTCP:
		if f.tcp == tcpEstablished && !f.Replied {
			// Picked up from a segment the host sent mid-stream (its
			// record lost to a flush, an eviction or a restart; or
			// stray ACKs, an ACK scan from here), nothing answered
			// yet: timed as a SYN sent, or as established if that is
			// shorter, as Linux caps a picked-up connection without a
			// reply at its unacknowledged timeout. A host sending such
			// segments to no one filled the table for five days.
			return min(t.cfg.TCPSynSent, t.cfg.TCPEstablished)
		}
		return [...]time.Duration{t.cfg.TCPSynSent, t.cfg.TCPSynRecv, t.cfg.TCPEstablished, t.cfg.TCPClosing, t.cfg.TCPClose}[f.tcp]
	case kindUDP:
		if f.Replied {
			return t.cfg.UDPReplied
		}
		return t.cfg.UDP
	case kindEcho:
		return t.cfg.ICMP
	}
	return t.cfg.Generic
}

func (t *Tracker) remove(f *Flow) {
	t.lru.Remove(f.elem)
	delete(t.flows, f.Key)
}

func (t *Tracker) touch(f *Flow, now time.Duration) {
	f.LastSeen = now
	t.lru.MoveToFront(f.elem)
}

// Egress learns from p, a packet of frame going out at now.
func (t *Tracker) Egress(p *Packet, frame []byte, now time.Duration) {
	if p.Malformed {
		return
	}
	v := viewOf(p, frame, true)
	if !v.ok || v.kind == kindEcho && v.echoReply {
		return // answering someone's ping starts nothing
	}
	if v.kind == kindTCP && !tcpValid(v.tcpFlags) {
		return // a raw socket's scan (null, FIN, xmas): no flow, none moved
	}
	f := t.Lookup(v.key, now)
	if f == nil {
		if v.kind == kindTCP && v.tcpFlags&tcpRST != 0 {
			return
		}
		f = t.insert(v, now)
		switch {
		case v.kind != kindTCP || v.tcpFlags&(tcpSYN|tcpACK) == tcpSYN:
		case v.tcpFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
			// Answering a SYN, which anyone can send from any address:
			// short-lived until the other side acknowledges, so a spoofed
			// SYN flood at an open port cannot fill the table for days.
			f.tcp = tcpSynRecv
		default:
			// Picks up a flow it sends on: unanswered, timed short
			// until something comes back (timeout).
			f.tcp = tcpEstablished
		}
	} else if v.kind == kindTCP && f.tcp >= tcpClosing && v.tcpFlags&(tcpSYN|tcpACK) == tcpSYN {
		f.tcp, f.Replied = tcpSynSent, false // the ports reused for a new connection
	} else if v.kind == kindTCP && f.tcp >= tcpClosing && v.tcpFlags&(tcpSYN|tcpACK|tcpRST) == tcpSYN|tcpACK {
		// The host accepts a new connection on the ports (Ingress
		// placed its SYN as new): a handshake again, as an unknown
		// flow's SYN-ACK starts one.
		f.tcp, f.Replied = tcpSynRecv, false
	} else if v.kind == kindTCP && f.tcp <= tcpSynRecv && v.tcpFlags&(tcpSYN|tcpACK|tcpRST) == tcpACK {
		// The host acknowledges past the handshake only once the other
		// side has answered it, an answer nothing placed.
		f.tcp, f.Replied = tcpEstablished, true
	}
	t.tcpFlags(f, v.tcpFlags)
	// A SYN or SYN-ACK opens a sequence space, whatever the flow's state
	// (its connection may have ended unseen): the acknowledgement kept is
	// another connection's, and a RST refusing a SYN carries sequence
	// number 0 and acknowledges the SYN, which takes one number (RFC 9293
	// 3.10.7.1). Else the highest acknowledgement in sequence space
	// stays: a segment retransmitted or sent out of order does not move
	// it back.
	switch {
	case v.kind == kindTCP && v.tcpFlags&tcpACK != 0:
		if v.tcpFlags&tcpSYN != 0 || f.ackKind != layout.CtAckSent || seqAfter(v.ack, f.ack) {
			f.ack, f.ackKind = v.ack, layout.CtAckSent
		}
	case v.kind == kindTCP && v.tcpFlags&tcpSYN != 0:
		f.ack, f.ackKind = v.seq+1, layout.CtAckSyn
	}
	t.touch(f, now)
}

func (t *Tracker) insert(v flowView, now time.Duration) *Flow {
	for t.cfg.Capacity > 0 && len(t.flows) >= t.cfg.Capacity {
		t.remove(t.lru.Back().Value.(*Flow))
		t.Evictions++
	}
	f := &Flow{Key: v.key, kind: v.kind, LastSeen: now}
	f.elem = t.lru.PushFront(f)
	t.flows[v.key] = f
	t.Inserts++
	return f
}

// tcpFlags moves a TCP flow on a FIN or RST from either side.
func (t *Tracker) tcpFlags(f *Flow, flags uint8) {
	if f.kind != kindTCP {
		return
	}
	switch {
	case flags&tcpRST != 0:
		f.tcp = tcpClose
	case flags&tcpFIN != 0 && f.tcp < tcpClosing:
		f.tcp = tcpClosing
	}
}

// Ingress places p, a packet of frame coming in at now, and moves its
// flow on.
func (t *Tracker) Ingress(p *Packet, frame []byte, now time.Duration) CTState {
	fam := p.Family()
	if p.Malformed || fam == rules.FamilyAny || p.ND {
		return CTUntracked
	}
	if p.Frag == rules.FragLater {
		if exp, ok := t.frags[fragKeyOf(p)]; ok && now <= exp {
			return CTEstablished
		}
		return CTInvalid
	}
	if p.HasICMP && p.Proto == icmpProto(fam) && isError(fam, p.ICMPType) {
		// An error answers a packet this host sent: its quote's source
		// is where the error is addressed.
		if k, ok := quotedFlow(p, frame); ok && k.Local == p.Dst && t.Lookup(k, now) != nil {
			return CTRelated
		}
		return CTInvalid
	}
	v := viewOf(p, frame, false)
	if !v.ok { // other ICMP types, or an echo without its identifier
		if isMLD(p) {
			return CTUntracked
		}
		return CTInvalid
	}
	if v.kind == kindTCP && !tcpValid(v.tcpFlags) {
		return CTInvalid // whatever its flow, which it leaves as it was
	}
	f := t.Lookup(v.key, now)
	broadcast := false
	if f == nil && v.dhcp {
		// A reply to a request the host broadcast: by the ports alone.
		if k, ok := dhcpKey(fam, v.key.LocalPort, v.key.RemotePort); ok {
			f = t.Lookup(k, now)
			broadcast = f != nil
		}
	}
	// An echo request, and a lone SYN on the ports of a closing or
	// closed connection (a new connection reusing them, as Linux takes
	// it), start a flow of their own: they do not belong to this one.
	if f == nil || v.kind == kindEcho && !v.echoReply ||
		v.kind == kindTCP && f.tcp >= tcpClosing && v.tcpFlags&(tcpSYN|tcpACK|tcpRST|tcpFIN) == tcpSYN {
		return t.unknown(v)
	}
	if v.kind == kindTCP && v.tcpFlags&tcpRST != 0 && !rstValid(f, v) {
		return CTInvalid // and the flow stays as it was
	}
	switch {
	case v.kind != kindTCP:
	case f.tcp == tcpSynSent && v.tcpFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK,
		f.tcp == tcpSynRecv && v.tcpFlags&(tcpSYN|tcpACK) == tcpACK:
		f.tcp = tcpEstablished
	}
	t.tcpFlags(f, v.tcpFlags)
	f.Replied = true
	if !broadcast {
		// A broadcast request's flow is not moved on from outside: it
		// lasts its timeout from the host's last request, however often
		// anyone sends to the client port.
		t.touch(f, now)
	}
	if p.Frag == rules.FragFirst {
		t.recordFrag(fragKeyOf(p), now+t.cfg.Fragment)
	}
	return CTEstablished
}

// tcpValid reports whether flags are a combination a TCP stack sends, as
// Linux's conntrack takes them (tcp_valid_flags): SYN, SYN-ACK, RST,
// RST-ACK, FIN-ACK, ACK (URG with ACK, or with a lone SYN). The others
// (none, FIN without ACK, SYN with FIN or RST) come from scans and
// evasions: invalid on any flow, as nftables calls them, so the usual
// ct-state invalid drop drops them (a flow's ports let them in as
// established, and a SYN-RST closed the flow).
func tcpValid(flags uint8) bool {
	return layout.CtTcpValid>>(flags&layout.CtTcpFlags)&1 != 0
}

// rstValid reports whether v, a RST coming in on f, may close it. After
// the host's SYN (and before it sends anything with ACK) only one with
// ACK set acknowledging the SYN, as Linux in SYN-SENT takes a RST
// (tcp_rcv_synsent_state_process): a spoofer must guess the host's
// initial sequence number, where any RST on the ports closed the flow.
// After its acknowledgements, one in the window from them (rstInWindow).
func rstValid(f *Flow, v flowView) bool {
	switch f.ackKind {
	case layout.CtAckSyn:
		return v.tcpFlags&tcpACK != 0 && v.ack == f.ack
	case layout.CtAckSent:
		return rstInWindow(v.seq, f.ack)
	}
	return true
}

// seqAfter reports whether sequence number a is after b: in the half of
// the sequence space that follows b (RFC 1982's serial numbers, as
// Linux's after()).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// rstInWindow reports whether a RST coming in with sequence number seq
// is from ack, the highest this host acknowledged, to layout.CtRstWindow
// past it: the peer's RST answering a segment of this host carries exactly
// that number (RFC 9293 3.10.7.1), and one a blind spoofer sends must hit
// a 4096th of the sequence space. A RST an abort sends with more in
// flight than that is dropped, and the next segment this host sends is
// answered by one that is not.
func rstInWindow(seq, ack uint32) bool {
	return seq-ack <= layout.CtRstWindow
}

// isMLD reports whether p is a multicast listener message (MLD query,
// report, done; MLDv2 report): untracked, as Linux's conntrack leaves
// them, like neighbour discovery. Invalid, a ct-state invalid drop
// before a rule letting them in (the usual nftables host ruleset)
// dropped the queries a host must answer to stay in its groups, its
// solicited-node one among them.
func isMLD(p *Packet) bool {
	if p.Family() != rules.FamilyIPv6 || !p.HasICMP || p.Proto != rules.ProtoICMPv6 {
		return false
	}
	switch p.ICMPType {
	case 130, 131, 132, 143:
		return true
	}
	return false
}

// unknown is the state of a packet of no learned flow: new if it can
// start one.
func (t *Tracker) unknown(v flowView) CTState {
	switch {
	case v.kind == kindTCP && v.tcpFlags&(tcpSYN|tcpACK|tcpRST|tcpFIN) != tcpSYN:
		return CTInvalid
	case v.kind == kindEcho && v.echoReply:
		return CTInvalid
	}
	return CTNew
}

// recordFrag remembers a datagram's first fragment until exp, within
// FragCapacity (the oldest record goes first).
func (t *Tracker) recordFrag(k fragKey, exp time.Duration) {
	if _, ok := t.frags[k]; !ok {
		for t.cfg.FragCapacity > 0 && len(t.frags) >= t.cfg.FragCapacity && len(t.fifo) > 0 {
			delete(t.frags, t.fifo[0])
			t.fifo = t.fifo[1:]
		}
		t.fifo = append(t.fifo, k)
	}
	t.frags[k] = exp
}
