package perf

import (
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCallProgram: the programs CallCost compares load and pass the
// frame, the calling one through every call (a call that lost the value
// would not return XDP_PASS).
func TestCallProgram(t *testing.T) {
	privtest.Require(t)
	frame := fixtures.UDP("192.0.2.1", "198.51.100.1", 1000, 53)
	for _, n := range []int{0, callsPerRun} {
		p, err := callProgram(n)
		if err != nil {
			t.Fatalf("%d calls: %v", n, err)
		}
		got, err := Verdicts(p, [][]byte{frame})
		p.Close()
		if err != nil || len(got) != 1 || got[0] != 2 {
			t.Errorf("%d calls: verdicts %v (%v), want XDP_PASS", n, got, err)
		}
	}
}

// TestClockProgram: the programs ClockCost compares load (the helpers are
// allowed in XDP) and pass the frame whatever the clock read.
func TestClockProgram(t *testing.T) {
	privtest.Require(t)
	frame := fixtures.UDP("192.0.2.1", "198.51.100.1", 1000, 53)
	for _, fn := range []asm.BuiltinFunc{ClockPrecise, ClockCoarse} {
		for _, n := range []int{0, callsPerRun} {
			p, err := clockProgram(fn, n)
			if err != nil {
				t.Fatalf("%v, %d reads: %v", fn, n, err)
			}
			got, err := Verdicts(p, [][]byte{frame, frame, frame})
			p.Close()
			if err != nil || len(got) != 3 || got[0] != 2 || got[1] != 2 || got[2] != 2 {
				t.Errorf("%v, %d reads: verdicts %v (%v), want XDP_PASS", fn, n, got, err)
			}
		}
	}
	if _, err := ClockCost(ClockCoarse, frame); err != nil {
		t.Errorf("coarse clock: %v", err)
	}
}
