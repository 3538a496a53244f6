package main

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// mapMemory is one map's kernel memory, as `bpftool map show` reports it
// (memlock: the kernel's own accounting of the map's memory).
type mapMemory struct {
	Name  string
	Bytes uint64
}

// programMaps is the memory of every map prog uses, largest first.
func programMaps(prog *ebpf.Program) ([]mapMemory, error) {
	info, err := prog.Info()
	if err != nil {
		return nil, err
	}
	ids, ok := info.MapIDs()
	if !ok {
		return nil, fmt.Errorf("the kernel does not list the program's maps")
	}
	var out []mapMemory
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			return nil, err
		}
		mi, err := m.Info()
		m.Close()
		if err != nil {
			return nil, err
		}
		b, _ := mi.Memlock()
		out = append(out, mapMemory{Name: mi.Name, Bytes: b})
	}
	slices.SortFunc(out, func(a, b mapMemory) int { return int(b.Bytes) - int(a.Bytes) })
	return out, nil
}

// memory reports the kernel memory of xdpfw's maps at each scale point.
func memory(cfg Config, tr workload.Traffic) (Section, error) {
	tab := Table{Header: []string{"rules", "all maps", "largest maps"}}
	for _, n := range cfg.Scales {
		t, err := loader.NewTester(tr.ScaleRuleset(n), false)
		if err != nil {
			return Section{}, err
		}
		maps, err := programMaps(t.Program())
		t.Close()
		if err != nil {
			return Section{}, err
		}
		var total uint64
		for _, m := range maps {
			total += m.Bytes
		}
		top := ""
		for i, m := range maps[:min(4, len(maps))] {
			if i > 0 {
				top += ", "
			}
			top += fmt.Sprintf("%s %s", m.Name, mib(m.Bytes))
		}
		tab.Rows = append(tab.Rows, []string{fmt.Sprint(n), mib(total), top})
	}
	return Section{
		Title: "Memory of xdpfw's maps",
		Method: "The kernel's accounting of each map's memory (`memlock` in `bpftool map show`) for every map xdpfw's program uses, " +
			"loaded with the per-packet rulesets above (both generations of the classifier, counters, rule definitions). " +
			"Arrays and preallocated hash maps are sized for 4096 rules whatever the ruleset; the LPM tries grow with their entries.",
		Tables: []Table{tab},
	}, nil
}

func mib(b uint64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
