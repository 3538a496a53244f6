package loader

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestForgetRenamedRemovesEgress: an interface renamed since it was
// attached, its XDP program replaced by another's, still runs the
// state's egress learner (a clsact filter, which no pin holds); it is
// the recorded interface, not a new one given its ifindex, and
// forgetting its record (detach --ifindex, detach by the recorded name)
// removes the learner. It was taken for a new interface and only the
// record went: the filter stayed for good, holding the state's maps,
// the pins removed with the last record.
func TestForgetRenamedRemovesEgress(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "frn0", "frn1")
		if err != nil {
			return err
		}
		defer s.Close()
		other, err := otherXDP()
		if err != nil {
			return err
		}
		defer other.Close()
		for _, n := range [][2]string{{"frn0", "frn8"}, {"frn1", "frn9"}} {
			l := linkNamed(t, n[0])
			checkOneEgress(t, s, l, EgressClsact)
			if err := netlink.LinkSetName(l, n[1]); err != nil {
				return err
			}
			if err := netlink.LinkSetXdpFdWithFlags(l, other.FD(), ModeGeneric.flags()); err != nil {
				return err
			}
		}
		frn8, frn9 := linkNamed(t, "frn8"), linkNamed(t, "frn9")
		if rec, _, err := s.DetachIfindex(frn8.Attrs().Index); err != nil || rec.Attached {
			t.Fatalf("detach --ifindex %d: %+v, %v", frn8.Attrs().Index, rec, err)
		}
		checkNoEgress(t, dir, frn8)
		d, err := s.Detach("frn1")
		if err != nil || len(d.Forgot) != 1 || !d.Last {
			t.Fatalf("detach frn1: %+v, %v; want its record forgotten, the last", d, err)
		}
		checkNoEgress(t, dir, frn9)
		return nil
	})
}

// TestForgetRenamedReplacedRemovesEgress: a replacement of the state's
// programs (here a conntrack resize) passes over an interface renamed
// since it was attached whose XDP program another replaced, so its
// clsact learner runs the egress program the state pinned before, on
// the state's maps; it is still the recorded interface's, and detach
// --ifindex removes it. runsOwnEgress knew only the pinned program:
// the filter stayed for good.
func TestForgetRenamedReplacedRemovesEgress(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "frr0")
		if err != nil {
			return err
		}
		defer s.Close()
		other, err := otherXDP()
		if err != nil {
			return err
		}
		defer other.Close()
		l := linkNamed(t, "frr0")
		checkOneEgress(t, s, l, EgressClsact)
		if err := netlink.LinkSetName(l, "frr9"); err != nil {
			return err
		}
		if err := netlink.LinkSetXdpFdWithFlags(l, other.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		before, err := progID(s.progs.XdpfwEgress)
		if err != nil {
			return err
		}
		if _, err := s.Apply(ctRuleset(t, "conntrack:\n  max-flows: 8192\n")); err != nil {
			return err
		}
		if after, err := progID(s.progs.XdpfwEgress); err != nil || after == before {
			t.Fatalf("the resize left the egress program %d (%v), want a new one", after, err)
		}
		frr9 := linkNamed(t, "frr9")
		if rec, _, err := s.DetachIfindex(frr9.Attrs().Index); err != nil || rec.Attached {
			t.Fatalf("detach --ifindex %d: %+v, %v", frr9.Attrs().Index, rec, err)
		}
		checkNoEgress(t, dir, frr9)
		return nil
	})
}
