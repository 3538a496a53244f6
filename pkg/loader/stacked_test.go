package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachRefusesStackedPair: xdpfw is not attached to an interface
// and one directly above it (a macvlan on it, a bridge over its port):
// the kernel changes no XDP program of an interface while one above it
// has one, so the lower one's could never be replaced again, and the
// next growth of the maps failed there, cut short, every later change
// (detach too) failing as it finished it. Refused in either order, and
// named together in one attach or file, before anything changes.
func TestAttachRefusesStackedPair(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "stk0")
		if err != nil {
			return err
		}
		defer s.Close()
		if err := addVeths("stk1", "stk2", "stk3"); err != nil {
			return err
		}
		for _, low := range []string{"stk0", "stk1", "stk3"} {
			mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: low + "mv", ParentIndex: linkNamed(t, low).Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
			if err := netlink.LinkAdd(mv); err != nil {
				return fmt.Errorf("add macvlan on %s: %w", low, err)
			}
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "stkbr"}}
		if err := netlink.LinkAdd(br); err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(linkNamed(t, "stk2"), br); err != nil {
			return err
		}
		refused := func(what string, err error, want ...string) {
			t.Helper()
			if err == nil {
				t.Errorf("%s: no error, want it refused", what)
				return
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %v, want it to say %q", what, err, w)
				}
			}
		}
		// Above an attached one; a bridge over an attached port.
		_, _, err = s.Attach("stk0mv", ModeGeneric, false)
		refused("attach stk0mv on attached stk0", err, "stk0mv is above stk0", "attach stk0 alone")
		if _, _, err := s.Attach("stk2", ModeGeneric, false); err != nil {
			return err
		}
		_, _, err = s.Attach("stkbr", ModeGeneric, false)
		refused("attach stkbr over attached stk2", err, "stkbr is above stk2")
		// Below an attached one.
		if _, _, err := s.Attach("stk3mv", ModeGeneric, false); err != nil {
			return err
		}
		_, _, err = s.Attach("stk3", ModeGeneric, false)
		refused("attach stk3 below attached stk3mv", err, "stk3mv is above stk3")
		// Both in one attach, and in one file: nothing changes.
		_, _, err = s.AttachAll([]string{"stk1", "stk1mv"}, ModeGeneric, false)
		refused("attach stk1 stk1mv", err, "stk1mv is above stk1")
		rs := mustRuleset(t, "policy: pass\ninterfaces: [{name: stk0, mode: generic}, {name: stk1, mode: generic}, {name: stk1mv, mode: generic}]\nrules: []\n")
		_, _, err = s.ApplyFile(rs)
		refused("apply a file listing stk1 and stk1mv", err, "stk1mv is above stk1")
		for _, name := range []string{"stk0mv", "stkbr", "stk3", "stk1", "stk1mv"} {
			if p := xdpProgOf(linkNamed(t, name)); p != 0 {
				t.Errorf("%s runs XDP program %d after the refusals, want none", name, p)
			}
		}
		atts, err := s.Attachments()
		if err != nil {
			return err
		}
		var names []string
		for _, a := range atts {
			names = append(names, a.Iface)
		}
		if got := strings.Join(names, " "); got != "stk0 stk2 stk3mv" {
			t.Errorf("records after the refusals: %s, want stk0 stk2 stk3mv", got)
		}
		// A growth still replaces the program on every interface.
		if _, err := s.Apply(hostPortRules(1200, 2000)); err != nil {
			return fmt.Errorf("apply 1200 rules: %w", err)
		}
		return nil
	})
}

// TestApplyFileMovesAcrossStacked: a file that moves the firewall from an
// interface to the one directly below or above it (the VLAN's to its
// parent's, or back) lists one of the pair, and the other, listed no
// more, comes off: no pair is made. It was refused as a pair, the live
// attachment counted as staying, so a config (serve's too) could never
// make the move, saying to attach the one it listed alone.
func TestApplyFileMovesAcrossStacked(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("mvs0"); err != nil {
			return err
		}
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "mvs0mv", ParentIndex: linkNamed(t, "mvs0").Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			return fmt.Errorf("add macvlan: %w", err)
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, _, err := s.AttachAll([]string{"mvs0mv"}, ModeGeneric, false); err != nil {
			return err
		}
		for _, tc := range []struct{ to, off string }{{"mvs0", "mvs0mv"}, {"mvs0mv", "mvs0"}} {
			rs := mustRuleset(t, "policy: pass\ninterfaces: [{name: "+tc.to+", mode: generic}]\nrules: []\n")
			if _, _, err := s.ApplyFile(rs); err != nil {
				return fmt.Errorf("apply a file listing %s alone, %s attached: %w", tc.to, tc.off, err)
			}
			if p := xdpProgOf(linkNamed(t, tc.off)); p != 0 {
				t.Errorf("%s runs XDP program %d once a file listing %s alone applied, want none", tc.off, p, tc.to)
			}
			if p := xdpProgOf(linkNamed(t, tc.to)); p == 0 {
				t.Errorf("%s runs no XDP program once a file listing it applied", tc.to)
			}
		}
		return nil
	})
}
