package perf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// clockProgram is an XDP program that reads the clock through helper fn n
// times in a row, keeping the last reading's low bit, and returns
// XDP_PASS: the bit is or-ed into the verdict and shifted away, so the
// reads cannot be dropped as unused yet never change the verdict.
func clockProgram(fn asm.BuiltinFunc, n int) (*ebpf.Program, error) {
	insns := asm.Instructions{asm.Mov.Imm(asm.R6, 0)}
	for range n {
		insns = append(insns, fn.Call(), asm.Mov.Reg(asm.R6, asm.R0))
	}
	insns = append(insns,
		asm.And.Imm(asm.R6, 1),
		asm.LSh.Imm(asm.R6, 8), // bit 8: above XDP_PASS's 2, cleared next
		asm.Mov.Imm(asm.R0, 2),
		asm.Or.Reg(asm.R0, asm.R6),
		asm.And.Imm(asm.R0, 0xff),
		asm.Return(),
	)
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         fmt.Sprintf("xdp_clock_%d", n),
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: insns,
	})
}

// Clocks the datapath can read: the precise clock, which reads the
// clocksource (on a VM often kvm-clock, far dearer than the TSC), and the
// coarse one, the last tick's time read from memory, which connection
// tracking stamps flows with.
var (
	ClockPrecise = asm.FnKtimeGetNs
	ClockCoarse  = asm.FnKtimeGetCoarseNs
)

// ClockCost measures what one read of the clock through helper fn costs on
// this machine, in ns: a program making callsPerRun reads against one
// making none, on frame, repeat method.
func ClockCost(fn asm.BuiltinFunc, frame []byte) (float64, error) {
	return perOp(frame, func(n int) (*ebpf.Program, error) { return clockProgram(fn, n) })
}
