package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Connection tracking in an instance: its egress program learns from
// frames going out into the instance's own table, which its XDP programs
// read for frames coming in (RunIn), so a replay runs both directions of
// a capture against one table, as a host's interface does.

// RunEgress passes frame, a whole Ethernet frame going out, through the
// egress program (a sched_cls test run), which learns its flow. The
// program never decides (it hands every packet on), so there is nothing
// to return but an error.
func (t *Instance) RunEgress(frame []byte) error {
	if len(frame) < 14 {
		return ErrRunt
	}
	if _, err := t.objs.XdpfwEgress.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		return testRunError(frame, err)
	}
	return nil
}

// EgressProgram is the instance's egress learner, for benchmarks.
func (t *Instance) EgressProgram() *ebpf.Program { return t.objs.XdpfwEgress }

// SetClock sets the time, in ns, that connection tracking reads for the
// frames run after it (replay's capture timestamps, so timeouts replay
// deterministically). Only a trace instance (NewInstance with trace) reads
// this clock; one without trace runs the production program, which reads
// the kernel's coarse monotonic clock and ignores it.
func (t *Instance) SetClock(ns uint64) error {
	if err := t.objs.CtClock.Update(uint32(0), ns, 0); err != nil {
		return fmt.Errorf("set the conntrack clock: %w", err)
	}
	return nil
}

// ForgetFlows empties the instance's connection-tracking tables (flows
// and fragment records), so a replay starts as a host that has sent
// nothing yet, however the instance was used before.
func (t *Instance) ForgetFlows() error {
	for _, m := range []*ebpf.Map{t.objs.Ct, t.objs.CtFrags} {
		var keys [][]byte
		var k, v []byte
		it := m.Iterate()
		for it.Next(&k, &v) {
			keys = append(keys, append([]byte(nil), k...))
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("forget flows: %w", err)
		}
		for _, k := range keys {
			// A key gone already (timed out by a run meanwhile) is fine.
			if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("forget flows: %w", err)
			}
		}
	}
	return nil
}
