package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachAllInterfaceGoneMidway: an interface deleted while an attach
// of several runs, after the ones before it were attached, fails the
// attach with those put back as they were. Its state was read only at
// its turn, and that read failing returned at once: the interfaces
// attached before it stayed attached, and the attach, failing, named none
// of them. The deletion races the attach, so the test tries until one
// lands in the attach (a handful of tries).
func TestAttachAllInterfaceGoneMidway(t *testing.T) {
	hits := 0
	for try := 0; try < 40 && hits < 5; try++ {
		pin := privtest.PinDir(t)
		inThrowawayNetns(t, func() error {
			defer removeState(pin)
			if err := addVeths("agm0", "agm1"); err != nil {
				return err
			}
			s, err := OpenOrCreate(pin)
			if err != nil {
				return err
			}
			defer s.Close()
			ns, err := netns.Get()
			if err != nil {
				return err
			}
			defer ns.Close()
			h, err := netlink.NewHandleAt(ns)
			if err != nil {
				return err
			}
			defer h.Close()
			// agm1 goes as soon as agm0 runs a program.
			deleted := make(chan error, 1)
			go func() {
				for range 200000 {
					l, err := h.LinkByName("agm0")
					if err != nil {
						deleted <- err
						return
					}
					if l.Attrs().Xdp != nil && l.Attrs().Xdp.ProgId != 0 {
						deleted <- h.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "agm1"}})
						return
					}
				}
				deleted <- fmt.Errorf("agm0 never ran a program")
			}()
			_, _, aerr := s.AttachAll([]string{"agm0", "agm1"}, ModeGeneric, false)
			if err := <-deleted; err != nil {
				return err
			}
			if aerr == nil {
				return nil // agm1 went after the attach: try again
			}
			hits++
			if p := xdpProgOf(linkNamed(t, "agm0")); p != 0 {
				t.Errorf("try %d: agm0 runs XDP program %d after the attach failed (%v), want none as before", try, p, aerr)
			}
			atts, err := s.Attachments()
			if err != nil {
				return err
			}
			if len(atts) != 0 {
				t.Errorf("try %d: attachments %+v after the attach failed (%v), want none as before", try, atts, aerr)
			}
			return nil
		})
		if t.Failed() {
			return
		}
	}
	if hits == 0 {
		t.Skip("no deletion landed in the attach")
	}
}
