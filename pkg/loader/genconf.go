package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
)

// gen_conf holds both generations' configs in its one value, which a
// packet reads by address (no lookup) and indexes by its generation.
// These read and write one generation's config in it.

// prevGenConfigSize is a config's size in a state of layout 18: it ends
// before ct_timeout, which that layout lacked. Its gen_conf is read as it
// is until migrate builds the map anew.
const prevGenConfigSize = 256

// genConfigSize is a config's size in this layout.
var genConfigSize = binary.Size(xdpfwGenConfig{})

// readGenConf reads generation gen's config from m into c.
func readGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConfig) error {
	if gen >= numGens {
		return fmt.Errorf("generation %d of %d", gen, numGens)
	}
	if m.ValueSize() == numGens*prevGenConfigSize {
		return readPrevGenConf(m, gen, c)
	}
	var all xdpfwGenConfigs
	if err := m.Lookup(uint32(0), &all); err != nil {
		return err
	}
	*c = all.Gen[gen]
	return nil
}

// readPrevGenConf reads generation gen's config from a gen_conf of layout
// 18: its first 16 bytes policy, nrules and flags as words and hash_nlens,
// read into this layout's narrower fields with addr_seed 0 (its buckets
// are unseeded); then the same fields up to ct_max_flows (0 there), then
// padding, so the timeouts it lacks read as none recorded.
func readPrevGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConfig) error {
	buf := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), buf); err != nil {
		return err
	}
	prev := buf[gen*prevGenConfigSize : (gen+1)*prevGenConfigSize]
	conf := make([]byte, genConfigSize)
	copy(conf, prev)
	ne := binary.NativeEndian
	ne.PutUint16(conf[0:], uint16(ne.Uint32(prev[0:])))
	ne.PutUint16(conf[2:], uint16(ne.Uint32(prev[4:])))
	ne.PutUint32(conf[4:], ne.Uint32(prev[8:]))
	copy(conf[8:12], prev[12:16])
	ne.PutUint32(conf[12:], 0)
	if err := binary.Read(bytes.NewReader(conf), binary.NativeEndian, c); err != nil {
		return err
	}
	c.CtTimeout = [len(c.CtTimeout)]uint32{}
	return nil
}

// writeGenConf writes c as generation gen's config in m: the whole value,
// the other generation's config as it was. Packets read the other while
// it is rewritten; they see the same bytes throughout, as the kernel's
// copy stores each byte's own value. (The one writer holds the state's
// lock.)
func writeGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConfig) error {
	if gen >= numGens {
		return fmt.Errorf("generation %d of %d", gen, numGens)
	}
	var all xdpfwGenConfigs
	if err := m.Lookup(uint32(0), &all); err != nil {
		return err
	}
	all.Gen[gen] = *c
	return m.Put(uint32(0), &all)
}
