package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestApplyFileForgetsInterfaceMadeAgain: a file listing an interface
// deleted and made again under its name (a veth, a VLAN: a new ifindex)
// attaches the new one and forgets the gone one's record, where the
// record stayed, listed by status as missing (failing it) beside the
// running one, one more at each time the interface was made again. A
// gone interface the file lists that is not there again keeps its
// record: nothing supersedes it, and status says it is missing.
func TestApplyFileForgetsInterfaceMadeAgain(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("ifg0"); err != nil {
			return err
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		rs := mustRuleset(t, "policy: pass\ninterfaces: [{name: ifg0, mode: generic}]\nrules: []\n")
		records := func(when string) error {
			atts, err := s.Attachments()
			if err != nil {
				return err
			}
			link, err := netlink.LinkByName("ifg0")
			if err != nil {
				return err
			}
			if len(atts) != 1 || atts[0].Ifindex != link.Attrs().Index || !atts[0].Attached {
				return fmt.Errorf("%s: records %+v, want ifg0 (ifindex %d) alone, attached", when, atts, link.Attrs().Index)
			}
			return nil
		}
		for i := range 3 {
			if _, _, err := s.ApplyFile(rs); err != nil {
				return err
			}
			if err := records(fmt.Sprintf("applied after ifg0 was made %d times", i+1)); err != nil {
				return err
			}
			if err := delLink("ifg0"); err != nil {
				return err
			}
			if err := addVeths("ifg0"); err != nil {
				return err
			}
		}
		if err := delLink("ifg0"); err != nil {
			return err
		}
		if _, _, err := s.ApplyFile(rs); err == nil {
			return fmt.Errorf("a file listing ifg0, gone, applied without an error")
		}
		atts, err := s.Attachments()
		if err != nil {
			return err
		}
		if len(atts) != 1 || atts[0].Iface != "ifg0" || atts[0].Attached {
			return fmt.Errorf("ifg0 gone, not made again: records %+v, want its record alone, not attached", atts)
		}
		return nil
	})
}
