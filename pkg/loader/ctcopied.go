package loader

import (
	"bytes"
	"cmp"
	"sort"
	"time"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ctCopied is the flows a resize copied into its new table (newCTTable)
// while the old one went on serving, so the resize can tell which of
// them the old table dropped before the interfaces left it. A full
// table under load drops its least recent flows for every one it
// learns; those the copy holds were not lost, and counted as placed
// they made evictions exceed inserts (30,976 evicted of 30,000 learnt).
type ctCopied struct {
	keys []xdpfwCtKey
	vals []xdpfwCtVal
	held []bool // by index: the old table still holds it at the end
}

func (c *ctCopied) Len() int           { return len(c.keys) }
func (c *ctCopied) Less(i, j int) bool { return cmpCTKey(&c.keys[i], &c.keys[j]) < 0 }
func (c *ctCopied) Swap(i, j int) {
	c.keys[i], c.keys[j] = c.keys[j], c.keys[i]
	c.vals[i], c.vals[j] = c.vals[j], c.vals[i]
}

func cmpCTKey(a, b *xdpfwCtKey) int {
	return cmp.Or(cmp.Compare(a.Family, b.Family), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Pad, b.Pad),
		cmp.Compare(a.Lport, b.Lport), cmp.Compare(a.Rport, b.Rport),
		bytes.Compare(a.Local[:], b.Local[:]), bytes.Compare(a.Remote[:], b.Remote[:]))
}

// byKey sorts the copy by key for stillHeld (sorted rather than put in
// a map: a table of 16M flows is already 1 GiB of copy).
func (c *ctCopied) byKey() {
	sort.Sort(c)
	c.held = make([]bool, len(c.keys))
}

// stillHeld records that the old table holds k at the end.
func (c *ctCopied) stillHeld(k *xdpfwCtKey) {
	i := sort.Search(len(c.keys), func(i int) bool { return cmpCTKey(&c.keys[i], k) >= 0 })
	if i < len(c.keys) && c.keys[i] == *k {
		c.held[i] = true
	}
}

// evicted is how many copied flows the old table no longer holds though
// they were live at now by the timeouts ct gives: the datapath takes a
// flow out only when it finds it timed out (then counted expired, and
// its copy is counted placed, to be expired again in the new table), so
// a live one gone was evicted, its copy in the new table (or, dropped
// there too, counted evicted by that table, once).
func (c *ctCopied) evicted(now time.Duration, ct rules.Conntrack) int {
	n := 0
	for i := range c.keys {
		if !c.held[i] && now-time.Duration(c.vals[i].LastSeen) <= flowTimeoutOf(&c.vals[i], ct) {
			n++
		}
	}
	return n
}

// flowTimeoutOf is how long v's flow lives unseen, as the datapath's
// ct_flow_timeout gives it: an established flow nothing answered (picked
// up mid-stream) is timed by the shorter of a SYN's and established.
func flowTimeoutOf(v *xdpfwCtVal, ct rules.Conntrack) time.Duration {
	timeout := ct.Timeout(flowTimeout(v))
	if v.Kind == layout.CtKindTcp && v.Tcp == layout.CtTcpEstablished && v.Replied == 0 {
		timeout = min(timeout, ct.Timeout(layout.CtToSynSent))
	}
	return timeout
}
