package loader

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/kernel"
)

// TestTooLargeProgramNamesItAndCount loads a program the verifier must
// walk past its million-instruction limit (a counted loop it unrolls)
// through load: the error is one line naming the program and the count,
// and the refusal is not re-verified with growing logs.
func TestTooLargeProgramNamesItAndCount(t *testing.T) {
	privtest.Require(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"too_big": {
			Type:    ebpf.XDP,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R1, 0),
				asm.Add.Imm(asm.R1, 1).WithSymbol("loop"),
				asm.JLT.Imm(asm.R1, 10_000_000, "loop"),
				asm.Mov.Imm(asm.R0, 2),
				asm.Return(),
			},
		},
	}}
	var objs struct {
		Prog *ebpf.Program `ebpf:"too_big"`
	}
	start := time.Now()
	err := load(spec, &objs, nil)
	took := time.Since(start)
	if err == nil {
		objs.Prog.Close()
		t.Fatal("a program past the verifier's limit loaded")
	}
	t.Logf("%v (in %v)", err, took)
	var r *VerifierRefusal
	if !errors.As(err, &r) || !errors.Is(err, unix.E2BIG) {
		t.Fatalf("got %T %v, want a *VerifierRefusal wrapping E2BIG", err, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "program too_big: ") || r.Processed <= r.Limit || !strings.Contains(msg, " instructions processed, over its limit of ") {
		t.Errorf("message %q: want one line naming too_big and the count over the limit", msg)
	}
}

// TestVerifierRefusalIsOneLine: any other refusal is one line with the
// program's name and the verifier's own reason, not its statistics.
func TestVerifierRefusalIsOneLine(t *testing.T) {
	privtest.Require(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"no_result": {Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{asm.Return()}},
	}}
	var objs struct {
		Prog *ebpf.Program `ebpf:"no_result"`
	}
	err := load(spec, &objs, nil)
	if err == nil {
		objs.Prog.Close()
		t.Fatal("a program returning an unset R0 loaded")
	}
	want := "the kernel's verifier refused program no_result: R0 !read_ok (kernel "
	if msg := err.Error(); !strings.HasPrefix(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("got %q, want one line starting %q", msg, want)
	}
}

// TestKernelNeedsOfObject: the requirements read from the object are the
// ones docs/design.md gives (5.18 for the frags program and its helpers;
// the conntrack learner's TC program, LRU table and skb helper), each with
// the release that brought it.
func TestKernelNeedsOfObject(t *testing.T) {
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	needs := kernel.Needs(spec)
	names := map[string]bool{}
	for _, n := range needs {
		names[n.Name] = true
		if n.Since == (kernel.Version{}) {
			t.Errorf("%s: no release known to bring it (add it to pkg/kernel's tables)", n.Name)
		}
	}
	for _, want := range []string{"XDP programs", "hash maps", "LPM trie maps", "array maps", "per-CPU array maps",
		"arrays of maps", "bpf_xdp_get_buff_len", "bpf_xdp_load_bytes", "xdp.frags programs",
		"TC classifier (sched_cls) programs", "LRU hash maps", "bpf_skb_load_bytes", "bpf_ktime_get_coarse_ns"} {
		if !names[want] {
			t.Errorf("%s is not among the requirements %v", want, names)
		}
	}
}

// TestKernelHasEverything: the machine the tests run on is one xdpfw
// supports, and every probe is conclusive as root.
func TestKernelHasEverything(t *testing.T) {
	privtest.Require(t)
	r, err := CheckKernel()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		if res.Status != kernel.OK {
			t.Errorf("%s: %s %s", res.Name, res.Status, res.Error)
		}
	}
	if m := r.Minimum(); m != (kernel.Version{Major: 5, Minor: 18}) {
		t.Errorf("minimum %v, want 5.18", m)
	}
}
