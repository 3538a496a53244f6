package perf_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestReadFloor loads the floor at one line and at a 16 MiB array and runs
// the mix through it, frames too short to hash included: the verifier
// takes both shapes and every frame passes.
func TestReadFloor(t *testing.T) {
	for _, lines := range []int{0, 3, 1 << 25} {
		if f, err := perf.NewReadFloor(lines); err == nil {
			f.Close()
			t.Errorf("%d lines accepted", lines)
		}
	}
	privtest.Require(t)
	_, frames := fixtures.Mix(16, 64, 1)
	frames = append(frames, make([]byte, 14), make([]byte, 29))
	for _, lines := range []int{1, 1 << 18} {
		f, err := perf.NewReadFloor(lines)
		if err != nil {
			t.Fatal(err)
		}
		for i, frame := range frames {
			ret, err := f.Prog.Run(&ebpf.RunOptions{Data: frame})
			if err != nil || ret != 2 {
				t.Errorf("%d lines, frame %d (%d bytes): %d, %v; want XDP_PASS", lines, i, len(frame), ret, err)
			}
		}
		f.Close()
	}
}

// TestCountFloor runs the mix through the counting floor: every frame long
// enough to hash is counted once with its length, none other, and the
// floor returns its action whatever the frame.
func TestCountFloor(t *testing.T) {
	privtest.Require(t)
	_, frames := fixtures.Mix(16, 64, 1)
	frames = append(frames, make([]byte, 14), make([]byte, 29))
	for _, bad := range []perf.FloorSpec{{Lines: 1, Chain: 100}, {Lines: 512, Chain: 1}, {Lines: 512, Chain: -2}} {
		if f, err := perf.NewFloor(bad); err == nil {
			f.Close()
			t.Errorf("%+v accepted", bad)
		}
	}
	for _, spec := range []perf.FloorSpec{{Lines: 1}, {Lines: 512}, {Lines: 512, Chain: 100}} {
		spec.Count, spec.Action = true, 1
		lines := spec.Lines
		f, err := perf.NewFloor(spec)
		if err != nil {
			t.Fatal(err)
		}
		var want, wantBytes uint64
		for i, frame := range frames {
			ret, err := f.Prog.Run(&ebpf.RunOptions{Data: frame})
			if err != nil || ret != 1 {
				t.Errorf("%d lines, frame %d (%d bytes): %d, %v; want XDP_DROP", lines, i, len(frame), ret, err)
			}
			if lines == 1 || len(frame) >= 30 {
				want++
				wantBytes += uint64(len(frame))
			}
		}
		if info, err := f.Prog.Info(); err == nil {
			if n, ok := info.VerifiedInstructions(); ok && spec.Chain > 0 && n < uint32(spec.Chain) {
				t.Errorf("a chain of %d: the verifier processed %d instructions in all", spec.Chain, n)
			}
		}
		n, b, err := f.Counted()
		if err != nil || n != want || b != wantBytes {
			t.Errorf("%d lines: counted %d frames, %d bytes (%v); want %d, %d", lines, n, b, err, want, wantBytes)
		}
		f.Close()
	}
}
