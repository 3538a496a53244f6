package loader

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCTSeedSockets: the change that makes an idle table whole puts this
// host's established TCP connections in, both ends of one here, as
// established flows; a record the table already had of one is kept as
// it was, unless it is of a handshake the kernel says is done (a
// syn-sent or syn-recv record, learnt while nothing placed the answers
// coming in) or established and unanswered (picked up mid-stream), which
// becomes established and replied; loopback's connections are left out.
func TestCTSeedSockets(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "cts0")
		if err != nil {
			return err
		}
		defer s.Close()
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		addr := netip.MustParseAddr("192.0.2.5")
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return err
		}
		conns, err := tcpPair(addr)
		if err != nil {
			return err
		}
		loopConns, err := tcpPair(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			return err
		}
		// A pair whose handshakes the table saw only going out (an idle
		// table learns, but places nothing coming in).
		learnt, err := tcpPair(addr)
		if err != nil {
			return err
		}
		defer closeAll(append(append(conns, loopConns...), learnt...))
		client, server := conns[0], conns[1]
		key := func(local, remote net.Addr) xdpfwCtKey {
			l, r := local.(*net.TCPAddr).AddrPort(), remote.(*net.TCPAddr).AddrPort()
			k := xdpfwCtKey{Family: 4, Proto: 6, Lport: l.Port(), Rport: r.Port()}
			copy(k.Local[:], l.Addr().Unmap().AsSlice())
			copy(k.Remote[:], r.Addr().Unmap().AsSlice())
			return k
		}
		// The server's end already known, in another state.
		known := xdpfwCtVal{LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpClosing, Replied: 1}
		serverKey := key(server.LocalAddr(), server.RemoteAddr())
		if err := s.maps.Ct.Put(&serverKey, &known); err != nil {
			return err
		}
		// And a pair the learner picked up mid-stream, from segments
		// going out (its records flushed or forgotten by the idle
		// table): established, nothing answered, timed as a SYN sent.
		picked, err := tcpPair(addr)
		if err != nil {
			return err
		}
		defer closeAll(picked)
		half := map[xdpfwCtKey]xdpfwCtVal{
			key(learnt[0].LocalAddr(), learnt[0].RemoteAddr()): {LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent},
			key(learnt[1].LocalAddr(), learnt[1].RemoteAddr()): {LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynRecv},
			key(picked[0].LocalAddr(), picked[0].RemoteAddr()): {LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished},
			key(picked[1].LocalAddr(), picked[1].RemoteAddr()): {LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished},
		}
		for k, v := range half {
			if err := s.maps.Ct.Put(&k, &v); err != nil {
				return err
			}
		}
		if _, err := s.Apply(&rules.Ruleset{Policy: rules.Drop}); err != nil {
			return err
		}
		if n := s.maps.Ct.MaxEntries(); n != layout.CtEntries {
			return fmt.Errorf("a table of %d flows under policy drop, want %d", n, layout.CtEntries)
		}
		var v xdpfwCtVal
		clientKey := key(client.LocalAddr(), client.RemoteAddr())
		if err := s.maps.Ct.Lookup(&clientKey, &v); err != nil || v.Kind != layout.CtKindTcp || v.Tcp != layout.CtTcpEstablished || v.Replied != 1 || v.LastSeen == 0 {
			t.Errorf("the client's connection %v > %v: %+v (%v), want an established TCP flow", client.LocalAddr(), client.RemoteAddr(), v, err)
		}
		if err := s.maps.Ct.Lookup(&serverKey, &v); err != nil || v != known {
			t.Errorf("the server's connection, known before: %+v (%v), want %+v kept", v, err, known)
		}
		for k, was := range half {
			if err := s.maps.Ct.Lookup(&k, &v); err != nil || v.Tcp != layout.CtTcpEstablished || v.Replied != 1 || v.LastSeen <= 1 {
				t.Errorf("a connection learnt in TCP state %d, replied %d: %+v (%v), want established, replied, last seen at the resize", was.Tcp, was.Replied, v, err)
			}
		}
		n := 0
		err = forEachBatch(s.maps.Ct, 256, func(keys []xdpfwCtKey, _ []xdpfwCtVal) error {
			n += len(keys)
			return nil
		})
		if err != nil || n != 6 {
			t.Errorf("%d flows in the table (%v), want the three pairs' six: loopback's left out", n, err)
		}
		return nil
	})
}

// tcpPair is both ends of a TCP connection to addr, dialled and accepted
// on the calling thread (its network namespace's).
func tcpPair(addr netip.Addr) ([]net.Conn, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, err
	}
	a, err := ln.Accept()
	if err != nil {
		c.Close()
		return nil, err
	}
	return []net.Conn{c, a}, nil
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

