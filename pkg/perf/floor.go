package perf

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// ReadFloor is an XDP program that reads one word of one line of an
// array of 64-byte lines: with one line, the least a program that reads
// any map pays; with many, the line chosen by a hash of the frame's word
// at offset 26 (an IPv4 source; in IPv6, part of the source), the least
// any structure of that size pays per frame, whatever its design, when
// frames land on lines at random. The array is made as xdpfw's
// per-packet arrays are (BPF_F_MMAPABLE: values from the start of a page,
// vmalloc'd like every large map).
type ReadFloor struct {
	Prog *ebpf.Program
	maps []*ebpf.Map
}

// FloorSpec is what a floor program does.
type FloorSpec struct {
	// Lines in the array (a power of two, at most 1<<24).
	Lines int
	// Count adds the frame to a per-CPU counter (packets and bytes, as
	// xdpfw's counters hold them) after the read: the least a program
	// that counts what it sees pays beside its lookups.
	Count bool
	// Chain is a run of dependent ALU instructions (adds and xors) on
	// the frame's word that picks the line, folded into it before its
	// hash: work that waits for the frame's cache line, as a classifier's
	// does, with no memory access of its own. Lines > 1 only.
	Chain int
	// Action is what the program returns (XDP_PASS when 0).
	Action uint32
}

// NewReadFloor is NewFloor of a program that reads and passes.
func NewReadFloor(lines int) (*ReadFloor, error) {
	return NewFloor(FloorSpec{Lines: lines})
}

// NewFloor makes the program and its maps.
func NewFloor(s FloorSpec) (*ReadFloor, error) {
	lines := s.Lines
	if lines < 1 || lines > 1<<24 || lines&(lines-1) != 0 {
		return nil, fmt.Errorf("read floor: %d lines, want a power of two up to 1<<24", lines)
	}
	if s.Chain != 0 && (s.Chain < 2 || s.Chain > 4096 || lines == 1) {
		return nil, fmt.Errorf("read floor: a chain of %d on %d lines, want 0, or 2 to 4096 on more than one", s.Chain, lines)
	}
	if s.Action == 0 {
		s.Action = 2 // XDP_PASS
	}
	f := &ReadFloor{}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "read_floor", Type: ebpf.Array, KeySize: 4, ValueSize: 64,
		MaxEntries: uint32(lines), Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return nil, fmt.Errorf("read floor: its array of %d lines: %w", lines, err)
	}
	f.maps = append(f.maps, m)
	key := asm.Instructions{asm.Mov.Imm(asm.R6, 0)}
	if lines > 1 {
		// The product's top bits: a multiplicative hash, which the
		// frame's low bits alone would not spread.
		key = asm.Instructions{
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 30),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R6, asm.R2, 26, asm.Word),
		}
		key = append(key, chain(s.Chain)...)
		key = append(key,
			asm.Mul.Imm32(asm.R6, -1640531535), // 0x9e3779b1
			asm.RSh.Imm32(asm.R6, int32(32-bits.TrailingZeros(uint(lines)))),
		)
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md.data_end
	}
	if s.Count {
		// The frame's length, kept across the calls in a callee-saved
		// register, as the counter's bytes.
		insns = append(insns, asm.Mov.Reg(asm.R7, asm.R3), asm.Sub.Reg(asm.R7, asm.R2))
	}
	insns = append(insns, key...)
	insns = append(insns, asm.StoreMem(asm.RFP, -4, asm.R6, asm.Word))
	insns = append(insns, lookup(m, -4)...)
	insns = append(insns, asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	if s.Count {
		c, err := ebpf.NewMap(&ebpf.MapSpec{
			Name: "floor_count", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 1,
		})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read floor: its counter: %w", err)
		}
		f.maps = append(f.maps, c)
		insns = append(insns, asm.StoreImm(asm.RFP, -8, 0, asm.Word))
		insns = append(insns, lookup(c, -8)...)
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
			asm.Add.Reg(asm.R1, asm.R7),
			asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		)
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, int32(s.Action)).WithSymbol("out"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "xdp_read_floor", Type: ebpf.XDP, License: "GPL", Instructions: insns,
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read floor: %w", err)
	}
	f.Prog = prog
	return f, nil
}

// chain is n (at least 2) ALU instructions, each on the last's result, starting from
// R6 and ending in it.
func chain(n int) asm.Instructions {
	if n == 0 {
		return nil
	}
	c := asm.Instructions{asm.Mov.Reg(asm.R8, asm.R6)}
	for i := 1; i < n-1; i++ {
		if i%2 == 1 {
			c = append(c, asm.Add.Reg(asm.R8, asm.R6))
		} else {
			c = append(c, asm.Xor.Imm(asm.R8, int32(i)))
		}
	}
	return append(c, asm.Mov.Reg(asm.R6, asm.R8))
}

// lookup looks m up by the key at the frame pointer's offset off, into
// R0, and jumps to "out" if nothing is there.
func lookup(m *ebpf.Map, off int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(off)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
	}
}

// Counted is what the floor's counter holds, summed over the CPUs: 0, 0
// for a floor that does not count.
func (f *ReadFloor) Counted() (packets, bytes uint64, err error) {
	if len(f.maps) < 2 {
		return 0, 0, nil
	}
	var per [][2]uint64
	if err := f.maps[1].Lookup(uint32(0), &per); err != nil {
		return 0, 0, errors.Join(errors.New("read floor: its counter"), err)
	}
	for _, c := range per {
		packets += c[0]
		bytes += c[1]
	}
	return packets, bytes, nil
}

// Close releases the program and its maps.
func (f *ReadFloor) Close() {
	if f.Prog != nil {
		f.Prog.Close()
	}
	for _, m := range f.maps {
		m.Close()
	}
}
