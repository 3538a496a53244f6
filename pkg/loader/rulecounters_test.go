package loader

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestRuleCounters: each rule gets the sum over CPUs of its own slot,
// on both sides of a batch's edge and at the last slot; slots past the
// highest a rule has are not needed, and a rule at a slot never counted
// reads zero.
func TestRuleCounters(t *testing.T) {
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMap(spec.Maps[xdpfwMapRuleStats])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu := ebpf.MustPossibleCPU()
	last := m.MaxEntries() - 1
	slots := map[uint32]uint32{7: 0, 8: perCPUBatch - 1, 9: perCPUBatch, 10: 300, 11: last, 12: 5}
	want := map[uint32]Counter{12: {}}
	for id, slot := range slots {
		if id == 12 {
			continue
		}
		per := make([]xdpfwCounter, ncpu)
		var sum Counter
		for c := range per {
			per[c] = xdpfwCounter{Packets: uint64(slot) + uint64(c)*1000, Bytes: uint64(slot)*60 + uint64(c)}
			sum.add(per[c])
		}
		if err := m.Put(slot, per); err != nil {
			t.Fatal(err)
		}
		want[id] = sum
	}
	got, err := ruleCounters(m, slots)
	if err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("rule %d at slot %d: %+v, want %+v", id, slots[id], got[id], w)
		}
	}
	if len(got) != len(slots) {
		t.Errorf("%d rules' counters, want %d", len(got), len(slots))
	}
	// No rules: nothing to read.
	if got, err := ruleCounters(m, nil); err != nil || len(got) != 0 {
		t.Errorf("no rules: %v, %v", got, err)
	}
}
