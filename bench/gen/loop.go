package gen

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// MaxCopies is the most copies a round of the loop sends to the receiver:
// loop_out's entries after the first (gen.c).
const MaxCopies = 15

// LoopProgram is the program to attach, in native XDP mode, to one end of
// a veth pair of the loop's own: it sends each frame it receives back
// round the pair and Route's copies to the receiver.
func (g *Generator) LoopProgram() *ebpf.Program { return g.objs.XdpfwBenchLoop }

// Route points the loop: a frame coming round goes out of back (the
// other end of the pair, so it arrives at the loop program again) and
// copies times out of out, each rewritten into a new flow as it leaves.
// The interfaces are those of the calling thread's network namespace.
func (g *Generator) Route(back, out, copies int) error {
	if copies < 1 || copies > MaxCopies {
		return fmt.Errorf("loop copies %d: want 1 to %d", copies, MaxCopies)
	}
	if err := g.objs.LoopOut.Put(uint32(0), genBpfDevmapVal{Ifindex: uint32(back)}); err != nil {
		return fmt.Errorf("loop route back: %w", err)
	}
	for i := 1; i <= copies; i++ {
		v := genBpfDevmapVal{Ifindex: uint32(out)}
		v.BpfProg.Fd = int32(g.objs.XdpfwBenchEmit.FD())
		if err := g.objs.LoopOut.Put(uint32(i), v); err != nil {
			return fmt.Errorf("loop route out: %w", err)
		}
	}
	return nil
}

// SetStop ends the loop (frames coming round are dropped) or lets a new
// one run.
func (g *Generator) SetStop(stop bool) error {
	var v uint32
	if stop {
		v = 1
	}
	return g.objs.Stop.Set(v)
}

// Sent is how many frames the generator has sent, both ways, since it
// was loaded.
func (g *Generator) Sent() (uint64, error) {
	var n uint64
	err := g.objs.Seq.Get(&n)
	return n, err
}
