package perf

import (
	"fmt"
	"math/bits"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// ReadFloor is an XDP program that reads one word of one line of an
// array of lines 64-byte lines and passes the frame: with one line, the
// least a program that reads any map pays; with many, the line chosen by
// a hash of the frame's word at offset 26 (an IPv4 source; in IPv6, part
// of the source), the least any structure of that size pays per frame,
// whatever its design, when frames land on lines at random. The array is
// made as xdpfw's per-packet arrays are (BPF_F_MMAPABLE: values from the
// start of a page, vmalloc'd like every large map).
type ReadFloor struct {
	Prog *ebpf.Program
	m    *ebpf.Map
}

// NewReadFloor makes the program and its array; lines must be a power
// of two (at most 1<<24).
func NewReadFloor(lines int) (*ReadFloor, error) {
	if lines < 1 || lines > 1<<24 || lines&(lines-1) != 0 {
		return nil, fmt.Errorf("read floor: %d lines, want a power of two up to 1<<24", lines)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "read_floor", Type: ebpf.Array, KeySize: 4, ValueSize: 64,
		MaxEntries: uint32(lines), Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return nil, fmt.Errorf("read floor: its array of %d lines: %w", lines, err)
	}
	key := asm.Instructions{asm.Mov.Imm(asm.R6, 0)}
	if lines > 1 {
		// The product's top bits: a multiplicative hash, which the
		// frame's low bits alone would not spread.
		key = asm.Instructions{
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 30),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R6, asm.R2, 26, asm.Word),
			asm.Mul.Imm32(asm.R6, -1640531535), // 0x9e3779b1
			asm.RSh.Imm32(asm.R6, int32(32-bits.TrailingZeros(uint(lines)))),
		}
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md.data_end
	}
	insns = append(insns, key...)
	insns = append(insns,
		asm.StoreMem(asm.RFP, -4, asm.R6, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), // XDP_PASS
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xdp_read_floor", Type: ebpf.XDP, License: "GPL", Instructions: insns,
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("read floor: %w", err)
	}
	return &ReadFloor{Prog: prog, m: m}, nil
}

// Close releases the program and its array.
func (f *ReadFloor) Close() {
	f.Prog.Close()
	f.m.Close()
}
