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

// TouchProgram is the no-op receiver plus the reads every filter makes:
// bounds-checked, it loads the EtherType, the IP header's first byte and
// the words at frame offsets 26 and 34 (an IPv4 source address and L4
// ports; in IPv6, part of the source address), and drops. Against
// DropProgram it shows what bringing the headers' cache lines in costs,
// apart from any filtering: the generator wrote them on another CPU, the
// addresses and ports anew for every frame (the Ethernet header it never
// rewrites, so reading that alone would cost next to nothing). The loads
// have no use, but neither the verifier nor the JIT removes a load, so
// they run.
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
			asm.Add.Imm(asm.R4, 38), // through offset 37, the IPv4 ports' end
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half), // EtherType
			asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte), // IP version and header length
			asm.LoadMem(asm.R4, asm.R2, 26, asm.Word), // IPv4 source
			asm.LoadMem(asm.R5, asm.R2, 34, asm.Word), // IPv4 ports
			asm.Return().WithSymbol("out"),
		},
	})
}
