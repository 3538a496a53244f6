package loader

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ct_conf holds the ruleset's conntrack: section (its timeouts) for the
// datapath. It is not generation-switched, as the table it times is not:
// a commit of a ruleset writes it just before the switch (tx.commit), so
// the timeouts change with the rules. Its flushed counter is Go's
// (ct flush) and survives every write of the timeouts.

// readCTConf reads the map's one entry.
func readCTConf(m *xdpfwMaps) (xdpfwCtConf, error) {
	var c xdpfwCtConf
	if err := m.CtConf.Lookup(uint32(0), &c); err != nil {
		return c, fmt.Errorf("read ct_conf: %w", err)
	}
	return c, nil
}

// readConntrack is the live ruleset's conntrack: section but for its
// max-flows, which the live generation's config records (gen_config
// ct_max_flows, read with the rules), each timeout checked: ct_conf is a
// pinned map anyone with bpffs access can write, and what it holds is
// saved as a ruleset file and shown as time left.
func readConntrack(m *xdpfwMaps) (rules.Conntrack, error) {
	c, err := readCTConf(m)
	if err != nil {
		return rules.Conntrack{}, err
	}
	if err := checkCTTimeouts(c.Timeout); err != nil {
		return rules.Conntrack{}, err
	}
	return rules.Conntrack{Timeouts: c.Timeout}, nil
}

// maxCTTimeout is rules.ParseCTTimeout's bound (pkg/rules/file_conntrack.go,
// unexported there): a ruleset file sets no timeout longer than a year, so
// ct_conf never holds one unless something else wrote it.
const maxCTTimeout = 365 * 24 * 3600

// checkCTTimeouts refuses timeouts no ruleset file could set: each is 0
// (the default) or 1 s to maxCTTimeout; in whole seconds, only the upper
// bound can be broken. The error names the first bad one.
func checkCTTimeouts(to [len(rules.CTTimeoutNames)]uint32) error {
	for i, sec := range to {
		if sec > maxCTTimeout {
			return fmt.Errorf("ct_conf: the %s timeout is %d s, past the 365d a ruleset can set: xdpfw did not write it",
				rules.CTTimeoutNames[i], sec)
		}
	}
	return nil
}

// writeConntrack makes ct's timeouts the datapath's, keeping the flushed
// counter.
func writeConntrack(m *xdpfwMaps, ct rules.Conntrack) error {
	c, err := readCTConf(m)
	if err != nil {
		return err
	}
	if c.Timeout == ct.Timeouts {
		return nil
	}
	c.Timeout = ct.Timeouts
	if err := m.CtConf.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("write ct_conf: %w", err)
	}
	return nil
}

// addFlushed counts n more flows removed by ct flush.
func addFlushed(m *xdpfwMaps, n uint64) error {
	c, err := readCTConf(m)
	if err != nil {
		return err
	}
	c.Flushed += n
	if err := m.CtConf.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("write ct_conf: %w", err)
	}
	return nil
}
