package loader

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ct_conf holds the live ruleset's conntrack: section (its timeouts) for
// the datapath. It is not generation-switched, as the table it times is
// not: each generation's config records its ruleset's timeouts
// (gen_config.ct_timeout, switched with the rules), and ct_conf follows
// the live one. A commit writes it just after the switch
// (tx.switched), before a set change's elements settle: written
// before, a change that failed or died between would leave the old rules
// live with the new timeouts. A death after the switch leaves the old
// timeouts, which the next change writes over first (syncCTConf, from
// runChange): until then the flows are timed as before the change a
// moment longer. The ruleset's readers (rule list, save, a change's view)
// take the timeouts from the live config; ct list and ct stats, which say
// how flows are timed, from ct_conf. Its placed and flushed counters are
// Go's (countCTChange) and survive every write of the timeouts.

// readCTConf reads the map's one entry.
func readCTConf(m *xdpfwMaps) (xdpfwCtConf, error) {
	var c xdpfwCtConf
	if err := m.CtConf.Lookup(uint32(0), &c); err != nil {
		return c, fmt.Errorf("read ct_conf: %w", err)
	}
	return c, nil
}

// ctInEffect is the timeouts the datapath times flows by: ct_conf's,
// each checked (see conntrackOf). ct list's time left and ct stats take
// them from here, not from the live config: after a commit that died
// between its switch and its write of ct_conf, the flows are timed by the
// previous ruleset's until the next change (syncCTConf).
func ctInEffect(m *xdpfwMaps) (rules.Conntrack, error) {
	c, err := readCTConf(m)
	if err != nil {
		return rules.Conntrack{}, err
	}
	if err := checkCTTimeouts(c.Timeout); err != nil {
		return rules.Conntrack{}, err
	}
	return rules.Conntrack{Timeouts: c.Timeout}, nil
}

// conntrackOf is the conntrack: section of the ruleset conf is the
// config of but for its max-flows, which the caller reads from conf
// with the rules: its timeouts as conf records them, or, in a config of
// layout 18 (ct_max_flows 0: it records neither), as ct_conf holds them.
// Each is checked: both are pinned maps anyone with bpffs access can
// write, and what they hold is saved as a ruleset file and shown as time
// left.
func conntrackOf(m *xdpfwMaps, conf *xdpfwGenConfig) (rules.Conntrack, error) {
	if conf.CtMaxFlows == 0 {
		return ctInEffect(m)
	}
	if err := checkCTTimeouts(conf.CtTimeout); err != nil {
		return rules.Conntrack{}, err
	}
	return rules.Conntrack{Timeouts: conf.CtTimeout}, nil
}

// syncCTConf makes ct_conf hold the timeouts the live generation's config
// records, where a commit that died between its switch and its write of
// them left the previous ruleset's: runChange runs it before every change.
// A config of layout 18 records none, and ct_conf is then the truth.
func syncCTConf(v *view) error {
	conf := &v.conf[v.active]
	if conf.CtMaxFlows == 0 {
		return nil
	}
	ct, err := conntrackOf(v.m, conf)
	if err != nil {
		return err
	}
	return writeConntrack(v.m, ct)
}

// maxCTTimeout is rules.ParseCTTimeout's bound (pkg/rules/file_conntrack.go,
// unexported there): a ruleset file sets no timeout longer than a year, so
// neither ct_conf nor a config holds one unless something else wrote it.
const maxCTTimeout = 365 * 24 * 3600

// checkCTTimeouts refuses timeouts no ruleset file could set: each is 0
// (the default) or 1 s to maxCTTimeout; in whole seconds, only the upper
// bound can be broken. The error names the first bad one.
func checkCTTimeouts(to [len(rules.CTTimeoutNames)]uint32) error {
	for i, sec := range to {
		if sec > maxCTTimeout {
			return fmt.Errorf("conntrack: the %s timeout is %d s, past the 365d a ruleset can set: xdpfw did not write it",
				rules.CTTimeoutNames[i], sec)
		}
	}
	return nil
}

// writeConntrack makes ct's timeouts the datapath's, keeping the placed
// and flushed counters.
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

// countCTChange counts what Go did to the conntrack table: placed more
// flows put in (a seed's, a resize's copies; less, as a negative, those
// it took out other than by flush: the table a resize replaced) and
// flushed more removed by ct flush. Every flow Go adds or removes is
// counted here, so ct stats' evictions (inserts + placed - expired -
// flushed - entries) are the flows the table dropped and nothing else:
// the datapath counts its own inserts and expiries.
func countCTChange(m *xdpfwMaps, placed int64, flushed uint64) error {
	c, err := readCTConf(m)
	if err != nil {
		return err
	}
	c.Placed += placed
	c.Flushed += flushed
	if err := m.CtConf.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("write ct_conf: %w", err)
	}
	return nil
}
