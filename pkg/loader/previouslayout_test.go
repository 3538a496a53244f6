package loader

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape or content this layout changed: gen_conf without the
// vector fields at its end, and the vectors as 520-byte bit vectors
// (summary, 64 words) at fixed places, gen * AtomsPerGen + the
// dimension's atom base + atom, with the all-ones vector after both
// generations. The maps are pinned over this build's, as the previous
// release left them; the caller closes what it returns.
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
		case xdpfwMapGenConf:
			err = copyLeading(cur, m)
		case xdpfwMapVectors:
			err = previousVectors(pinned[xdpfwMapGenConf], cur, m)
		case xdpfwMapAtomScratch:
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

// prevBitvec is the previous layout's vector.
type prevBitvec struct {
	Summary uint64
	Words   [64]uint64
}

// previousVectors writes each generation's vectors, as its config (in
// confs, this layout's) places them in vecs, into the previous layout's
// places in out.
func previousVectors(confs, vecs, out *ebpf.Map) error {
	perGen := uint32(layout.AtomsPerGen)
	val := make([]byte, vecs.ValueSize())
	for gen := uint32(0); gen < numGens; gen++ {
		var c xdpfwGenConf
		if err := confs.Lookup(gen, &c); err != nil {
			return err
		}
		if c.VecEnd == 0 {
			continue
		}
		all := c.VecEnd - 1 // the all-ones vector is last
		// Dimensions in use are packed in order: each runs to the next
		// one's base, the last to the all-ones vector.
		for d := range c.VecBase {
			if c.VecBase[d] == all {
				continue
			}
			end := all
			for e := d + 1; e < len(c.VecBase); e++ {
				if c.VecBase[e] != all {
					end = c.VecBase[e]
					break
				}
			}
			for k := c.VecBase[d]; k < end; k++ {
				if err := vecs.Lookup(k, val); err != nil {
					return err
				}
				var v prevBitvec
				v.Summary = binary.NativeEndian.Uint64(val)
				for w := range len(val)/8 - 1 {
					v.Words[w] = binary.NativeEndian.Uint64(val[8+8*w:])
				}
				if err := out.Put(gen*perGen+layout.AtomBase[d]+k-c.VecBase[d], &v); err != nil {
					return err
				}
			}
		}
	}
	var ones prevBitvec
	for i := range ones.Words {
		ones.Words[i] = ^uint64(0)
	}
	return out.Put(numGens*perGen, &ones)
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
