package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestApplyFileAltname: a file listing an interface by an alternative
// name (ip link property add ... altname, as udev gives them) keeps it
// attached when applied again: its record shows the interface's name,
// which the file did not list, so every other apply detached it (and
// serve at every other reload: a SIGHUP, a feed's change).
func TestApplyFileAltname(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("ifl0"); err != nil {
			return err
		}
		link, err := netlink.LinkByName("ifl0")
		if err != nil {
			return err
		}
		if err := netlink.LinkAddAltName(link, "wanl0"); err != nil {
			return err
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		rs := mustRuleset(t, "policy: pass\ninterfaces: [{name: wanl0, mode: generic}]\nrules: []\n")
		for i := range 3 {
			if _, _, err := s.ApplyFile(rs); err != nil {
				return err
			}
			atts, err := s.Attachments()
			if err != nil {
				return err
			}
			if len(atts) != 1 || !atts[0].Attached {
				return fmt.Errorf("apply %d of a file listing ifl0 by its altname: records %+v, want it attached", i+1, atts)
			}
		}
		return nil
	})
}
