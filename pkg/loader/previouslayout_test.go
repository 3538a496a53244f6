package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape this layout changed: gen_conf in layout 11's field
// order (genConfLayout11), and the arrays a packet reads without
// BPF_F_MMAPABLE, their contents as they are. The maps are pinned over
// this build's, as the previous release left them; the caller closes
// what it returns.
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
		if cur == nil || compatible(name, shapeOf(ms), cur) == nil {
			continue
		}
		if name == xdpfwMapVectors {
			// sized to the ruleset, as layout 11's were
			ms = ms.Copy()
			ms.MaxEntries, ms.ValueSize = cur.MaxEntries(), cur.ValueSize()
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fail(fmt.Errorf("previous %s: %w", name, err))
		}
		out[name] = m
		switch name {
		case xdpfwMapGenConf:
			err = previousGenConf(cur, m)
		case xdpfwMapActive, xdpfwMapRanks, xdpfwMapAddr4Host, xdpfwMapAddr6Host, xdpfwMapValueAtoms, xdpfwMapVectors:
			if cur.Flags() == ms.Flags|unix.BPF_F_MMAPABLE {
				err = copyLeading(cur, m)
			} else {
				err = fmt.Errorf("map %s changed more than its flags", name)
			}
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
	for _, name := range []string{xdpfwMapGenConf, xdpfwMapVectors} {
		if out[name] == nil {
			return fail(fmt.Errorf("%s kept its shape: previousShape is out of date", name))
		}
	}
	return out, nil
}

// copyLeading copies each entry of an array into one whose values are a
// leading part of from's.
func copyLeading(from, to *ebpf.Map) error {
	val := make([]byte, from.ValueSize())
	for k := uint32(0); k < from.MaxEntries(); k++ {
		if err := from.Lookup(k, val); err != nil {
			return fmt.Errorf("read %d: %w", k, err)
		}
		if err := to.Put(k, val[:to.ValueSize()]); err != nil {
			return fmt.Errorf("write %d: %w", k, err)
		}
	}
	return nil
}

// previousGenConf writes each generation's config of this layout, in
// confs, into out in layout 11's field order.
func previousGenConf(confs, out *ebpf.Map) error {
	for gen := uint32(0); gen < numGens; gen++ {
		var c xdpfwGenConf
		if err := confs.Lookup(gen, &c); err != nil {
			return err
		}
		old := genConfLayout11{
			Policy: c.Policy, Nrules: c.Nrules, Flags: c.Flags, WildSummary: c.WildSummary,
			Nsets: c.Nsets, SetSlot: c.SetSlot, HashNlens: c.HashNlens, HashLens: c.HashLens,
			VecBase: c.VecBase, VecEnd: c.VecEnd,
		}
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.NativeEndian, &old); err != nil {
			return err
		}
		if err := out.Put(gen, buf.Bytes()); err != nil {
			return err
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
