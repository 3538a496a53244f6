package loader

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestAttachRefusesNoEthernet: attach refuses a tun device, whose packets
// start at the IP header (the program read each as a frame of an unknown
// EtherType, and a drop policy dropped them all), saying why and what to
// attach to instead, and attaches nothing there; CanAttach refuses it
// the same; loopback and a veth are taken.
func TestAttachRefusesNoEthernet(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer removeState(dir)
	err = perf.InNetns(ns, func() error {
		tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tn0"}, Mode: netlink.TUNTAP_MODE_TUN}
		if err := netlink.LinkAdd(tun); err != nil {
			return err
		}
		s, err := attachedState(dir, "ve0")
		if err != nil {
			return err
		}
		defer s.Close()
		for _, check := range []func() error{
			func() error { _, _, err := s.Attach("tn0", ModeGeneric, false); return err },
			func() error { return s.CanAttach("tn0", false) },
		} {
			err := check()
			if err == nil || !strings.Contains(err.Error(), "tn0 has no Ethernet header") {
				t.Errorf("attach tn0 (a tun device): %v, want a refusal naming the missing Ethernet header", err)
			}
		}
		link, err := netlink.LinkByName("tn0")
		if err != nil {
			return err
		}
		if x := link.Attrs().Xdp; x != nil && x.ProgId != 0 {
			t.Errorf("tn0 runs program %d after a refused attach", x.ProgId)
		}
		_, _, err = s.Attach("lo", ModeGeneric, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
