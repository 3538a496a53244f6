package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
)

// genConfLayout11 is gen_conf as the previous layout (11) declared it, a
// frozen record of an older build's struct, not of this one's: a state
// of that layout holds it until migrate rebuilds the map. Layout 12 moved
// the fields the common path reads into the first cache line.
type genConfLayout11 struct {
	Policy, Nrules, Flags, _ uint32
	WildSummary              uint64
	Nsets                    [2]uint32
	SetSlot                  [2][8]uint32
	HashNlens                [4]uint8
	HashLens                 [4][4]uint8
	VecBase                  [15]uint32
	VecEnd                   uint32
	_                        uint32
}

// readGenConf reads generation gen's config, from a map of this layout
// or of the previous one, told apart by the value's size.
func readGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConf) error {
	if int(m.ValueSize()) == binary.Size(c) {
		return m.Lookup(gen, c)
	}
	var old genConfLayout11
	if int(m.ValueSize()) != binary.Size(&old) {
		return fmt.Errorf("gen_conf values of %d bytes are of no layout this build reads", m.ValueSize())
	}
	buf := make([]byte, m.ValueSize())
	if err := m.Lookup(gen, buf); err != nil {
		return err
	}
	if err := binary.Read(bytes.NewReader(buf), binary.NativeEndian, &old); err != nil {
		return err
	}
	*c = xdpfwGenConf{
		Policy: old.Policy, Nrules: old.Nrules, Flags: old.Flags, WildSummary: old.WildSummary,
		Nsets: old.Nsets, SetSlot: old.SetSlot, HashNlens: old.HashNlens, HashLens: old.HashLens,
		VecBase: old.VecBase, VecEnd: old.VecEnd,
	}
	return nil
}
