package loader

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestForgetRenamedRemovesEgress: an interface renamed since it was
// attached, its XDP program replaced by another's, still runs the
// state's egress learner (a clsact filter, which no pin holds); it is
// the recorded interface, not a new one given its ifindex, and
// forgetting its record (detach --ifindex, detach by the recorded name)
// removes the learner. It was taken for a new interface and only the
// record went: the filter stayed for good, holding the state's maps,
// the pins removed with the last record.
func TestForgetRenamedRemovesEgress(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "frn0", "frn1")
		if err != nil {
			return err
		}
		defer s.Close()
		other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "other", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer other.Close()
		for _, n := range [][2]string{{"frn0", "frn8"}, {"frn1", "frn9"}} {
			l := linkNamed(t, n[0])
			checkOneEgress(t, s, l, EgressClsact)
			if err := netlink.LinkSetName(l, n[1]); err != nil {
				return err
			}
			if err := netlink.LinkSetXdpFdWithFlags(l, other.FD(), ModeGeneric.flags()); err != nil {
				return err
			}
		}
		frn8, frn9 := linkNamed(t, "frn8"), linkNamed(t, "frn9")
		if rec, _, err := s.DetachIfindex(frn8.Attrs().Index); err != nil || rec.Attached {
			t.Fatalf("detach --ifindex %d: %+v, %v", frn8.Attrs().Index, rec, err)
		}
		checkNoEgress(t, dir, frn8)
		d, err := s.Detach("frn1")
		if err != nil || len(d.Forgot) != 1 || !d.Last {
			t.Fatalf("detach frn1: %+v, %v; want its record forgotten, the last", d, err)
		}
		checkNoEgress(t, dir, frn9)
		return nil
	})
}
