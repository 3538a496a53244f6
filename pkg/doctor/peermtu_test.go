package doctor

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestVethJumboPeer: a veth of MTU 1500 whose peer's MTU is 9000 gets the
// frags program from attach (the kernel refuses it the other in native
// mode), and doctor says so, its peer in this network namespace or in
// another: it went by the veth's own MTU and said xdpfw. A peer's MTU
// of one buffer leaves the one-buffer program.
func TestVethJumboPeer(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	other, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = perf.InNetns(ns, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dj0"}, PeerName: "dj0p"}); err != nil {
			return err
		}
		peer, err := netlink.LinkByName("dj0p")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(peer, 9000); err != nil {
			return err
		}
		checkProgram(t, "peer here", 9000, "xdpfw_frags")
		if err := netlink.LinkSetMTU(peer, 3000); err != nil {
			return err
		}
		checkProgram(t, "peer here at MTU 3000", 3000, "xdpfw")
		if err := netlink.LinkSetMTU(peer, 9000); err != nil {
			return err
		}
		if err := netlink.LinkSetNsFd(peer, int(other)); err != nil {
			return err
		}
		checkProgram(t, "peer in another namespace", 9000, "xdpfw_frags")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkProgram(t *testing.T, what string, peerMTU int, program string) {
	t.Helper()
	ifaces, err := checkInterfaces([]string{"dj0"})
	if err != nil {
		t.Error(err) // off the test's goroutine: no Fatal
		return
	}
	i := ifaces[0]
	says := fmt.Sprintf("(its veth peer's %d)", peerMTU)
	if i.MTU != 1500 || i.PeerMTU != peerMTU || i.Program != program || !strings.Contains(i.Detail, says) {
		t.Errorf("%s: MTU %d, peer MTU %d, program %s (%q); want 1500, %d, %s, saying %q", what, i.MTU, i.PeerMTU, i.Program, i.Detail, peerMTU, program, says)
	}
}

// TestTunNotEthernet: doctor says attach refuses a tun device (no
// Ethernet header), as attach does: a failed check when the device is
// named, a warning among every interface; a veth beside it is ok.
func TestTunNotEthernet(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	err = perf.InNetns(ns, func() error {
		if err := netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "dt0"}, Mode: netlink.TUNTAP_MODE_TUN}); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dv0"}, PeerName: "dv0p"}); err != nil {
			return err
		}
		ifaces, err := checkInterfaces([]string{"dt0", "dv0"})
		if err != nil {
			return err
		}
		if f := ifaces[0].Finding; f.Verdict != Fail || !strings.Contains(f.Detail, "attach refuses it: dt0 has no Ethernet header") {
			t.Errorf("doctor of a tun device named: %+v", f)
		}
		if f := ifaces[1].Finding; f.Verdict != OK {
			t.Errorf("doctor of a veth: %+v", f)
		}
		all, err := checkInterfaces(nil)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(i Interface) bool { return i.Name == "dt0" })
		if i < 0 || all[i].Verdict != Warn {
			t.Errorf("doctor of every interface: %+v, want a warning of dt0", all)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
