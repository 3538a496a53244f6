package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// gen_conf holds both generations' configs in its one value, which a
// packet reads by address (no lookup) and indexes by its generation.
// These read and write one generation's config in it.

// readGenConf reads generation gen's config from m into c.
func readGenConf(m *ebpf.Map, gen uint32, c *xdpfwGenConfig) error {
	var all xdpfwGenConfigs
	if err := m.Lookup(uint32(0), &all); err != nil {
		return err
	}
	if gen >= numGens {
		return fmt.Errorf("generation %d of %d", gen, numGens)
	}
	*c = all.Gen[gen]
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
