package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
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

// sumsPerCPU sums over CPUs each of the first n entries of m, a per-CPU
// array of counters (perCPU).
func sumsPerCPU(m *ebpf.Map, n int) ([]Counter, error) {
	vals, ncpu, err := perCPU(m, n)
	if err != nil {
		return nil, err
	}
	sums := make([]Counter, n)
	for key := range sums {
		for _, v := range vals[key*ncpu : (key+1)*ncpu] {
			sums[key].add(v)
		}
	}
	return sums, nil
}

// perCPU reads the first n entries of m, a per-CPU array of counters:
// entry key's value on each of the ncpu CPUs at [key*ncpu, (key+1)*ncpu),
// read perCPUBatch entries a system call: one call per entry made a list
// of 4095 rules 4,096 calls, and stats 1,541. (Per-CPU arrays take batch
// lookups from Linux 5.13; xdpfw needs 5.18.)
func perCPU(m *ebpf.Map, n int) (vals []xdpfwCounter, ncpu int, err error) {
	if ncpu, err = ebpf.PossibleCPU(); err != nil {
		return nil, 0, err
	}
	vals = make([]xdpfwCounter, n*ncpu)
	keys := make([]uint32, perCPUBatch)
	batch := make([]xdpfwCounter, perCPUBatch*ncpu)
	var cursor ebpf.MapBatchCursor
	for done := 0; done < n; {
		got, err := m.BatchLookup(&cursor, keys, batch, nil)
		for i, key := range keys[:got] {
			if int(key) < n {
				copy(vals[int(key)*ncpu:], batch[i*ncpu:(i+1)*ncpu])
			}
		}
		done += got
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read counters: %w", err)
		}
	}
	return vals, ncpu, nil
}

// perCPUBatch is how many entries of a per-CPU array one call reads:
// 256 of 16 bytes a CPU.
const perCPUBatch = 256

// VerdictCounters returns the per-verdict counters by StatNames name:
// every interface slot's, and what verdict_stats keeps (counts of the
// layouts before 8, and of slots reused since).
func (s *State) VerdictCounters() (map[string]Counter, error) {
	return verdictCounters(&s.maps)
}

func verdictCounters(m *xdpfwMaps) (map[string]Counter, error) {
	out := make(map[string]Counter, len(StatNames))
	kept, err := sumsPerCPU(m.VerdictStats, len(StatNames))
	if err != nil {
		return nil, err
	}
	for i, name := range StatNames {
		out[name] = kept[i]
	}
	// Every slot's outcomes, each into the verdicts it counts in.
	slots, err := sumsPerCPU(m.IfaceStats, layout.IfaceStatSlots*layout.NumOutcomes)
	if err != nil {
		return nil, err
	}
	for key, c := range slots {
		for _, st := range outcomeStats[key%layout.NumOutcomes] {
			sum := out[StatNames[st]]
			sum.Packets += c.Packets
			sum.Bytes += c.Bytes
			out[StatNames[st]] = sum
		}
	}
	return out, nil
}

// ifaceSlot is the slot of iface_stats an interface's frames count in.
func ifaceSlot(ifindex int) uint32 { return uint32(ifindex) % layout.IfaceStatSlots }

// outcomeStats are the verdict counters (StatNames indices) each outcome
// of iface_stats counts in: a frame counts once, in its outcome.
var outcomeStats = [layout.NumOutcomes][]uint32{
	layout.OutPassRule:      {layout.StatPass},
	layout.OutPassDefault:   {layout.StatPass, layout.StatDefault},
	layout.OutPassNeighbor:  {layout.StatPass, layout.StatNeighbor},
	layout.OutDropRule:      {layout.StatDrop},
	layout.OutDropDefault:   {layout.StatDrop, layout.StatDefault},
	layout.OutDropMalformed: {layout.StatDrop, layout.StatMalformed},
}

// slotCounters are the verdict counters of one interface slot.
func slotCounters(m *xdpfwMaps, slot uint32) (map[string]Counter, error) {
	out := make(map[string]Counter, len(StatNames))
	for _, name := range StatNames {
		out[name] = Counter{}
	}
	for o, stats := range outcomeStats {
		c, err := sumPerCPU(m.IfaceStats, slot*layout.NumOutcomes+uint32(o))
		if err != nil {
			return nil, err
		}
		for _, st := range stats {
			sum := out[StatNames[st]]
			sum.Packets += c.Packets
			sum.Bytes += c.Bytes
			out[StatNames[st]] = sum
		}
	}
	return out, nil
}

// foldSlot moves a slot's counts into verdict_stats and zeroes the slot,
// so an interface attached in a slot counts from zero while the totals
// keep every frame. Only for a slot no attached interface counts in: no
// frame lands in it meanwhile.
func foldSlot(m *xdpfwMaps, slot uint32) error {
	for o, stats := range outcomeStats {
		key := slot*layout.NumOutcomes + uint32(o)
		var from []xdpfwCounter
		if err := m.IfaceStats.Lookup(key, &from); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
		for _, st := range stats {
			var into []xdpfwCounter
			if err := m.VerdictStats.Lookup(st, &into); err != nil {
				return fmt.Errorf("read counters: %w", err)
			}
			for cpu := range into {
				into[cpu].Packets += from[cpu].Packets
				into[cpu].Bytes += from[cpu].Bytes
			}
			if err := m.VerdictStats.Put(st, into); err != nil {
				return fmt.Errorf("write counters: %w", err)
			}
		}
		if err := m.IfaceStats.Put(key, make([]xdpfwCounter, len(from))); err != nil {
			return fmt.Errorf("zero counters: %w", err)
		}
	}
	return nil
}

// IfaceCounters are one attached interface's verdict counters, since it
// was attached. Shared names the other attached interfaces whose frames
// count in the same slot (their ifindexes are equal modulo 256): their
// counters are the sum.
type IfaceCounters struct {
	Iface    string             `json:"interface"`
	Ifindex  int                `json:"ifindex"`
	Shared   []string           `json:"shared_with"`
	Counters map[string]Counter `json:"counters"`
}

// InterfaceCounters returns the verdict counters of every interface the
// state lists.
func (s *State) InterfaceCounters() ([]IfaceCounters, error) {
	atts, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	out := []IfaceCounters{}
	for _, a := range atts {
		ic := IfaceCounters{Iface: a.Iface, Ifindex: a.Ifindex, Shared: []string{}}
		for _, b := range atts {
			if b.Ifindex != a.Ifindex && ifaceSlot(b.Ifindex) == ifaceSlot(a.Ifindex) {
				ic.Shared = append(ic.Shared, b.Iface)
			}
		}
		if ic.Counters, err = slotCounters(&s.maps, ifaceSlot(a.Ifindex)); err != nil {
			return nil, err
		}
		out = append(out, ic)
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
