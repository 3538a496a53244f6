package loader

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachAllPutsBack: an attach of several interfaces in native mode
// that the kernel refuses on the last (a macvlan has no native XDP)
// leaves the ones before it as they were: one not attached before runs
// no program and has no record nor egress learner, one attached in
// generic mode is in generic mode again, its record too, and one whose
// program --force replaced runs that program again. They stayed
// attached, in native mode, the attach failing.
func TestAttachAllPutsBack(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "apb0")
		if err != nil {
			return err
		}
		defer s.Close()
		if err := addVeths("apb1", "apb2", "apb3"); err != nil {
			return err
		}
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "apb2mv", ParentIndex: linkNamed(t, "apb2").Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			return err
		}
		// Another's program, held by the interface alone: replaced
		// with --force, it is freed unless the attach holds it.
		other, err := otherXDP()
		if err != nil {
			return err
		}
		err = netlink.LinkSetXdpFdWithFlags(linkNamed(t, "apb3"), other.FD(), ModeGeneric.flags())
		other.Close()
		if err != nil {
			return err
		}
		prog, otherID := xdpProgOf(linkNamed(t, "apb0")), xdpProgOf(linkNamed(t, "apb3"))
		if _, _, err := s.AttachAll([]string{"apb1", "apb0", "apb3", "apb2mv"}, ModeNative, true); err == nil {
			t.Fatal("attach apb1 apb0 apb3 apb2mv --mode native --force: no error, want the macvlan refused")
		}
		if x := linkNamed(t, "apb3").Attrs().Xdp; x == nil || x.ProgId != otherID || modeOf(x.AttachMode) != ModeGeneric {
			t.Errorf("apb3 runs %+v after the failed attach, want the other program %d in generic mode as before", x, otherID)
		}
		if p := xdpProgOf(linkNamed(t, "apb1")); p != 0 {
			t.Errorf("apb1 runs XDP program %d after the failed attach, want none", p)
		}
		if on, err := s.hasEgress(linkNamed(t, "apb1")); err != nil || on {
			t.Errorf("apb1 has the egress learner (%v, %v) after the failed attach, want none", on, err)
		}
		if x := linkNamed(t, "apb0").Attrs().Xdp; x == nil || x.ProgId != prog || modeOf(x.AttachMode) != ModeGeneric {
			t.Errorf("apb0 runs %+v after the failed attach, want program %d in generic mode as before", x, prog)
		}
		atts, err := s.Attachments()
		if err != nil {
			return err
		}
		if len(atts) != 1 || atts[0].Iface != "apb0" || atts[0].Mode != ModeGeneric || !atts[0].Attached {
			t.Errorf("attachments %+v after the failed attach, want apb0 alone, generic, as before", atts)
		}
		return nil
	})
}
