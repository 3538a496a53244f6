package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the state the previous layout's shape of the maps
// this one changed, and returns them: layout 16 kept gen_conf as an
// array of one config per generation (this one keeps both in one value,
// read by address). It makes those maps from the previous object, fills
// them with what this layout's hold, and pins them over them. Every
// other map must have the same shape in both. previousSets moves the
// sets' contents to where layout 12 kept them, as a state that came
// from 12 through each layout since still has them.
func previousShape(dir string, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (reshaped map[string]*ebpf.Map, err error) {
	changed := map[string]bool{xdpfwMapGenConf: true}
	for name, ms := range spec.Maps {
		if cur := pinned[name]; cur != nil && !changed[name] {
			if err := compatible(name, shapeOf(ms), cur); err != nil {
				return nil, fmt.Errorf("map %s changed shape and is not one previousShape knows: %w", name, err)
			}
		}
	}
	reshaped = map[string]*ebpf.Map{}
	defer func() {
		if err != nil {
			for _, m := range reshaped {
				m.Close()
			}
		}
	}()
	for name := range changed {
		if reshaped[name], err = ebpf.NewMap(spec.Maps[name]); err != nil {
			return nil, err
		}
	}
	for gen := range uint32(numGens) {
		var c xdpfwGenConfig
		if err := readGenConf(pinned[xdpfwMapGenConf], gen, &c); err != nil {
			return nil, err
		}
		if err := reshaped[xdpfwMapGenConf].Put(gen, &c); err != nil {
			return nil, err
		}
	}
	for name, m := range reshaped {
		if err := pinOver(dir, name, m); err != nil {
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
