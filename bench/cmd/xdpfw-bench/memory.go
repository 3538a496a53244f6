package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// mapMemory is one map's kernel memory, as `bpftool map show` reports it
// (memlock: the kernel's own accounting of the map's memory).
type mapMemory struct {
	Name  string
	Bytes uint64
}

// objectMaps is the memory of every map of an instance, largest first:
// those its programs use and the control plane's (rule and set
// definitions, meta), which a live state pins beside them.
func objectMaps(maps map[string]*ebpf.Map) ([]mapMemory, error) {
	var out []mapMemory
	for name, m := range maps {
		mi, err := m.Info()
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		b, _ := mi.Memlock()
		out = append(out, mapMemory{Name: name, Bytes: b})
	}
	slices.SortFunc(out, func(a, b mapMemory) int {
		if a.Bytes != b.Bytes {
			return int(b.Bytes) - int(a.Bytes)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// innerMaps is the memory of the maps in the slots of prog's
// map-of-maps (a set's hashes and tries): the program does not list them.
func innerMaps(prog *ebpf.Program) ([]mapMemory, error) {
	info, err := prog.Info()
	if err != nil {
		return nil, err
	}
	ids, _ := info.MapIDs()
	var out []mapMemory
	for _, id := range ids {
		outer, err := ebpf.NewMapFromID(id)
		if err != nil {
			return nil, err
		}
		if outer.Type() == ebpf.ArrayOfMaps {
			for slot := uint32(0); slot < outer.MaxEntries(); slot++ {
				var inner *ebpf.Map
				if err := outer.Lookup(slot, &inner); err != nil {
					continue // an empty slot
				}
				mi, err := inner.Info()
				inner.Close()
				if err != nil {
					outer.Close()
					return nil, err
				}
				b, _ := mi.Memlock()
				out = append(out, mapMemory{Name: mi.Name, Bytes: b})
			}
		}
		outer.Close()
	}
	return out, nil
}

// ctMaps are the connection-tracking table's maps: sized for flows, not
// rules, so the rule-count target is also read without them.
var ctMaps = map[string]bool{"ct": true, "ct_frags": true}

// memTotals is an instance's map memory in bytes: every map, every map
// but the conntrack table's, and the sets' inner maps alone.
type memTotals struct {
	all, noCT, sets uint64
}

// memoryRow is the memory of an instance's maps: the program's own and the
// sets' inner maps.
func memoryRow(label string, t *loader.Instance) (memTotals, []string, error) {
	maps, err := objectMaps(t.Maps())
	if err != nil {
		return memTotals{}, nil, err
	}
	inner, err := innerMaps(t.Program())
	if err != nil {
		return memTotals{}, nil, err
	}
	var total, ct, sets uint64
	for _, m := range maps {
		total += m.Bytes
		if ctMaps[m.Name] {
			ct += m.Bytes
		}
	}
	for _, m := range inner {
		sets += m.Bytes
	}
	top := ""
	for i, m := range maps[:min(4, len(maps))] {
		if i > 0 {
			top += ", "
		}
		top += fmt.Sprintf("%s %s", m.Name, mib(m.Bytes))
	}
	tot := memTotals{all: total + sets, noCT: total + sets - ct, sets: sets}
	return tot, []string{label, mib(tot.all), mib(tot.noCT), mib(sets), top}, nil
}

// memory reports the kernel memory of xdpfw's maps at each scale point:
// rule counts, and sizes of a referenced set.
func memory(cfg Config, tr workload.Traffic, feed workload.Feed) (Section, error) {
	tab := Table{Header: []string{"ruleset", "all maps", "all but conntrack's (ct, ct_frags)", "sets' inner maps", "largest maps"}}
	row := func(label string, rs *rules.Ruleset) (memTotals, error) {
		t, err := loader.NewInstance(rs, false)
		if err != nil {
			return memTotals{}, err
		}
		defer t.Close()
		// Committed again, so both generations hold it, as in a live
		// state after any later change.
		if err := t.Load(rs); err != nil {
			return memTotals{}, err
		}
		tot, r, err := memoryRow(label, t)
		tab.Rows = append(tab.Rows, r)
		return tot, err
	}
	var notes []string
	for _, n := range cfg.Scales {
		tot, err := row(fmt.Sprintf("%d rule%s", n, plural(n)), tr.ScaleRuleset(n))
		if err != nil {
			return Section{}, err
		}
		if n == 4096 {
			// Every map: the scale rulesets read no connection state
			// (policy pass, no ct-state rule), so their conntrack
			// tables are idle.
			notes = append(notes,
				target("maps of 4096 rules, every map (the conntrack tables idle: the ruleset reads no connection state), MiB", float64(tot.all)/(1<<20), "<=", 8))
		}
	}
	// A ruleset that reads connection state has the whole table, or the
	// one its conntrack: max-flows asks for: the largest ruleset again
	// under policy drop (which reads it for DHCP replies), with each.
	last := cfg.Scales[len(cfg.Scales)-1]
	for _, flows := range []uint32{0, smallCTFlows} {
		rs := tr.ScaleRuleset(last)
		rs.Policy = rules.Drop
		rs.Conntrack.MaxFlows = flows
		label := fmt.Sprintf("%d rule%s, policy drop (the whole conntrack table, %d flows)", last, plural(last), layout.CtEntries)
		if flows != 0 {
			label = fmt.Sprintf("%d rule%s, policy drop, conntrack max-flows %d", last, plural(last), flows)
		}
		tot, err := row(label, rs)
		if err != nil {
			return Section{}, err
		}
		notes = append(notes, fmt.Sprintf("%s: every map %s, all but the conntrack tables %s.", label, mib(tot.all), mib(tot.noCT)))
	}
	for _, n := range cfg.SetSizes {
		rs := feed.Ruleset("feed", n)
		tot, err := row(fmt.Sprintf("1 rule, set of %s", count(n)), rs)
		if err != nil {
			return Section{}, err
		}
		if n == 1_000_000 {
			entries := len(rs.Sets["feed"].Prefixes)
			notes = append(notes, target(fmt.Sprintf("a set of %s entries, bytes per entry (its inner maps ÷ %d entries)", count(n), entries),
				float64(tot.sets)/float64(entries), "<=", 48))
		}
	}
	return Section{
		Title: "Memory of xdpfw's maps",
		Method: "The kernel's accounting of each map's memory (`memlock` in `bpftool map show`) for every map of xdpfw's object: " +
			"those its programs use and the control plane's (the rules' definitions, the sets' definitions, meta), " +
			"loaded with the per-packet rulesets above, committed twice so both generations of the classifier and of the definitions hold them, as in a live state after any later change, " +
			"plus the maps in the slots of its map-of-maps: each set's bucket arrays, host hashes and LPM tries, which the program does not list. " +
			"The rule vectors are sized to the ruleset: a fresh state's map, grown by the ruleset's load to room for two generations " +
			"of its size and an eighth, as a state given the same `apply` has it; so is value_atoms, to the value dimensions in use. The other arrays and preallocated hash maps are sized " +
			"for 4096 rules whatever the ruleset; the LPM tries, the rules' definitions (one entry per rule the two generations hold alike) and the sets' maps grow with their entries (a set's bucket arrays are built for its entries and a quarter more). " +
			"No capture runs, so there is no capture ring (a capture makes its own, 1 MiB). " +
			fmt.Sprintf("The conntrack tables are the ruleset's: idle (%d flows) where nothing reads connection state, as in the scale and set rows (policy pass, no ct-state rule); "+
				"whole (%d flows) under the drop policy or a ct-state rule, unless `conntrack: max-flows` sizes them.", layout.CtIdleEntries, layout.CtEntries),
		Tables: []Table{tab},
		Notes:  notes,
	}, nil
}

// smallCTFlows is the table a small host might choose: room for a few
// thousand connections at once.
const smallCTFlows = 16384

func mib(b uint64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
