package gen

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES: the test run sends
// the frames the program returns XDP_TX or XDP_REDIRECT for, for real.
const bpfFTestXDPLiveFrames = 1 << 1

// xdpMD is the kernel's struct xdp_md, the test run's context: it names
// the interface the frames "arrive" on, which XDP_TX sends them out of.
type xdpMD struct {
	Data, DataEnd, DataMeta      uint32
	IngressIfindex, RxQueueIndex uint32
	EgressIfindex                uint32
}

// Flows says how the generator varies the frames: the low 16 bits of the
// source address take SrcCount values from SrcBase, the destination port
// DportCount values from DportBase; the source port takes all values.
type Flows struct {
	SrcBase, SrcCount     uint16
	DportBase, DportCount uint16
}

// Generator is a loaded generator program.
type Generator struct {
	objs genObjects
}

// New loads the generator for flows.
func New(f Flows) (*Generator, error) {
	spec, err := loadGen()
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]uint16{"src_base": f.SrcBase, "src_count": max(f.SrcCount, 1),
		"dport_base": f.DportBase, "dport_count": max(f.DportCount, 1)} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("generator %s: %w", name, err)
		}
	}
	g := &Generator{}
	if err := spec.LoadAndAssign(&g.objs, nil); err != nil {
		return nil, fmt.Errorf("load the generator: %w", err)
	}
	return g, nil
}

// Send turns template into count frames, each a new flow, and sends them
// out of interface ifindex (in the calling thread's network namespace).
// It returns when all were handed to the interface; the veth drops what
// its peer cannot take, so the receiver's counters say what arrived.
func (g *Generator) Send(template []byte, ifindex int, count uint32) error {
	_, err := g.objs.XdpfwBenchGen.Run(&ebpf.RunOptions{
		Data: template,
		// The kernel wants data_end to be the frame's length.
		Context: xdpMD{DataEnd: uint32(len(template)), IngressIfindex: uint32(ifindex)},
		Repeat:  count,
		Flags:   bpfFTestXDPLiveFrames,
	})
	if err != nil {
		return fmt.Errorf("live-frames test run: %w", err)
	}
	return nil
}

// Close unloads the generator.
func (g *Generator) Close() error { return g.objs.Close() }
