package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Counter is a packet and byte count summed over CPUs.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Counter) add(o xdpfwCounter) {
	c.Packets += o.Packets
	c.Bytes += o.Bytes
}

func sumPerCPU(m *ebpf.Map, key uint32) (Counter, error) {
	var per []xdpfwCounter
	if err := m.Lookup(key, &per); err != nil {
		return Counter{}, fmt.Errorf("read counters: %w", err)
	}
	var c Counter
	for _, v := range per {
		c.add(v)
	}
	return c, nil
}

func ruleCounters(m *ebpf.Map, slots map[uint32]uint32) (map[uint32]Counter, error) {
	out := make(map[uint32]Counter, len(slots))
	for id, slot := range slots {
		c, err := sumPerCPU(m, slot)
		if err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, nil
}

// VerdictCounters returns the per-verdict counters by StatNames name.
func (s *State) VerdictCounters() (map[string]Counter, error) {
	return verdictCounters(s.maps.VerdictStats)
}

func verdictCounters(m *ebpf.Map) (map[string]Counter, error) {
	out := make(map[string]Counter, len(StatNames))
	for i, name := range StatNames {
		c, err := sumPerCPU(m, uint32(i))
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

func zeroRuleCounter(m *xdpfwMaps, slot uint32) error {
	zero := make([]xdpfwCounter, ebpf.MustPossibleCPU())
	if err := m.RuleStats.Put(slot, zero); err != nil {
		return fmt.Errorf("reset counters of slot %d: %w", slot, err)
	}
	return nil
}
