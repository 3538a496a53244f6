package perf

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// EmptyProgram is the floor: an XDP program that returns XDP_PASS and does
// nothing else, so its cost is the test-run machinery's own.
func EmptyProgram() (*ebpf.Program, error) {
	return ConstProgram("xdp_empty", 2) // XDP_PASS
}

// EmptyTCProgram is the floor for TC programs: a classifier that returns
// TC_ACT_UNSPEC (hand the packet on) and does nothing else.
func EmptyTCProgram() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "tc_empty",
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
}

// ConstProgram is an XDP program that only returns action.
func ConstProgram(name string, action int32) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, action), asm.Return()},
	})
}
