package loader

import (
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachKilledLeavesNoHiddenLearner: an attach killed after the
// egress learner went on, its tcx link pinned, but before the interface
// was recorded (before the XDP program, orl1; after it, orl2) leaves an
// interface status names as an orphan, and detach --orphans removes the
// learner and its pin. Before, orl1's learner ran on unseen (status
// silent, detach orl1 "not attached", detach --orphans "none"), and on
// both its pin stayed in the pin directory for the state's lifetime.
func TestAttachKilledLeavesNoHiddenLearner(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		s, err := attachedState(dir, "orl0", "orl1", "orl2")
		if err != nil {
			return err
		}
		defer s.Close()
		idx := map[string]int{}
		for _, name := range []string{"orl1", "orl2"} {
			link, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			idx[name] = link.Attrs().Index
			// The kill: the record never written.
			if err := s.change(func(t *tx) error { return t.m.Ifaces.Delete(uint32(idx[name])) }); err != nil {
				return err
			}
		}
		link, _ := netlink.LinkByName("orl1")
		if err := netlink.LinkSetXdpFdWithFlags(link, -1, ModeGeneric.flags()); err != nil {
			return err
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		if len(st.Problems) != 2 || st.Problems[0].Iface != "orl1" || st.Problems[0].Kind != "orphan" || st.Problems[1].Iface != "orl2" {
			t.Errorf("problems %+v, want orl1 and orl2 orphans", st.Problems)
		}
		s.Close() // DetachOrphans takes the lock
		done, err := DetachOrphans(dir)
		if err != nil {
			return err
		}
		if len(done) != 2 {
			t.Errorf("detached %+v, want orl1 and orl2", done)
		}
		for name, i := range idx {
			if _, err := os.Lstat(egressLinkPin(dir, i)); err == nil {
				t.Errorf("%s's egress link still pinned after DetachOrphans", name)
			}
			link, _ := netlink.LinkByName(name)
			if tcx, clsact := egressProgs(t, link); len(tcx)+len(clsact) != 0 {
				t.Errorf("%s's learner still on after DetachOrphans (%v, %v)", name, tcx, clsact)
			}
		}
		if orphans, err := Orphans(dir); err != nil || len(orphans) != 0 {
			t.Errorf("orphans after DetachOrphans: %+v, %v", orphans, err)
		}
		return nil
	})
}
