package loader

import (
	"testing"

	"github.com/vishvananda/netlink"

	"fmt"

	"github.com/cilium/ebpf"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape this layout changed: the classifier's tables with the
// ct dimension cut from the end of each generation (it was appended, so
// every other index only moves by a generation's shrinkage), and the
// scratch maps empty. The maps are pinned over this build's, as the
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
			err = copyGenerations(cur, m, vecPerGen, (ms.MaxEntries-1)/numGens)
		case xdpfwMapValueAtoms:
			err = copyGenerations(cur, m, chunksPerGen, ms.MaxEntries/numGens)
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
	return out, nil
}

// copyGenerations copies an array indexed gen*perGen + i (and, after the
// generations, one more entry) into one of oldPerGen entries a
// generation, dropping the entries past oldPerGen: the dimensions this
// layout appended.
func copyGenerations(from, to *ebpf.Map, perGen, oldPerGen uint32) error {
	val := make([]byte, from.ValueSize())
	for k := uint32(0); k < from.MaxEntries(); k++ {
		g, i := k/perGen, k%perGen
		if g < numGens && i >= oldPerGen {
			continue
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
