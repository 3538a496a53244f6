package loader

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// namedProgram is a program that hands every packet on (TC_ACT_UNSPEC,
// TCX_NEXT), named name as the kernel has it; closed when the test ends.
func namedProgram(t *testing.T, name string) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// foreignTCX puts another's program on l's tcx egress; its link goes
// when the test ends (or with the throwaway namespace's interface).
func foreignTCX(t *testing.T, l netlink.Link) {
	t.Helper()
	p := namedProgram(t, "")
	tl, err := link.AttachTCX(link.TCXOptions{Interface: l.Attrs().Index, Program: p, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
}

// checkEgressFirst: xdpfw's learner runs before the other egress
// programs on l's hook, so none of them can end the chain before it sees
// a packet (attachTCX, attachClsact).
func checkEgressFirst(t *testing.T, s *State, l netlink.Link, hook string) {
	t.Helper()
	id, err := progID(s.progs.XdpfwEgress)
	if err != nil {
		t.Fatal(err)
	}
	if hook == EgressTCX {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Programs) < 2 || res.Programs[0].ID != ebpf.ProgramID(id) {
			t.Errorf("%s: tcx egress programs %+v, want xdpfw's %d first of several", l.Attrs().Name, res.Programs, id)
		}
		return
	}
	fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
	if err != nil {
		t.Fatal(err)
	}
	var first *netlink.BpfFilter // the lowest priority runs first
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && (first == nil || bf.Priority < first.Priority) {
			first = bf
		}
	}
	if len(fs) < 2 || first == nil || uint32(first.Id) != id {
		t.Errorf("%s: %d egress filters, the first %+v; want xdpfw's %d first of several", l.Attrs().Name, len(fs), first, id)
	}
}
