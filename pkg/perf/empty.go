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

// ConstProgram is an XDP program that only returns action.
func ConstProgram(name string, action int32) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, action), asm.Return()},
	})
}
