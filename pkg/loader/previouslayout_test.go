package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape this layout changed: none did (layout 13 added
// set4_bkt), so it checks that and returns nothing. previousSets moves
// the sets' contents to where layout 12 kept them.
func previousShape(dir string, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (map[string]*ebpf.Map, error) {
	for name, ms := range spec.Maps {
		if cur := pinned[name]; cur != nil {
			if err := compatible(name, shapeOf(ms), cur); err != nil {
				return nil, fmt.Errorf("map %s changed shape and is not one previousShape knows: %w", name, err)
			}
		}
	}
	return nil, nil
}

// previousSets stores each set as layout 12 did: its IPv4 entries in the
// buckets move to the host hash (hosts) and the trie (the rest), and its
// set4_bkt slot is emptied.
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
		if h.bkt != nil {
			for _, w := range h.bkt.words() {
				p, v := slotPrefix(w), setVal{Flags: uint8(w >> 40), Len: uint8(slotPrefix(w).Bits())}
				if p.Bits() == 32 {
					err = h.inner[kindHost4].Put(layout.Set4Key{Addr: p.Addr().As4()}, v)
				} else {
					err = h.inner[kindLPM4].Put(layout.Set4LpmKey{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}, v)
				}
				if err != nil {
					break
				}
			}
			if err == nil {
				err = m.Set4Bkt.Delete(def.Slot)
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
