package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the state the previous layout's shape of the maps
// this one changed, and returns them: layout 14 kept every rule
// definition, short or long, in one preallocated rule_defs of long
// values. It makes that map from the previous object, copies both of
// this layout's definition maps into it and pins it over rule_defs
// (rule_defs_long, an added map, the caller unpins). Its ct_frags held
// 8192 records whatever the flows: where this state's is another size, a
// map of the previous one, holding its records, is pinned over it. Every
// other map must have the same shape in both. previousSets moves the sets'
// contents to where layout 12 kept them, as a state that came to
// layout 13 from 12, and on to 14, still has them.
func previousShape(dir string, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (map[string]*ebpf.Map, error) {
	for name, ms := range spec.Maps {
		if cur := pinned[name]; cur != nil && name != xdpfwMapRuleDefs && name != xdpfwMapCtFrags {
			if err := compatible(name, shapeOf(ms), cur); err != nil {
				return nil, fmt.Errorf("map %s changed shape and is not one previousShape knows: %w", name, err)
			}
		}
	}
	defs, err := readRuleDefs(&xdpfwMaps{RuleDefs: pinned[xdpfwMapRuleDefs], RuleDefsLong: pinned[xdpfwMapRuleDefsLong]}, [numGens]int{})
	if err != nil {
		return nil, err
	}
	old, err := ebpf.NewMap(spec.Maps[xdpfwMapRuleDefs])
	if err != nil {
		return nil, err
	}
	for gen, byID := range defs {
		for id, b := range byID {
			var d xdpfwRuleDef
			d.Len = uint32(copy(d.Data[:], b))
			if err := old.Put(xdpfwRuleDefKey{Gen: uint32(gen), Id: id}, &d); err != nil {
				old.Close()
				return nil, err
			}
		}
	}
	if err := pinOver(dir, xdpfwMapRuleDefs, old); err != nil {
		old.Close()
		return nil, err
	}
	reshaped := map[string]*ebpf.Map{xdpfwMapRuleDefs: old}
	if pinned[xdpfwMapCtFrags].MaxEntries() != spec.Maps[xdpfwMapCtFrags].MaxEntries {
		frags, err := ebpf.NewMap(spec.Maps[xdpfwMapCtFrags])
		if err == nil {
			reshaped[xdpfwMapCtFrags] = frags
			err = copyFrags(pinned[xdpfwMapCtFrags], frags)
		}
		if err == nil {
			err = pinOver(dir, xdpfwMapCtFrags, frags)
		}
		if err != nil {
			for _, m := range reshaped {
				m.Close()
			}
			return nil, err
		}
	}
	return reshaped, nil
}

// previousSets stores each set as layout 12 did (13 kept such sets as
// they were): the entries in its
// bucket arrays move to the host hashes (hosts) and the tries (the
// rest), and its set4_bkt and set6_bkt slots are emptied.
func previousSets(m *xdpfwMaps) error {
	_, defs, err := readAll[xdpfwSetName, xdpfwSetDef](m.SetDefs)
	if err != nil {
		return err
	}
	for _, def := range defs {
		h, err := openSetMaps(m, def.Slot)
		if err != nil {
			return err
		}
		for fam, b := range h.bkt {
			if b == nil || err != nil {
				continue
			}
			for _, sl := range b.all() {
				p := sl.key.prefix(b.v6)
				v, a := setVal{Flags: sl.flags, Len: uint8(p.Bits())}, p.Addr()
				switch {
				case a.Is4() && p.Bits() == 32:
					err = h.inner[kindHost4].Put(layout.Set4Key{Addr: a.As4()}, v)
				case a.Is4():
					err = h.inner[kindLPM4].Put(layout.Set4LpmKey{Prefixlen: uint32(p.Bits()), Addr: a.As4()}, v)
				case p.Bits() == 128:
					err = h.inner[kindHost6].Put(layout.Set6Key{Addr: a.As16()}, v)
				default:
					err = h.inner[kindLPM6].Put(layout.Set6LpmKey{Prefixlen: uint32(p.Bits()), Addr: a.As16()}, v)
				}
				if err != nil {
					break
				}
			}
			if err == nil {
				err = m.bktOuter()[fam].Delete(def.Slot)
			}
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("previous set in slot %d: %w", def.Slot, err)
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
