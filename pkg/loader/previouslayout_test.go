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
		case xdpfwMapAddr4Host, xdpfwMapAddr6Host:
			// hash maps: filled by previousAddrs
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
	for _, name := range []string{xdpfwMapGenConf, xdpfwMapAddr4Host, xdpfwMapAddr6Host} {
		if out[name] == nil {
			return fail(fmt.Errorf("%s kept its shape: previousShape is out of date", name))
		}
	}
	if err := previousAddrs(pinned, out); err != nil {
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

// The previous layout's address hash keys: a 32-bit tag, the address.
type (
	prevAddr4Key struct {
		Tag  uint32
		Addr [4]byte
	}
	prevAddr6Key struct {
		Tag  uint32
		Addr [16]byte
	}
)

// previousAddrs puts the buckets' hosts into the previous layout's hash
// maps (in out) and their other prefixes into the tries (pinned, the
// same shape in both layouts), and sets each generation's table flags in
// out's gen_conf (of the previous shape: flags at the same offset) to
// what the tables hold.
func previousAddrs(pinned, out map[string]*ebpf.Map) error {
	b4, b6, err := readBuckets(&xdpfwMaps{Addr4Host: pinned[xdpfwMapAddr4Host], Addr6Host: pinned[xdpfwMapAddr6Host]})
	if err != nil {
		return err
	}
	var flags [numGens]uint32
	mark := func(tag uint8, flag uint32) { flags[tag&1] |= flag << (4 * (tag >> 1)) }
	for _, k := range b4 {
		if k.len == 32 {
			err = out[xdpfwMapAddr4Host].Put(prevAddr4Key{Tag: uint32(k.tag), Addr: [4]byte(k.addr[:4])}, uint32(k.atom))
		} else {
			err = pinned[xdpfwMapAddr4Lpm].Put(&xdpfwAddr4LpmKey{Prefixlen: 8 + uint32(k.len), Tag: k.tag, Addr: [4]byte(k.addr[:4])}, uint32(k.atom))
		}
		if err != nil {
			return err
		}
	}
	for _, k := range b6 {
		if k.len == 128 {
			err = out[xdpfwMapAddr6Host].Put(prevAddr6Key{Tag: uint32(k.tag), Addr: k.addr}, uint32(k.atom))
		} else {
			err = pinned[xdpfwMapAddr6Lpm].Put(&xdpfwAddr6LpmKey{Prefixlen: 8 + uint32(k.len), Tag: k.tag, Addr: k.addr}, uint32(k.atom))
		}
		if err != nil {
			return err
		}
	}
	for _, k := range b4 {
		if k.len == 32 {
			mark(k.tag, gfSrc4Host)
		}
	}
	for _, k := range b6 {
		if k.len == 128 {
			mark(k.tag, gfSrc6Host)
		}
	}
	t4, err := keysOf[xdpfwAddr4LpmKey](pinned[xdpfwMapAddr4Lpm])
	if err != nil {
		return err
	}
	for _, k := range t4 {
		mark(k.Tag, gfSrc4LPM)
	}
	t6, err := keysOf[xdpfwAddr6LpmKey](pinned[xdpfwMapAddr6Lpm])
	if err != nil {
		return err
	}
	for _, k := range t6 {
		mark(k.Tag, gfSrc6LPM)
	}
	conf := out[xdpfwMapGenConf]
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
