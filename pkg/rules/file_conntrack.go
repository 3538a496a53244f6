package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"gopkg.in/yaml.v3"
)

// Conntrack is a ruleset file's conntrack: section: how many flows
// connection tracking holds, and how long it keeps a flow it has not seen
// a packet of. The table is not part of a generation (rules switch
// around it), so these apply to every flow from the change on.
//
//	conntrack:
//	  max-flows: 65536     # optional: the table's size (default 262144)
//	  timeouts:            # optional, each optional: seconds or 30s, 2m, 5h, 5d
//	    tcp-established: 5d
//	    udp: 30s
type Conntrack struct {
	// MaxFlows is the table's size in flows, MinCTFlows to MaxCTFlows;
	// 0 keeps the default (layout.CtEntries).
	MaxFlows uint32
	// Timeouts in seconds, indexed by layout.CtTo*; 0 keeps the default
	// (CTTimeoutDefaults).
	Timeouts [layout.NumCtTimeouts]uint32
}

// The bounds of max-flows. The table is allocated whole (about 120 bytes
// a flow: 30 MiB at the default), so the bounds keep a typo from taking
// gigabytes; below a thousand flows the kernel's LRU, which keeps free
// entries per CPU, would evict flows still in use.
const (
	MinCTFlows = 1024
	MaxCTFlows = 1 << 24
)

// Flows is the table's size in effect for a ruleset that reads
// connection state: the file's, or the default. Ruleset.CTFlows is the
// size for any ruleset.
func (c Conntrack) Flows() uint32 {
	if c.MaxFlows == 0 {
		return layout.CtEntries
	}
	return c.MaxFlows
}

// CTFragsFor is the fragments table that goes with a table of flows
// flows: a record for every layout.CtFlowsPerFrag flows, at least
// layout.CtFragMin (layout.CtFragEntries for the default table).
func CTFragsFor(flows uint32) uint32 {
	return max(layout.CtFragMin, flows/layout.CtFlowsPerFrag)
}

// ParseCTFlows reads max-flows: a whole number of flows within the bounds.
func ParseCTFlows(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v < MinCTFlows || v > MaxCTFlows {
		return 0, fmt.Errorf("bad max-flows %s (want a number of flows from %d to %d)", quoteShort(s), MinCTFlows, MaxCTFlows)
	}
	return uint32(v), nil
}

// CTTimeoutNames names the timeouts, by layout.CtTo* index, as the file
// and `ct stats` spell them.
var CTTimeoutNames = [layout.NumCtTimeouts]string{
	layout.CtToSynSent:     "tcp-syn-sent",
	layout.CtToEstablished: "tcp-established",
	layout.CtToClosing:     "tcp-closing",
	layout.CtToClose:       "tcp-close",
	layout.CtToUdp:         "udp",
	layout.CtToUdpReplied:  "udp-replied",
	layout.CtToIcmp:        "icmp",
	layout.CtToGeneric:     "generic",
	layout.CtToFragment:    "fragment",
	layout.CtToSynRecv:     "tcp-syn-recv",
}

// CTTimeoutDefaults are the datapath's defaults (nftables'), in seconds.
var CTTimeoutDefaults = [layout.NumCtTimeouts]uint32{
	layout.CtToSynSent:     layout.CtDefSynSent,
	layout.CtToEstablished: layout.CtDefEstablished,
	layout.CtToClosing:     layout.CtDefClosing,
	layout.CtToClose:       layout.CtDefClose,
	layout.CtToUdp:         layout.CtDefUdp,
	layout.CtToUdpReplied:  layout.CtDefUdpReplied,
	layout.CtToIcmp:        layout.CtDefIcmp,
	layout.CtToGeneric:     layout.CtDefGeneric,
	layout.CtToFragment:    layout.CtDefFragment,
	layout.CtToSynRecv:     layout.CtDefSynRecv,
}

// maxCTTimeout bounds a timeout: a year, far past any use, and far from
// overflowing the datapath's nanoseconds.
const maxCTTimeout = 365 * 24 * 3600

// Timeout is timeout i in effect: the file's, or the default.
func (c Conntrack) Timeout(i int) time.Duration {
	s := c.Timeouts[i]
	if s == 0 {
		s = CTTimeoutDefaults[i]
	}
	return time.Duration(s) * time.Second
}

// ParseCTTimeout reads a timeout: whole seconds, or a number with s, m, h
// or d; at least a second, at most a year.
func ParseCTTimeout(s string) (uint32, error) {
	unit := uint64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 's':
			num = s[:n-1]
		case 'm':
			unit, num = 60, s[:n-1]
		case 'h':
			unit, num = 3600, s[:n-1]
		case 'd':
			unit, num = 86400, s[:n-1]
		}
	}
	v, err := strconv.ParseUint(num, 10, 32)
	if err != nil || v == 0 || v*unit > maxCTTimeout {
		return 0, fmt.Errorf("bad timeout %s (want 1s to 365d: seconds, or a number with s, m, h or d)", quoteShort(s))
	}
	return uint32(v * unit), nil
}

// formatCTTimeout is the shortest exact form ParseCTTimeout reads.
func formatCTTimeout(sec uint32) string {
	for _, u := range []struct {
		n      uint32
		suffix string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}} {
		if sec%u.n == 0 {
			return strconv.FormatUint(uint64(sec/u.n), 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(sec), 10) + "s"
}

// conntrack parses the file's conntrack: section.
func (p *fileParser) conntrack(f field) (Conntrack, error) {
	var c Conntrack
	if f.val.Kind != yaml.MappingNode {
		return c, p.errorf(f.val, "conntrack: want a mapping like {max-flows: 65536, timeouts: {udp: 30s}}, got %s", kindName(f.val))
	}
	fs, err := p.fields(f.val, "max-flows", "timeouts")
	if err != nil {
		return c, err
	}
	if mf, ok := fs["max-flows"]; ok {
		s, err := p.scalar("max-flows", mf)
		if err != nil {
			return c, err
		}
		if c.MaxFlows, err = ParseCTFlows(strings.TrimSpace(s)); err != nil {
			return c, p.errorf(mf.val, "%v", err)
		}
	}
	tf, ok := fs["timeouts"]
	if !ok {
		return c, nil
	}
	if tf.val.Kind != yaml.MappingNode {
		return c, p.errorf(tf.val, "timeouts: want a mapping like {udp: 30s}, got %s", kindName(tf.val))
	}
	ts, err := p.fields(tf.val, CTTimeoutNames[:]...)
	if err != nil {
		return c, err
	}
	for i, name := range CTTimeoutNames {
		vf, ok := ts[name]
		if !ok {
			continue
		}
		s, err := p.scalar(name, vf)
		if err != nil {
			return c, err
		}
		if c.Timeouts[i], err = ParseCTTimeout(strings.TrimSpace(s)); err != nil {
			return c, p.errorf(vf.val, "%s: %v", name, err)
		}
	}
	return c, nil
}

// conntrackNode writes the section, or nil when the size and every
// timeout are the defaults.
func conntrackNode(c Conntrack) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if c.MaxFlows != 0 {
		addPair(n, "max-flows", intNode(strconv.FormatUint(uint64(c.MaxFlows), 10)))
	}
	ts := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i, name := range CTTimeoutNames {
		if c.Timeouts[i] != 0 {
			addPair(ts, name, strNode(formatCTTimeout(c.Timeouts[i])))
		}
	}
	if len(ts.Content) != 0 {
		addPair(n, "timeouts", ts)
	}
	if len(n.Content) == 0 {
		return nil
	}
	return n
}
