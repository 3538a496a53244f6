package loader

import (
	"testing"

	"github.com/cilium/ebpf/asm"
)

// TestValueSectionsBound checks that the spec every load uses has no map
// of its own for a value section, and that the programs read each bound
// map's value by address: a read left on the section's map would see a
// fresh zero, never the pinned word the control plane switches.
func TestValueSectionsBound(t *testing.T) {
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	for sec, name := range valueSections {
		if spec.Maps[sec] != nil {
			t.Errorf("section %s still has a map of its own", sec)
		}
		direct := 0
		for _, p := range spec.Programs {
			for _, ins := range p.Instructions {
				if ins.Reference() == sec {
					t.Errorf("%s: an instruction still reads section %s", p.Name, sec)
				}
				if ins.Reference() == name && ins.IsLoadFromMap() && ins.Src == asm.PseudoMapValue {
					direct++
				}
			}
		}
		if direct == 0 {
			t.Errorf("no program reads map %s's value by address", name)
		}
	}
}

// TestValueSectionRefusedOnWrongMap: a section may stand only for an
// array of one entry (the kernel gives no value address for others).
func TestValueSectionRefusedOnWrongMap(t *testing.T) {
	spec, err := loadXdpfw()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps[xdpfwMapActive].MaxEntries = 2
	if err := bindValueSections(spec); err == nil {
		t.Fatal("a section bound to an array of two entries")
	}
}
