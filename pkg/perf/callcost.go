package perf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// callsPerRun is how many BPF-to-BPF calls CallCost's program makes per
// run: enough that their cost stands well above the timer's 1 ns.
const callsPerRun = 64

// callProgram is an XDP program that calls a function returning its
// argument n times in a row, each call's result the next one's argument,
// and returns XDP_PASS: with n = 0, the same work without the calls.
func callProgram(n int) (*ebpf.Program, error) {
	insns := asm.Instructions{asm.Mov.Imm(asm.R1, 2)} // XDP_PASS, passed along
	for range n {
		insns = append(insns, asm.Call.Label("pass_on"), asm.Mov.Reg(asm.R1, asm.R0))
	}
	insns = append(insns, asm.Mov.Reg(asm.R0, asm.R1), asm.Return())
	if n > 0 { // the verifier refuses code nothing reaches
		insns = append(insns, asm.Mov.Reg(asm.R0, asm.R1).WithSymbol("pass_on"), asm.Return())
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         fmt.Sprintf("xdp_calls_%d", n),
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: insns,
	})
}

// CallCost measures what one BPF-to-BPF call (and its return) costs on
// this machine, in ns: a program making callsPerRun calls against one
// making none, on frame, repeat method. It is what a global function or a
// helper that is not inlined pays per call: 1.1 ns measured on a Zen 5
// VM, about 14 where returns go through the SRSO mitigation's thunk (some
// AMD CPUs).
func CallCost(frame []byte) (float64, error) {
	return perOp(frame, callProgram)
}

// perOp is what one of the operations a program load(n) makes n times
// costs: the program making callsPerRun of them against the one making
// none, on frame, repeat method.
func perOp(frame []byte, load func(n int) (*ebpf.Program, error)) (float64, error) {
	with, err := load(callsPerRun)
	if err != nil {
		return 0, fmt.Errorf("load the program measured: %w", err)
	}
	defer with.Close()
	without, err := load(0)
	if err != nil {
		return 0, err
	}
	defer without.Close()
	res, err := Measure([]Subject{{"without", without}, {"with", with}}, [][]byte{frame}, Options{Repeat: 10000, Rounds: 5})
	if err != nil {
		return 0, err
	}
	return (res[1].Median - res[0].Median) / callsPerRun, nil
}
