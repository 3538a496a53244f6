package loader

import (
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// writeAfterNextLookup makes the datapath's write of v at k into ct land
// just after the next lookup this process makes in a BPF map: a program
// on the raw tracepoint sys_enter writes it as the process enters the
// bpf syscall that follows that lookup's, as a packet handled at that
// instant would. The kernel makes the interleaving, so the code under
// test needs no hook of its own. fired reports whether it has written
// (its own lookup counts as one). Removed when the test ends; x86-64's
// syscall registers only.
func writeAfterNextLookup(t *testing.T, ct *ebpf.Map, k *xdpfwCtKey, v *xdpfwCtVal) (fired func() bool) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("reads the bpf syscall's command from x86-64's pt_regs")
	}
	array := func(size uint32) *ebpf.Map {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: size, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	// armed: 1 until a lookup, 2 from it until the next bpf syscall, 0
	// once written.
	armed, keys, vals := array(8), array(ct.KeySize()), array(ct.ValueSize())
	if err := keys.Put(uint32(0), k); err != nil {
		t.Fatal(err)
	}
	if err := vals.Put(uint32(0), v); err != nil {
		t.Fatal(err)
	}
	const ptRegsDI = 14 * 8 // struct pt_regs: the syscall's first argument
	lookup := func(m *ebpf.Map) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
		}
	}
	insns := asm.Instructions{
		// ctx: the task's pt_regs, then the syscall's number.
		asm.LoadMem(asm.R2, asm.R1, 8, asm.DWord),
		asm.JNE.Imm(asm.R2, unix.SYS_BPF, "out"),
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(os.Getpid()), "out"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
	}
	insns = append(insns, lookup(armed)...)
	insns = append(insns,
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.LoadMem(asm.R9, asm.R8, 0, asm.DWord),
		asm.JEq.Imm(asm.R9, 2, "write"),
		asm.JNE.Imm(asm.R9, 1, "out"),
		// armed: is this a lookup?
		asm.Mov.Reg(asm.R1, asm.RFP), asm.Add.Imm(asm.R1, -16),
		asm.Mov.Imm(asm.R2, 8),
		asm.Mov.Reg(asm.R3, asm.R6), asm.Add.Imm(asm.R3, ptRegsDI),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord),
		asm.JNE.Imm(asm.R1, unix.BPF_MAP_LOOKUP_ELEM, "out"),
		asm.Mov.Imm(asm.R1, 2),
		asm.StoreMem(asm.R8, 0, asm.R1, asm.DWord),
		asm.Ja.Label("out"),
		asm.Mov.Imm(asm.R1, 0).WithSymbol("write"),
		asm.StoreMem(asm.R8, 0, asm.R1, asm.DWord))
	insns = append(insns, lookup(keys)...)
	insns = append(insns, asm.Mov.Reg(asm.R7, asm.R0))
	insns = append(insns, lookup(vals)...)
	insns = append(insns,
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.LoadMapPtr(asm.R1, ct.FD()),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return())
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, AttachTo: "sys_enter", License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := armed.Put(uint32(0), uint64(1)); err != nil {
		t.Fatal(err)
	}
	return func() bool {
		var a uint64
		return armed.Lookup(uint32(0), &a) == nil && a == 0
	}
}
