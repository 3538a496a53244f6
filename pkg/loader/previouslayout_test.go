package loader

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// previousShape gives the state the previous layout's shape of the maps
// this one changed, and returns them: layout 15 kept a definition per
// generation and rule, keyed (generation, id), with a 32-bit length and
// 124 bytes in rule_defs, its capture_ring was the ring itself, its
// iface_atoms preallocated, its value_atoms held every dimension's
// chunks at fixed places (previousValues), and its address buckets were
// 4096 a generation, whatever the ruleset. It makes those maps from the previous object,
// fills them with what this layout's hold, and pins them over them.
// Every other map must have the same shape in both. previousSets moves
// the sets' contents to where layout 12 kept them, as a state that came
// from 12 through each layout since still has them.
func previousShape(dir string, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (reshaped map[string]*ebpf.Map, err error) {
	changed := map[string]bool{xdpfwMapRuleDefs: true, xdpfwMapRuleDefsLong: true, xdpfwMapCaptureRing: true, xdpfwMapIfaceAtoms: true,
		xdpfwMapGenConf: true, xdpfwMapValueAtoms: true, xdpfwMapAddr4Host: true, xdpfwMapAddr6Host: true}
	for name, ms := range spec.Maps {
		if cur := pinned[name]; cur != nil && !changed[name] {
			if err := compatible(name, shapeOf(ms), cur); err != nil {
				return nil, fmt.Errorf("map %s changed shape and is not one previousShape knows: %w", name, err)
			}
		}
	}
	st, err := readRuleDefs(&xdpfwMaps{RuleDefs: pinned[xdpfwMapRuleDefs], RuleDefsLong: pinned[xdpfwMapRuleDefsLong]}, [numGens]int{})
	if err != nil {
		return nil, err
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
	type prevDef struct {
		Len  uint32
		Data [500]byte
	}
	for gen, byID := range st.def {
		for id, b := range byID {
			k := xdpfwRuleDefKey{Id: uint32(gen), Slot: id} // (gen, id)
			if fitsPrevShort := len(b) <= len(prevDefShort{}.Data); fitsPrevShort {
				d := prevDefShort{Len: uint32(len(b))}
				copy(d.Data[:], b)
				err = reshaped[xdpfwMapRuleDefs].Put(k, &d)
			} else {
				d := prevDef{Len: uint32(len(b))}
				copy(d.Data[:], b)
				err = reshaped[xdpfwMapRuleDefsLong].Put(k, &d)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if err := previousValues(pinned[xdpfwMapGenConf], pinned[xdpfwMapValueAtoms], reshaped[xdpfwMapGenConf], reshaped[xdpfwMapValueAtoms]); err != nil {
		return nil, err
	}
	v4, v6, err := readBuckets(&xdpfwMaps{Addr4Host: pinned[xdpfwMapAddr4Host], Addr6Host: pinned[xdpfwMapAddr6Host]})
	if err != nil {
		return nil, err
	}
	for gen := range uint32(numGens) {
		notOfGen := func(k bucketKey) bool { return uint32(k.tag)&1 != gen }
		if err := errors.Join(writeBuckets4(reshaped[xdpfwMapAddr4Host], gen, slices.DeleteFunc(slices.Clone(v4), notOfGen)),
			writeBuckets6(reshaped[xdpfwMapAddr6Host], gen, slices.DeleteFunc(slices.Clone(v6), notOfGen))); err != nil {
			return nil, err
		}
	}
	keys, atoms, err := readAll[xdpfwIfaceKey, uint32](pinned[xdpfwMapIfaceAtoms])
	if err == nil {
		err = putAll(reshaped[xdpfwMapIfaceAtoms], keys, atoms)
	}
	if err != nil {
		return nil, err
	}
	for name, m := range reshaped {
		if err := pinOver(dir, name, m); err != nil {
			return nil, err
		}
	}
	return reshaped, nil
}

// previousChunkBase is where layout 15 kept each value dimension's
// chunks in a generation's part of value_atoms, every dimension's room
// in dimension order (its enum chunk_base).
var previousChunkBase = [layout.NumDims]uint32{
	layout.DimProto: 0, layout.DimSport: 7, layout.DimDport: 263, layout.DimCt: 519,
	layout.DimL4: 520, layout.DimVlan: 776, layout.DimIvlan: 793, layout.DimDscp: 810,
	layout.DimTtl: 811, layout.DimLen: 812, layout.DimSset: 1068, layout.DimDset: 1069,
}

// previousValues writes each generation's config and value atoms as
// layout 15 kept them: gen_conf values without chunk_base (its first
// bytes, then zeros, to its size), and every value dimension's chunks at
// its base of previousChunkBase.
func previousValues(conf, atoms, oldConf, oldAtoms *ebpf.Map) error {
	perGen, oldPerGen := chunksPerGen(atoms), chunksPerGen(oldAtoms)
	for gen := range uint32(numGens) {
		var c xdpfwGenConf
		if err := conf.Lookup(gen, &c); err != nil {
			return err
		}
		raw := make([]byte, oldConf.ValueSize())
		copy(raw, unsafe.Slice((*byte)(unsafe.Pointer(&c)), unsafe.Offsetof(c.ChunkBase)))
		if err := oldConf.Put(gen, raw); err != nil {
			return err
		}
		for d := range layout.NumDims {
			n := chunksOf(classifier.ValueKeys[d])
			if n == 0 || (chunkBase[d] >= chunksCommon && c.Flags&gfUse(d) == 0) {
				continue
			}
			for i := range n {
				var chunk xdpfwAtomChunk
				err := atoms.Lookup(gen*perGen+c.ChunkBase[d]+i, &chunk)
				if err == nil {
					err = oldAtoms.Put(gen*oldPerGen+previousChunkBase[d]+i, &chunk)
				}
				if err != nil {
					return fmt.Errorf("value atoms of %s: %w", classifier.DimNames[d], err)
				}
			}
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
