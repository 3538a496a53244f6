package loader

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The host's own TCP connections go into a conntrack table a resize
// makes (ctresize.go), and into one that is read when xdpfw is attached
// to an interface (seedConnections). An idle table kept only the most
// recent flows (rules.Ruleset.CTFlows), and connections made before
// xdpfw was attached were never seen; one that only receives sends
// nothing the egress learner could learn it from, so once a drop policy
// reads the table its packets would be dropped. The kernel's socket
// table knows those connections: each established TCP socket of this
// network namespace, loopback's aside, becomes an established flow (a
// half-closed one a closing flow: socketFlowState) wherever the table has
// no record of it (a learnt record is the truer), or, in a resize's new
// table, only a handshake's or an unanswered one's: a syn-sent or
// syn-recv record is what the learner keeps of a connection whose answers
// nothing placed (the idle table's, a drop policy's without a ct-state
// rule) until the host acknowledges past the handshake, which a learner
// attached after that never saw, and an established one not replied is
// what it keeps of a connection it picked up from a segment the host sent
// mid-stream (timed as a SYN sent until something comes in on it); either
// would time out in a minute or two of quiet, cutting the peer that
// speaks next, so it becomes the socket's state, replied (seedSocket). A
// live table's records (an attach's) are the datapath's alone: the
// control plane cannot read and write one back as a step, and a packet
// between would be lost (a FIN's closing written over). UDP sockets are
// not read: a connected one says nothing of whether its peer ever
// answered, and a datagram flow is learnt again from its next packet out.

// socketFlows are the calling thread's network namespace's established
// and half-closed TCP connections as flows last seen at now. A dump the kernel
// interrupted gives what it listed, and a family the kernel will not
// list (IPv6 disabled) is left out; listed is false when the kernel
// lists neither (no sock_diag for TCP: tcp_diag not built, or not
// loadable here).
func socketFlows(now uint64) (keys []xdpfwCtKey, vals []xdpfwCtVal, listed bool) {
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := netlink.SocketDiagTCP(family)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			continue
		}
		listed = true
		for _, s := range socks {
			st, ok := socketFlowState(s.State)
			if !ok {
				continue
			}
			k, ok := socketKey(s.ID)
			if !ok {
				continue
			}
			keys = append(keys, k)
			vals = append(vals, xdpfwCtVal{LastSeen: now, Kind: layout.CtKindTcp, Tcp: st, Replied: 1})
		}
	}
	return keys, vals, listed
}

// socketFlowState is the flow state of a connection the kernel lists
// in TCP state st, and whether it is one to put in: established, or
// closing where a FIN went either way and a side may still send (a
// host that shut down its writing keeps receiving, and sends nothing
// the learner could learn the flow from until something comes).
func socketFlowState(st uint8) (uint8, bool) {
	switch st {
	case netlink.TCP_ESTABLISHED:
		return layout.CtTcpEstablished, true
	case netlink.TCP_FIN_WAIT1, netlink.TCP_FIN_WAIT2, netlink.TCP_CLOSE_WAIT, netlink.TCP_CLOSING, netlink.TCP_LAST_ACK:
		return layout.CtTcpClosing, true
	}
	return 0, false
}

// socketKey is a socket's flow as the egress learner keys it: this
// host's side first, an IPv4 peer of a dual-stack socket as IPv4 (what
// goes on the wire). Loopback's connections never pass an interface
// xdpfw filters.
func socketKey(id netlink.SocketID) (xdpfwCtKey, bool) {
	local, remote := id.Source, id.Destination
	if local == nil || remote == nil || local.IsLoopback() || remote.IsLoopback() || local.IsUnspecified() {
		return xdpfwCtKey{}, false
	}
	k := xdpfwCtKey{Proto: unix.IPPROTO_TCP, Lport: id.SourcePort, Rport: id.DestinationPort}
	l4, r4 := local.To4(), remote.To4()
	switch {
	case l4 != nil && r4 != nil:
		k.Family = 4
		copy(k.Local[:], l4)
		copy(k.Remote[:], r4)
	case l4 == nil && r4 == nil && len(local) == net.IPv6len && len(remote) == net.IPv6len:
		k.Family = 6
		copy(k.Local[:], local)
		copy(k.Remote[:], remote)
	default:
		return xdpfwCtKey{}, false
	}
	return k, true
}

// seedSockets puts this host's established TCP connections into ct
// where it has no record of them, and reports how many went in (the
// caller counts them: countCTChange): -1 when the kernel would not list
// them. Best effort there: a table without
// them only ever closes more, so the resize or attach goes on. live: the
// programs write ct (seedSocket).
func seedSockets(ct *ebpf.Map, now uint64, live bool) (int, error) {
	keys, vals, listed := socketFlows(now)
	if !listed {
		return -1, nil
	}
	n := 0
	for i := range keys {
		added, err := seedSocket(ct, &keys[i], &vals[i], live)
		if err != nil {
			return n, fmt.Errorf("put this host's TCP connections into the conntrack table: %w", err)
		}
		if added {
			n++
		}
	}
	return n, nil
}

// seedSocket puts one established connection's flow v into ct, and
// reports whether ct had no record of it. A record ct has is kept where
// ct is live: the datapath's update of it between a read and a write
// here would be lost, and an insert only where there is none loses
// nothing (a packet's record stands either way). In a table no program
// writes yet, a record of the handshake alone, or of an established flow
// nothing answered, becomes the socket's state and replied, last seen at
// v's time if not later.
func seedSocket(ct *ebpf.Map, k *xdpfwCtKey, v *xdpfwCtVal, live bool) (added bool, err error) {
	err = ct.Update(k, v, ebpf.UpdateNoExist)
	if !errors.Is(err, ebpf.ErrKeyExist) {
		return err == nil, err
	}
	if live {
		return false, nil
	}
	var cur xdpfwCtVal
	if err := ct.Lookup(k, &cur); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return false, nil // evicted or expired meanwhile: learnt again
		}
		return false, err
	}
	if cur.Kind != layout.CtKindTcp || cur.Tcp > layout.CtTcpEstablished ||
		cur.Tcp == layout.CtTcpEstablished && cur.Replied != 0 {
		return false, nil
	}
	cur.Tcp, cur.Replied, cur.LastSeen = v.Tcp, 1, max(cur.LastSeen, v.LastSeen)
	if err := ct.Update(k, &cur, ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, err
	}
	return false, nil
}

// CTSeedNotice, when set, is told that an attach put n of this host's
// established TCP connections into the state in dir's conntrack table,
// so the CLI can say so.
var CTSeedNotice func(dir string, n int)

// seedConnections puts this host's established TCP connections into the
// live conntrack table where it has no record of them (any record it has
// is the datapath's to move on), unless the table
// is idle (nothing reads it; the resize that makes it whole seeds it).
// Best effort, after an attach that has succeeded: a failure leaves the
// table as the egress learner keeps it, which only ever closes more.
func (s *State) seedConnections() {
	n := 0
	err := s.change(func(t *tx) error {
		if t.m.Ct.MaxEntries() == layout.CtIdleEntries {
			return nil
		}
		now, err := ctClock()
		if err != nil {
			return err
		}
		n, err = seedSockets(t.m.Ct, uint64(now), true)
		if n > 0 {
			if cerr := countCTChange(t.m, int64(n), 0); err == nil {
				err = cerr
			}
		}
		return err
	})
	if err == nil && n > 0 && CTSeedNotice != nil {
		CTSeedNotice(s.dir, n)
	}
}
