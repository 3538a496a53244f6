package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousGenConf gives the state in dir layout 18's gen_conf, and
// returns it: each generation's config a cache line shorter, ending
// before ct_timeout, with no conntrack section recorded (ct_max_flows
// was padding, 0), and policy, nrules and flags words, hash_nlens after
// them, no address seed. It is made from the previous object's spec,
// holds the configs pinned's holds, and is pinned over it.
func previousGenConf(dir string, spec *ebpf.CollectionSpec, pinned *ebpf.Map) (*ebpf.Map, error) {
	var value bytes.Buffer
	for gen := range uint32(numGens) {
		var c xdpfwGenConfig
		if err := readGenConf(pinned, gen, &c); err != nil {
			return nil, err
		}
		c.CtMaxFlows, c.CtTimeout = 0, [len(c.CtTimeout)]uint32{}
		conf, err := binary.Append(nil, binary.NativeEndian, &c)
		if err != nil {
			return nil, err
		}
		ne := binary.NativeEndian
		ne.PutUint32(conf[0:], uint32(c.Policy))
		ne.PutUint32(conf[4:], uint32(c.Nrules))
		ne.PutUint32(conf[8:], c.Flags)
		copy(conf[12:16], c.HashNlens[:])
		value.Write(conf[:prevGenConfigSize])
	}
	m, err := ebpf.NewMap(spec.Maps[xdpfwMapGenConf])
	if err != nil {
		return nil, err
	}
	if err := m.Put(uint32(0), value.Bytes()); err != nil {
		m.Close()
		return nil, err
	}
	if err := pinOver(dir, xdpfwMapGenConf, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// previousBuckets places both generations' address keys anew unseeded,
// as layout 18 did.
func previousBuckets(m *xdpfwMaps) error {
	for gen := range uint32(numGens) {
		if err := replaceGenBuckets(m, gen, 0); err != nil {
			return err
		}
	}
	return nil
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
