package e2e

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

// DropProgram is the no-op receiver: XDP_DROP and nothing else, the most
// frames per second the receiving veth can take with XDP.
func DropProgram() (*ebpf.Program, error) {
	return perf.ConstProgram("xdp_noop_drop", 1) // XDP_DROP
}

// TouchProgram is the no-op receiver plus the first read of the frame:
// it loads the EtherType and the IP header's first byte (bounds-checked)
// and drops. Against DropProgram it shows what bringing the frame's
// cache line in costs (the generator wrote it on another CPU), apart
// from any filtering. The loads have no use, but neither the verifier
// nor the JIT removes a load, so they run.
func TouchProgram() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "xdp_touch_drop",
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 1),                   // XDP_DROP, whatever the frame
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md.data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md.data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 15), // Ethernet header and one byte after it
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half), // EtherType
			asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte), // IP version and header length
			asm.Return().WithSymbol("out"),
		},
	})
}
