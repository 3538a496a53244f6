package loader

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// previousShape gives the previous layout's program what it needs of the
// maps whose shape or content this layout changed: gen_conf without the
// hash lengths at its end, and the address hashes holding hosts only
// (every other prefix in the tries), each generation's flags saying which
// tables hold entries. The maps are pinned over this build's, as the
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
		case xdpfwMapGenConf:
			err = copyLeading(cur, m)
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
	conf := out[xdpfwMapGenConf]
	if conf == nil {
		return fail(fmt.Errorf("gen_conf kept its shape: previousShape is out of date"))
	}
	if err := previousAddrs(pinned, conf); err != nil {
		return fail(err)
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

// previousAddrs moves the address hashes' prefixes that are not hosts to
// the tries, writes the hosts under the previous key (a 32-bit tag: the
// length byte zero), and sets each generation's table flags in conf (of
// the previous shape: flags at the same offset) to what the tables hold.
func previousAddrs(pinned map[string]*ebpf.Map, conf *ebpf.Map) error {
	var flags [numGens]uint32
	h4, l4 := pinned[xdpfwMapAddr4Host], pinned[xdpfwMapAddr4Lpm]
	k4, a4, err := readAll[xdpfwAddr4HostKey, uint32](h4)
	if err != nil {
		return err
	}
	for i, k := range k4 {
		if err := h4.Delete(&k); err != nil {
			return err
		}
		if k.Len == 32 {
			k.Len = 0
			err = h4.Put(&k, a4[i])
		} else {
			err = l4.Put(&xdpfwAddr4LpmKey{Prefixlen: 8 + uint32(k.Len), Tag: k.Tag, Addr: k.Addr}, a4[i])
		}
		if err != nil {
			return err
		}
	}
	h6, l6 := pinned[xdpfwMapAddr6Host], pinned[xdpfwMapAddr6Lpm]
	k6, a6, err := readAll[xdpfwAddr6HostKey, uint32](h6)
	if err != nil {
		return err
	}
	for i, k := range k6 {
		if err := h6.Delete(&k); err != nil {
			return err
		}
		if k.Len == 128 {
			k.Len = 0
			err = h6.Put(&k, a6[i])
		} else {
			err = l6.Put(&xdpfwAddr6LpmKey{Prefixlen: 8 + uint32(k.Len), Tag: k.Tag, Addr: k.Addr}, a6[i])
		}
		if err != nil {
			return err
		}
	}
	mark := func(tag uint8, flag uint32) { flags[tag&1] |= flag << (4 * (tag >> 1)) }
	for _, k := range k4 {
		mark(k.Tag, map[bool]uint32{true: gfSrc4Host, false: gfSrc4LPM}[k.Len == 32])
	}
	for _, k := range k6 {
		mark(k.Tag, map[bool]uint32{true: gfSrc6Host, false: gfSrc6LPM}[k.Len == 128])
	}
	t4, err := keysOf[xdpfwAddr4LpmKey](l4)
	if err != nil {
		return err
	}
	for _, k := range t4 {
		mark(k.Tag, gfSrc4LPM)
	}
	t6, err := keysOf[xdpfwAddr6LpmKey](l6)
	if err != nil {
		return err
	}
	for _, k := range t6 {
		mark(k.Tag, gfSrc6LPM)
	}
	val := make([]byte, conf.ValueSize())
	for gen := uint32(0); gen < numGens; gen++ {
		if err := conf.Lookup(gen, val); err != nil {
			return fmt.Errorf("read gen_conf %d: %w", gen, err)
		}
		// flags: the third u32 (struct gen_conf)
		f := binary.LittleEndian.Uint32(val[8:])
		binary.LittleEndian.PutUint32(val[8:], f&^0xff|flags[gen])
		if err := conf.Put(gen, val); err != nil {
			return fmt.Errorf("write gen_conf %d: %w", gen, err)
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
