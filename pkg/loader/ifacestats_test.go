package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// runOn runs frame through prog as if it arrived on the named interface.
func runOn(prog *ebpf.Program, iface string, frame []byte) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return err
	}
	ctx := xdpfwXdpMd{DataEnd: uint32(len(frame)), IngressIfindex: uint32(link.Attrs().Index)}
	if _, err := prog.Run(&ebpf.RunOptions{Data: frame, Context: ctx}); err != nil {
		return fmt.Errorf("run on %s: %w", iface, err)
	}
	return nil
}

// TestInterfaceCounters: each attached interface has its own verdict
// counters, the totals are their sum, and an interface attached again
// counts from zero while the totals keep what it counted.
func TestInterfaceCounters(t *testing.T) {
	pin := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		s, err := attachedState(pin, "cnt0", "cnt1")
		if err != nil {
			return err
		}
		defer s.Close()
		defer s.unpinAll()
		rs := &rules.Ruleset{Policy: rules.Drop, Rules: []rules.Rule{{ID: 1, Action: rules.Pass, Match: rules.Match{Proto: rules.Proto{Set: true, Num: rules.ProtoUDP}, Dport: rules.PortRange{Set: true, Lo: 53, Hi: 53}}}}}
		if _, err := s.Apply(rs); err != nil {
			return err
		}
		dns := fixtures.UDP("198.51.100.7", "192.0.2.10", 40000, 53)
		ssh := fixtures.TCPSyn("198.51.100.7", "192.0.2.10", 40000, 22)
		for _, r := range []struct {
			iface string
			frame []byte
		}{{"cnt0", dns}, {"cnt0", dns}, {"cnt0", ssh}, {"cnt1", ssh}} {
			if err := runOn(s.progs.Xdpfw, r.iface, r.frame); err != nil {
				return err
			}
		}
		want := map[string][5]uint64{"cnt0": {2, 1, 1, 0, 0}, "cnt1": {0, 1, 1, 0, 0}}
		checkIfaceCounters(t, s, want)
		total, err := s.VerdictCounters()
		if err != nil {
			return err
		}
		if total["pass"].Packets != 2 || total["drop"].Packets != 2 || total["default"].Packets != 2 {
			t.Errorf("totals %+v, want pass 2, drop 2, default 2", total)
		}
		// cnt1 detached and attached again: it counts from zero, and
		// the totals stay.
		if _, err := s.Detach("cnt1"); err != nil {
			return err
		}
		if _, _, err := s.Attach("cnt1", ModeGeneric, false); err != nil {
			return err
		}
		want["cnt1"] = [5]uint64{}
		checkIfaceCounters(t, s, want)
		if again, err := s.VerdictCounters(); err != nil || again["drop"] != total["drop"] || again["pass"] != total["pass"] {
			t.Errorf("totals after attaching again %+v (%v), want %+v", again, err, total)
		}
		return nil
	})
}

func checkIfaceCounters(t *testing.T, s *State, want map[string][5]uint64) {
	t.Helper()
	got, err := s.InterfaceCounters()
	if err != nil {
		t.Errorf("interface counters: %v", err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%d interfaces counted, want %d", len(got), len(want))
	}
	for _, ic := range got {
		var packets [5]uint64
		for i, name := range StatNames {
			packets[i] = ic.Counters[name].Packets
		}
		if packets != want[ic.Iface] || len(ic.Shared) != 0 {
			t.Errorf("%s: packets %v (shared with %v), want %v", ic.Iface, packets, ic.Shared, want[ic.Iface])
		}
	}
}
