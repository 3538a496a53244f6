package perf

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Verdicts runs each frame once through prog and returns what it returned
// (XDP_DROP, XDP_PASS, ...), to prove two programs agree before their
// speed is compared.
func Verdicts(prog *ebpf.Program, frames [][]byte) ([]uint32, error) {
	out := make([]uint32, len(frames))
	for i, f := range frames {
		ret, err := prog.Run(&ebpf.RunOptions{Data: f})
		if err != nil {
			return nil, fmt.Errorf("frame %d (%d bytes): BPF_PROG_TEST_RUN: %w", i, len(f), err)
		}
		out[i] = ret
	}
	return out, nil
}

// Disagreements lists the frames where two verdict lists differ.
func Disagreements(a, b []uint32) []int {
	var out []int
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}
