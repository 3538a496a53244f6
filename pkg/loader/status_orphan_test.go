package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestStatusOrphanOnListed: an xdpfw program that no pin directory holds,
// put in place of the state's on an interface the state lists, is one
// problem, replaced (what status says of the interface), naming the
// program: status listed it twice, as replaced and as an orphan.
func TestStatusOrphanOnListed(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "sto0", "sto1")
		if err != nil {
			return err
		}
		defer s.Close()
		orphan, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xdpfw", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer orphan.Close()
		if err := netlink.LinkSetXdpFdWithFlags(linkNamed(t, "sto0"), orphan.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		id, err := progID(orphan)
		if err != nil {
			return err
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		if len(st.Problems) != 1 {
			return fmt.Errorf("status problems: %+v, want one", st.Problems)
		}
		p := st.Problems[0]
		if p.Kind != "replaced" || p.Iface != "sto0" || p.ProgID != id || !strings.Contains(p.Detail, "no pin directory holds") {
			t.Errorf("status problem: %+v, want sto0 replaced by the orphan %d", p, id)
		}
		return nil
	})
}
