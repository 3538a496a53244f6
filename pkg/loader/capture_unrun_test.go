package loader

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCaptureIfaceNotRunning: a capture of an interface the state has a
// record at but whose program does not run there is refused, nothing
// started, naming the record and what status says of it: a new
// interface at a gone one's ifindex (missing), and an interface whose
// program another replaced (replaced). Their frames never reach the
// program; the record alone let such a capture start and copy nothing.
func TestCaptureIfaceNotRunning(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "cnr0", "cnr1")
		if err != nil {
			return err
		}
		defer s.Close()
		idx, other, err := reuseIfindex("cnr0", "cnr2")
		if err != nil {
			return err
		}
		defer other.Close()
		repl, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "repl", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer repl.Close()
		cnr1 := linkNamed(t, "cnr1")
		if err := netlink.LinkSetXdpFdWithFlags(cnr1, repl.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		info, err := repl.Info()
		if err != nil {
			return err
		}
		replID, _ := info.ID()
		for _, c := range []struct {
			ifindex int
			want    string
		}{
			{idx, fmt.Sprintf("capture: xdpfw is not attached to cnr2: its ifindex %d is the record of cnr0, which is gone (status: cnr0 missing): nothing arriving there would be copied (see xdpfw status)", idx)},
			{cnr1.Attrs().Index, fmt.Sprintf("capture: xdpfw is not attached to cnr1: it runs XDP program id %d, not the pinned xdpfw's (status: cnr1 replaced): nothing arriving there would be copied (see xdpfw status)", replID)},
		} {
			if cp, err := s.StartCapture(CaptureFilter{Drop: true, Snaplen: 64, Ifindex: uint32(c.ifindex)}); err == nil {
				s.StopCapture(uint32(os.Getpid()))
				cp.Close()
				t.Errorf("a capture of ifindex %d started; want %q", c.ifindex, c.want)
			} else if err.Error() != c.want {
				t.Errorf("got %q, want %q", err, c.want)
			}
			if ringInSlot(t, s) {
				t.Errorf("the refused capture of ifindex %d left a ring in the slot", c.ifindex)
			}
		}
		return nil
	})
}
