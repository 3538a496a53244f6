package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachRefusesXDPLink: another's XDP program held by a BPF link
// (cilium/ebpf's link.AttachXDP, libbpf's bpf_link_create) cannot be
// replaced by netlink, --force or not: attach refuses it up front,
// naming the link and how to remove it, and leaves the interface as it
// was (no egress learner, no record), where --force failed half way with
// "detach the program on X: device or resource busy" and the refusal
// without it told to use --force.
func TestAttachRefusesXDPLink(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "xl0")
		if err != nil {
			return err
		}
		defer s.Close()
		if err := addVeths("xl1"); err != nil {
			return err
		}
		l := linkNamed(t, "xl1")
		theirs, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "theirs", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer theirs.Close()
		xl, err := link.AttachXDP(link.XDPOptions{Program: theirs, Interface: l.Attrs().Index, Flags: link.XDPGenericMode})
		if err != nil {
			return err
		}
		defer xl.Close()
		info, err := xl.Info()
		if err != nil {
			return err
		}
		want := fmt.Sprintf("BPF link id %d", info.ID)
		for _, force := range []bool{false, true} {
			if err := s.CanAttach("xl1", force); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CanAttach(force %v): %v, want it refused naming %q", force, err, want)
			}
			_, _, err := s.Attach("xl1", ModeGeneric, force)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Attach(force %v): %v, want it refused naming %q", force, err, want)
			}
		}
		theirsID, err := progID(theirs)
		if err != nil {
			return err
		}
		l = linkNamed(t, "xl1")
		if x := l.Attrs().Xdp; x == nil || x.ProgId != theirsID {
			t.Errorf("xl1's XDP program after the refusals: %+v, want theirs (id %d)", x, theirsID)
		}
		checkNoEgress(t, dir, l)
		atts, err := s.Attachments()
		if err != nil {
			return err
		}
		if len(atts) != 1 || atts[0].Iface != "xl0" {
			t.Errorf("records after the refusals: %+v, want xl0's alone", atts)
		}
		return nil
	})
}
