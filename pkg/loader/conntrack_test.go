package loader

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestConntrackTable: flows written into the table as the egress program
// writes them, and counted as its inserts, are listed (addresses, ports,
// kind, state, age and time left by the timeout that applies), filtered,
// counted, and flushed a chunk at a time (more than one chunk here), the
// flushed counter keeping evictions at zero: without it they would be
// every flow flushed.
func TestConntrackTable(t *testing.T) {
	s, now := openWholeTable(t)
	const n = 5000
	for i := range n {
		k := xdpfwCtKey{Family: 4, Proto: 17, Lport: uint16(10000 + i%50000), Rport: 53}
		copy(k.Local[:], []byte{192, 0, 2, 1})
		copy(k.Remote[:], []byte{198, 51, 100, byte(i % 200), byte(i / 200)})
		v := xdpfwCtVal{LastSeen: uint64(now - 10*time.Second), Kind: layout.CtKindUdp}
		if i == 0 {
			k.Proto, v.Kind, v.Tcp, v.Replied = 6, layout.CtKindTcp, layout.CtTcpEstablished, 1
		}
		if err := s.maps.Ct.Put(&k, &v); err != nil {
			t.Fatal(err)
		}
	}
	// Counted as the egress program counts what it learns (one CPU's
	// counter: the stats sum them).
	per := make([]xdpfwCtStats, ebpf.MustPossibleCPU())
	per[0].N[layout.CtsInserts] = n
	if err := s.maps.CtStats.Put(uint32(0), per); err != nil {
		t.Fatal(err)
	}
	f, err := ParseCTFilter("tcp", "198.51.100.0/24", 53, "established")
	if err != nil {
		t.Fatal(err)
	}
	flows, err := s.ConntrackFlows(f)
	if err != nil || len(flows) != 1 {
		t.Fatalf("tcp flows %+v (%v), want one", flows, err)
	}
	fl := flows[0]
	if fl.Local != netip.MustParseAddr("192.0.2.1") || fl.Remote != netip.MustParseAddr("198.51.100.0") || fl.LocalPort != 10000 ||
		fl.Kind != "tcp" || fl.State != "established" || fl.Age < 10*time.Second || fl.Left > 432000*time.Second-10*time.Second {
		t.Errorf("flow %+v", fl)
	}
	udp, err := s.ConntrackFlows(CTFilter{States: []string{"unreplied"}})
	if err != nil || len(udp) != n-1 || udp[0].Left > 20*time.Second {
		t.Errorf("%d unreplied flows (%v), want %d with udp's 30s less their 10s", len(udp), err, n-1)
	}
	if _, err := ParseCTFilter("", "", 0, "established,open"); err == nil {
		t.Error("state open accepted")
	}
	st, err := s.ConntrackStats()
	if err != nil || st.Entries != n || st.Capacity != layout.CtEntries || st.Inserts != n || st.Evictions != 0 {
		t.Errorf("stats %+v (%v), want %d entries of %d, as many inserts, no evictions", st, err, n, layout.CtEntries)
	}
	got, err := s.FlushConntrack()
	if err != nil || got != n {
		t.Fatalf("flush: %d, %v; want %d", got, err, n)
	}
	st, err = s.ConntrackStats()
	if err != nil || st.Entries != 0 || st.Flushed != n || st.Evictions != 0 {
		t.Errorf("stats after flush %+v (%v), want empty, %d flushed", st, err, n)
	}
}

// openWholeTable opens a live state whose ruleset reads connection
// state, so its table is whole (an idle one keeps only the last
// thousand flows), and reads the conntrack clock. The ruleset is applied
// from a namespace of its own, so the resize finds no TCP connection of
// this machine's to put in the table (ctseed.go).
func openWholeTable(t *testing.T) (*State, time.Duration) {
	t.Helper()
	s := openLive(t)
	inThrowawayNetns(t, func() error {
		_, err := s.Apply(&rules.Ruleset{Policy: rules.Drop})
		return err
	})
	now, err := ctClock()
	if err != nil {
		t.Fatal(err)
	}
	return s, now
}

