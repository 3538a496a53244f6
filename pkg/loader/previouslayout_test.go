package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape this layout changed: the classifier's tables with the
// ct dimension cut out of each generation (it sits after the ports: what
// follows it moves down by its room, and every generation by all the
// room it took), and the scratch maps empty. The maps are pinned over this build's, as the
// previous release left them; the caller closes what it returns.
func previousShape(dir string, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (map[string]*ebpf.Map, error) {
	out := map[string]*ebpf.Map{}
	fail := func(err error) (map[string]*ebpf.Map, error) {
		for _, m := range out {
			m.Close()
		}
		return nil, err
	}
	for name, ms := range spec.Maps {
		cur := pinned[name]
		if cur == nil || compatible(ms, cur) == nil {
			continue
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fail(fmt.Errorf("previous %s: %w", name, err))
		}
		out[name] = m
		switch name {
		case xdpfwMapVectors:
			err = copyGenerations(cur, m, vecPerGen, layout.VecBaseCt, vecPerGen-(ms.MaxEntries-1)/numGens)
		case xdpfwMapValueAtoms:
			err = copyGenerations(cur, m, chunksPerGen, layout.ChunkBaseCt, chunksPerGen-ms.MaxEntries/numGens)
		case xdpfwMapAtomScratch, xdpfwMapTrace:
			// scratch: the program writes before it reads
		default:
			err = fmt.Errorf("map %s changed shape and is not one previousShape knows", name)
		}
		if err != nil {
			return fail(err)
		}
		if err := pinOver(dir, name, m); err != nil {
			return fail(err)
		}
	}
	if err := previousFlags(pinned[xdpfwMapGenConf]); err != nil {
		return fail(err)
	}
	return out, nil
}

// previousFlags rewrites each generation's config flags in the previous
// layout's numbering: a dimension's use bit is GF_USE_SHIFT + its index,
// and the dimensions after the ct one had one index less.
func previousFlags(m *ebpf.Map) error {
	for gen := uint32(0); gen < numGens; gen++ {
		var c xdpfwGenConf
		if err := m.Lookup(gen, &c); err != nil {
			return fmt.Errorf("read gen_conf %d: %w", gen, err)
		}
		old := c.Flags & (1<<layout.GfUseShift - 1)
		for d := 0; d < layout.NumDims; d++ {
			if c.Flags&gfUse(d) == 0 || d == layout.DimCt {
				continue
			}
			od := d
			if d > layout.DimCt {
				od--
			}
			old |= gfUse(od)
		}
		c.Flags = old
		if err := m.Put(gen, &c); err != nil {
			return fmt.Errorf("write gen_conf %d: %w", gen, err)
		}
	}
	return nil
}

// copyGenerations copies an array indexed gen*perGen + i (and, after the
// generations, one more entry) into one with holeLen fewer entries a
// generation: each generation's entries [holeStart, holeStart+holeLen),
// the dimension this layout added, are dropped and the ones after move
// down.
func copyGenerations(from, to *ebpf.Map, perGen, holeStart, holeLen uint32) error {
	oldPerGen := perGen - holeLen
	val := make([]byte, from.ValueSize())
	for k := uint32(0); k < from.MaxEntries(); k++ {
		g, i := k/perGen, k%perGen
		if g < numGens {
			if i >= holeStart && i < holeStart+holeLen {
				continue
			}
			if i >= holeStart+holeLen {
				i -= holeLen
			}
		}
		if err := from.Lookup(k, val); err != nil {
			return fmt.Errorf("read %d: %w", k, err)
		}
		if err := to.Put(g*oldPerGen+i, val); err != nil {
			return fmt.Errorf("write %d: %w", g*oldPerGen+i, err)
		}
	}
	return nil
}

// checkEgressRecorded: iface, migrated, has exactly one egress learner,
// this build's, on the kernel's hook, and its record says so.
func checkEgressRecorded(t *testing.T, s *State, iface string) {
	t.Helper()
	l, err := netlink.LinkByName(iface)
	if err != nil {
		t.Error(err)
		return
	}
	var ifc xdpfwIface
	want := kernelEgress(t)
	if err := s.maps.Ifaces.Lookup(uint32(l.Attrs().Index), &ifc); err != nil || egressName(ifc.Egress) != want {
		t.Errorf("%s's record %+v (%v), want egress %s", iface, ifc, err, want)
	}
	checkOneEgress(t, s, l, want)
}
