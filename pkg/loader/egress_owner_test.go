package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestEgressFilterOwner: a clsact filter is xdpfw's learner by its name
// and its program together. One running another xdpfw egress program
// than the state's pinned one is reported as an egress problem (and
// replaced by attach); one named as xdpfw's but running another's program
// is neither counted nor removed.
func TestEgressFilterOwner(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "ego0")
		if err != nil {
			return err
		}
		defer s.Close()
		l := linkNamed(t, "ego0")
		f, err := ourEgressFilter(l)
		if err != nil || f == nil {
			return fmt.Errorf("xdpfw's filter: %v, %v", f, err)
		}
		// Another build's or state's learner, named as xdpfw's.
		stale := namedProgram(t, xdpfwProgXdpfwEgress)
		if err := replaceEgressFilter(f, stale); err != nil {
			return err
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		if len(st.Interfaces) != 1 || st.Interfaces[0].Egress != EgressNone || !hasProblem(st, "ego0", "egress") {
			t.Errorf("status with a stale learner: %+v, want ego0 without egress and an egress problem", st)
		}
		if _, _, err := s.Attach("ego0", ModeGeneric, false); err != nil {
			return err
		}
		checkOneEgress(t, s, l, EgressClsact)

		// A filter named as xdpfw's, running another's program.
		theirs := namedProgram(t, "theirs")
		if err := attachClsact(l, theirs); err != nil {
			return err
		}
		theirsID, err := progID(theirs)
		if err != nil {
			return err
		}
		if on := s.egressOn(l); on != EgressClsact {
			t.Errorf("egress seen on %s beside another's filter, want clsact", on)
		}
		if _, err := s.DetachAll(); err != nil {
			return err
		}
		if n := filtersWhere(t, l, func(f *netlink.BpfFilter) bool {
			return f.Name == egressFilterName && uint32(f.Id) == theirsID
		}); n != 1 {
			t.Errorf("another's filter named %s: %d left, want 1", egressFilterName, n)
		}
		if f, err := ourEgressFilter(l); err != nil || f != nil {
			t.Errorf("xdpfw's filter after detach: %+v, %v; want none", f, err)
		}
		return nil
	})
}

func hasProblem(st Status, iface, kind string) bool {
	for _, p := range st.Problems {
		if p.Iface == iface && p.Kind == kind {
			return true
		}
	}
	return false
}