// TestFlowOfTCPStates: ct list names each TCP state and gives it the time
// left by that state's own timeout, as ct_flow_timeout picks it. Every
// timeout is set apart from the others, so one state read with another's
// timeout shows. (The states and the timeouts are numbered differently:
// established was given closing's timeout, syn-recv established's, and
// close, read modulo 4, was named and timed as syn-sent.)
func TestFlowOfTCPStates(t *testing.T) {
	var ct rules.Conntrack
	for i := range ct.Timeouts {
		ct.Timeouts[i] = uint32(1000 * (i + 1))
	}
	timeout := func(name string) time.Duration {
		for i, n := range rules.CTTimeoutNames {
			if n == name {
				return ct.Timeout(i)
			}
		}
		t.Fatalf("no timeout %q", name)
		return 0
	}
	const now, age = time.Hour, 5 * time.Second
	for _, tc := range []struct {
		tcp            uint8
		unanswered     bool
		state, timeout string
	}{
		{layout.CtTcpSynSent, false, "syn-sent", "tcp-syn-sent"},
		{layout.CtTcpSynRecv, false, "syn-recv", "tcp-syn-recv"},
		{layout.CtTcpEstablished, false, "established", "tcp-established"},
		// picked up mid-stream, nothing answered: syn-sent's, the shorter here
		{layout.CtTcpEstablished, true, "established", "tcp-syn-sent"},
		{layout.CtTcpClosing, false, "closing", "tcp-closing"},
		{layout.CtTcpClose, false, "close", "tcp-close"},
		{7, false, "tcp-7", "tcp-close"}, // none the datapath writes: timed as close, as it does
	} {
		k := xdpfwCtKey{Family: 4, Proto: 6, Lport: 40000, Rport: 443}
		v := xdpfwCtVal{LastSeen: uint64(now - age), Kind: layout.CtKindTcp, Tcp: tc.tcp, Replied: 1}
		if tc.unanswered {
			v.Replied = 0
		}
		fl := flowOf(&k, &v, now, ct)
		if want := timeout(tc.timeout) - age; fl.State != tc.state || fl.Left != want {
			t.Errorf("tcp state %d: listed %s with %s left, want %s with %s (its %s timeout less its age)",
				tc.tcp, fl.State, fl.Left, tc.state, want, tc.timeout)
		}
	}
}

// TestConntrackStatsPlaced: flows xdpfw puts into the table itself (the
// host's TCP connections a resize seeds) are counted, so the evictions
// stay every flow that went in less what is left, through a resize to a
// larger table that seeds two and one to a smaller table that drops
// some (evictions too: the smaller table dropped them). Uncounted, the
// seeded flows hid as many evictions.
func TestConntrackStatsPlaced(t *testing.T) {
	s := openLive(t)
	const learnt = 2000
	inThrowawayNetns(t, func() error {
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
		defer closeAll(conns)
		sized := func(flows uint32) error {
			_, err := s.Apply(&rules.Ruleset{Policy: rules.Drop, Conntrack: rules.Conntrack{MaxFlows: flows}})
			return err
		}
		seeded := uint64(2) // the connection's two ends
		check := func(when string, capacity int) {
			t.Helper()
			st, err := s.ConntrackStats()
			if err != nil {
				t.Errorf("%s: %v", when, err)
				return
			}
			in := st.Inserts + seeded
			if st.Capacity != capacity || st.Inserts != learnt || st.Expired != 0 || st.Flushed != 0 ||
				st.Entries > capacity || st.Evictions != in-uint64(st.Entries) {
				t.Errorf("%s: stats %+v, want %d flows learnt and %d seeded in a table of %d: evictions %d - %d entries",
					when, st, learnt, seeded, capacity, in, st.Entries)
			}
		}
		if err := sized(2 * rules.MinCTFlows); err != nil {
			return err
		}
		// Learnt as the egress program learns, before the seeds' time
		// (read back: a resize that took a second under load made the
		// clock's time later), so the smaller table keeps the seeds and
		// the next resize's seed finds them: counted as it counts.
		var now time.Duration
		if err := forEachBatch(s.maps.Ct, 256, func(_ []xdpfwCtKey, vals []xdpfwCtVal) error {
			for _, v := range vals {
				if now == 0 || time.Duration(v.LastSeen) < now {
					now = time.Duration(v.LastSeen)
				}
			}
			return nil
		}); err != nil || now == 0 {
			return fmt.Errorf("the seeds' time: %v (%v)", now, err)
		}
		for i := range learnt {
			k := xdpfwCtKey{Family: 4, Proto: 17, Lport: uint16(10000 + i), Rport: 53}
			copy(k.Local[:], []byte{192, 0, 2, 1})
			copy(k.Remote[:], []byte{198, 51, 100, 1})
			v := xdpfwCtVal{LastSeen: uint64(now - time.Second - time.Duration(i)), Kind: layout.CtKindUdp}
			if err := s.maps.Ct.Put(&k, &v); err != nil {
				return err
			}
		}
		per := make([]xdpfwCtStats, ebpf.MustPossibleCPU())
		per[0].N[layout.CtsInserts] = learnt
		if err := s.maps.CtStats.Put(uint32(0), per); err != nil {
			return err
		}
		check("learnt in the larger table", 2*rules.MinCTFlows)
		if err := sized(rules.MinCTFlows); err != nil {
			return err
		}
		check("resized smaller", rules.MinCTFlows)
		// An attach seeds the live table: a connection made since.
		more, err := tcpPair(addr)
		if err != nil {
			return err
		}
		defer closeAll(more)
		if err := addVeths("ctpl0"); err != nil {
			return err
		}
		if _, _, err := s.AttachAll([]string{"ctpl0"}, ModeGeneric, false); err != nil {
			return err
		}
		seeded += 2
		check("attached", rules.MinCTFlows)
		return nil
	})
}