// TestSocketKey: a socket's flow is keyed as the egress learner keys
// it, an IPv4 peer of a dual-stack socket as IPv4; loopback's and
// unbound ones are left out.
func TestSocketKey(t *testing.T) {
	ip := func(s string) net.IP { return net.ParseIP(s) }
	for _, c := range []struct {
		local, remote string
		family        uint8 // 0: left out
		l, r          string
	}{
		{"192.0.2.1", "198.51.100.7", 4, "192.0.2.1", "198.51.100.7"},
		{"::ffff:192.0.2.1", "::ffff:198.51.100.7", 4, "192.0.2.1", "198.51.100.7"},
		{"2001:db8::1", "2001:db8::2", 6, "2001:db8::1", "2001:db8::2"},
		{"127.0.0.1", "127.0.0.1", 0, "", ""},
		{"::1", "::1", 0, "", ""},
		{"192.0.2.1", "127.0.0.1", 0, "", ""},
		{"0.0.0.0", "198.51.100.7", 0, "", ""},
		{"192.0.2.1", "2001:db8::2", 0, "", ""},
	} {
		k, ok := socketKey(netlink.SocketID{SourcePort: 22, DestinationPort: 40000, Source: ip(c.local), Destination: ip(c.remote)})
		if ok != (c.family != 0) {
			t.Errorf("%s > %s: keyed %v, want %v", c.local, c.remote, ok, c.family != 0)
			continue
		}
		if !ok {
			continue
		}
		n := 4
		if c.family == 6 {
			n = 16
		}
		l, _ := netip.AddrFromSlice(k.Local[:n])
		r, _ := netip.AddrFromSlice(k.Remote[:n])
		if k.Family != c.family || k.Proto != 6 || k.Lport != 22 || k.Rport != 40000 || l.String() != c.l || r.String() != c.r {
			t.Errorf("%s > %s: key %+v, want family %d, %s:22 > %s:40000", c.local, c.remote, k, c.family, c.l, c.r)
		}
	}
}

// TestCTSeedLiveKeepsDatapathWrite: seeding a live table (an attach's)
// never writes over what the datapath writes: a FIN the egress learner
// handles while the seed reads a connection's handshake record, moving
// it to closing, stays closing. The seed read the record and wrote back
// established, the FIN lost and the closed connection's record kept for
// the established timeout (five days).
func TestCTSeedLiveKeepsDatapathWrite(t *testing.T) {
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	ms := spec.Maps[xdpfwMapCt].Copy()
	ms.MaxEntries = rules.MinCTFlows
	ct, err := ebpf.NewMap(ms)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	k := xdpfwCtKey{Family: 4, Proto: 6, Lport: 22, Rport: 40000}
	copy(k.Local[:], []byte{192, 0, 2, 1})
	copy(k.Remote[:], []byte{198, 51, 100, 7})
	if err := ct.Put(&k, &xdpfwCtVal{LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynRecv}); err != nil {
		t.Fatal(err)
	}
	fin := xdpfwCtVal{LastSeen: 2, Kind: layout.CtKindTcp, Tcp: layout.CtTcpClosing, Replied: 1}
	fired := writeAfterNextLookup(t, ct, &k, &fin)
	seed := xdpfwCtVal{LastSeen: 3, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
	if _, err := seedSocket(ct, &k, &seed, true); err != nil {
		t.Fatal(err)
	}
	// A seed that read nothing has the FIN come after it.
	if !fired() {
		if err := ct.Put(&k, &fin); err != nil {
			t.Fatal(err)
		}
	}
	var v xdpfwCtVal
	if err := ct.Lookup(&k, &v); err != nil || v != fin {
		t.Errorf("the record after a FIN written while it was seeded: %+v (%v), want the FIN's %+v", v, err, fin)
	}
}

// TestCTSeedHalfClosed: a connection one side shut down its writing on
// goes in too, as closing: the side that shut down (FIN_WAIT2) only
// receives from then on, and sends nothing the learner could learn the
// flow from until something comes, which a drop policy would drop.
func TestCTSeedHalfClosed(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "cts1")
		if err != nil {
			return err
		}
		defer s.Close()
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		addr := netip.MustParseAddr("192.0.2.6")
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return err
		}
		conns, err := tcpPair(addr)
		if err != nil {
			return err
		}
		defer closeAll(conns)
		if err := conns[0].(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		// The FIN reaches the other end and is acknowledged: FIN_WAIT2.
		if _, err := conns[1].Read(make([]byte, 1)); err == nil {
			return fmt.Errorf("read data, want the end of the stream")
		}
		if _, err := s.Apply(&rules.Ruleset{Policy: rules.Drop}); err != nil {
			return err
		}
		for i, c := range conns {
			l, r := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
			k := xdpfwCtKey{Family: 4, Proto: 6, Lport: l.Port(), Rport: r.Port()}
			copy(k.Local[:], l.Addr().Unmap().AsSlice())
			copy(k.Remote[:], r.Addr().Unmap().AsSlice())
			var v xdpfwCtVal
			if err := s.maps.Ct.Lookup(&k, &v); err != nil || v.Kind != layout.CtKindTcp || v.Tcp != layout.CtTcpClosing || v.Replied != 1 {
				t.Errorf("end %d of the half-closed connection: %+v (%v), want a closing TCP flow", i, v, err)
			}
		}
		return nil
	})
}
