package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// objectSpec is the datapath object's collection spec as every load
// needs it: loadXdpfw's, with the sections that stand for a map's value
// bound to that map (bindValueSections).
func objectSpec() (*ebpf.CollectionSpec, error) {
	spec, err := loadXdpfw()
	if err != nil {
		return nil, err
	}
	if err := bindValueSections(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// valueSections are the data sections the C declares to read a map's one
// value by its address (a 64-bit load of the value's address, which costs
// a packet nothing more, where a lookup adds an index check and
// arithmetic), and the map each stands for. clang can emit that load
// only for a global variable, which lives in a data section of its own;
// the variable's reads must reach the pinned map the control plane
// writes, not a fresh one.
var valueSections = map[string]string{".data.active": xdpfwMapActive, ".data.gen_conf": xdpfwMapGenConf}

// bindValueSections points spec's programs' reads of each of
// valueSections at its map's value, and drops the section's own map. An
// object without such a section (an older build's) is left as it is.
func bindValueSections(spec *ebpf.CollectionSpec) error {
	for sec, name := range valueSections {
		ds := spec.Maps[sec]
		if ds == nil {
			continue
		}
		m := spec.Maps[name]
		// The kernel gives a value's address only for an array of one
		// entry, and the section must lie within that value.
		if m == nil || m.Type != ebpf.Array || m.MaxEntries != 1 || ds.ValueSize > m.ValueSize {
			return fmt.Errorf("datapath object: section %s cannot stand for map %s", sec, name)
		}
		for _, p := range spec.Programs {
			for i := range p.Instructions {
				if p.Instructions[i].Reference() == sec {
					p.Instructions[i] = p.Instructions[i].WithReference(name)
				}
			}
		}
		delete(spec.Maps, sec)
	}
	return nil
}
