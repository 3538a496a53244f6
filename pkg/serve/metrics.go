package serve

import (
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// collector reads the live state at scrape time: every scrape opens the
// pin directory, reads the counters from the maps and closes it, so what
// Prometheus sees is what `xdpfw rule list` and `xdpfw stats` would show
// at that moment, and nothing is kept between scrapes but the evicted
// flows' most (evictions).
//
// Scrapes take turns (turn): each read holds the pin directory's lock,
// and one waiting for it in flock holds a thread. A burst of scrapes on a
// state a long apply has locked took a thread apiece (the runtime dies at
// 10000) and crowded the lock the reload and the CLI wait for; waiting
// here costs a goroutine until its client goes (a scrape timeout): one
// that waited until the lock was free kept a goroutine and a descriptor
// apiece for as long as it was held (an apply stopped with ^Z).
type collector struct {
	dir    string
	reload *reloader
	log    *logger
	// turn holds a token while a scrape reads (made at the first).
	turn     chan struct{}
	turnOnce sync.Once
	// evicted is the most evicted flows a scrape of this state gave, and
	// the inserts it read then: the one count kept between scrapes
	// (evictions).
	evicted struct{ most, inserts uint64 }
}

var (
	metricRulePackets = counterOf("xdpfw_rule_packets_total", "Frames decided by each live rule (xdpfw rule list).", "id", "action", "comment")
	metricRuleBytes   = counterOf("xdpfw_rule_bytes_total", "Bytes of the frames decided by each live rule.", "id", "action", "comment")
	verdictHelp       = "Frames by verdict (xdpfw stats): reason any is every frame passed or dropped; " +
		"of those, reason default is the frames no rule matched (verdict policy: whatever the policy was then), " +
		"malformed the frames dropped for bad headers, neighbor the ARP and neighbour discovery frames passed, and the DHCP replies to this host's requests a drop policy would have dropped. " +
		"Per interface: xdpfw_interface_verdict_packets_total."
	metricVerdictPackets = counterOf("xdpfw_verdict_packets_total", verdictHelp, "verdict", "reason")
	metricVerdictBytes   = counterOf("xdpfw_verdict_bytes_total", "Bytes of the frames of xdpfw_verdict_packets_total.", "verdict", "reason")
	// The interface metrics are labelled with the ifindex as well as the
	// name: xdpfw keeps an attachment by ifindex, and one whose interface
	// is gone keeps its recorded name, which a new interface (a veth or a
	// VLAN made again) may hold too; by name alone the two would be one
	// series given twice, which Prometheus keeps one of, either.
	metricIfacePackets = counterOf("xdpfw_interface_verdict_packets_total", "xdpfw_verdict_packets_total of each attached interface, since it was attached (xdpfw stats). "+
		"Interfaces whose ifindexes are equal modulo 256 share their counters.", "interface", "ifindex", "verdict", "reason")
	metricIfaceBytes = counterOf("xdpfw_interface_verdict_bytes_total", "Bytes of the frames of xdpfw_interface_verdict_packets_total.", "interface", "ifindex", "verdict", "reason")
	metricRing       = counterOf("xdpfw_ring_records_total", "Records of the capture ring (since the last capture started) and of the log ring (rules with log: true): "+
		"taken, lost because the ring was full (its records not yet read left no room for the frame's), or left out by the rate limit.", "ring", "result")
	metricCTEntries  = gaugeOf("xdpfw_ct_entries", "Flows in the connection-tracking table (xdpfw ct stats).")
	metricCTCapacity = gaugeOf("xdpfw_ct_capacity", "The most flows the connection-tracking table holds; when full, the flow seen least recently is evicted.")
	metricCTIdle     = gaugeOf("xdpfw_ct_idle", "1 while the connection-tracking table is idle: no rule and no drop policy reads it and the ruleset sets no max-flows, "+
		"so it holds the most recent flows only, until a change that reads it makes it whole; else 0.")
	metricCTFlows = counterOf("xdpfw_ct_flows_total", "Flows by what happened to them: inserted (learned from a packet going out), expired (found timed out), "+
		"flushed (xdpfw ct flush), evicted (dropped by the full table).", "event")
	metricCTPackets = counterOf("xdpfw_ct_packets_total", "Packets coming in by their connection-tracking state (counted while a rule has a ct-state condition, "+
		"and for DHCP replies a drop policy would drop).", "state")
	metricCTEgress    = counterOf("xdpfw_ct_egress_packets_total", "Packets going out that the egress learner saw.")
	metricRules       = gaugeOf("xdpfw_rules", "Live rules.")
	metricRulesMax    = gaugeOf("xdpfw_rules_max", "The most rules a ruleset may hold.")
	metricSets        = gaugeOf("xdpfw_sets", "Live address sets.")
	metricSetsMax     = gaugeOf("xdpfw_sets_max", "The most address sets the state may hold.")
	metricSetElements = gaugeOf("xdpfw_set_elements", "Prefixes in each live address set.", "set", "family")
	metricAttached    = gaugeOf("xdpfw_interface_attached", "1 for each interface xdpfw is attached to and running on, 0 when recorded but not running (gone, or replaced); "+
		"a gone interface keeps its name, which another may hold now: the ifindex tells them apart.", "interface", "ifindex", "mode")
	metricPinned       = gaugeOf("xdpfw_state_pinned", "1 when the pin directory holds a state the scrape could read, else 0 (the other state metrics are then missing).")
	metricReloadOK     = gaugeOf("xdpfw_config_reload_success", "1 when the last reload of the config file applied it, 0 when it was refused (the last good ruleset stays; the log says why).")
	metricReloadError  = gaugeOf("xdpfw_config_reload_error_info", "1, labelled with why, while the last reload of the config file was refused; absent when it was applied.", "error")
	metricReloadAt     = gaugeOf("xdpfw_config_last_reload_timestamp_seconds", "When the config file was last reloaded, good or bad (Unix time).")
	metricReloadGoodAt = gaugeOf("xdpfw_config_last_reload_success_timestamp_seconds", "When the config file was last applied (Unix time; 0 before the first success).")
	metricReloads      = counterOf("xdpfw_config_reloads_total", "Reloads of the config file by result.", "result")
)

// verdictLabels gives each StatNames counter its verdict and reason.
var verdictLabels = map[string][2]string{
	"pass":      {"pass", "any"},
	"drop":      {"drop", "any"},
	"default":   {"policy", "default"},
	"malformed": {"drop", "malformed"},
	"neighbor":  {"pass", "neighbor"},
}

// collect is one scrape's samples, taken in turn.
func (c *collector) collect() *exposition {
	e := &exposition{}
	st := c.reload.current()
	e.add(metricReloadOK, b2f(st.ok))
	if st.err != "" {
		e.add(metricReloadError, 1, st.err)
	}
	e.add(metricReloadAt, unix(st.at))
	e.add(metricReloadGoodAt, unix(st.goodAt))
	e.add(metricReloads, float64(st.successes), "success")
	e.add(metricReloads, float64(st.failures), "failure")

	snap, err := c.snapshot()
	if err != nil {
		e.add(metricPinned, 0)
		c.evicted.most, c.evicted.inserts = 0, 0
		if !errors.Is(err, loader.ErrNotAttached) {
			c.log.limited("scrape", "metrics: cannot read the live state", "dir", c.dir, "error", err)
		}
		return e
	}
	e.add(metricPinned, 1)
	for _, r := range snap.Rules {
		id := strconv.FormatUint(uint64(r.ID), 10)
		e.add(metricRulePackets, float64(r.Packets), id, r.Action, r.Comment)
		e.add(metricRuleBytes, float64(r.Bytes), id, r.Action, r.Comment)
	}
	for _, name := range loader.StatNames {
		l, v := verdictLabels[name], snap.Verdicts[name]
		e.add(metricVerdictPackets, float64(v.Packets), l[0], l[1])
		e.add(metricVerdictBytes, float64(v.Bytes), l[0], l[1])
	}
	for _, ic := range snap.Interfaces {
		ifindex := strconv.Itoa(ic.Ifindex)
		for _, name := range loader.StatNames {
			l, v := verdictLabels[name], ic.Counters[name]
			e.add(metricIfacePackets, float64(v.Packets), ic.Iface, ifindex, l[0], l[1])
			e.add(metricIfaceBytes, float64(v.Bytes), ic.Iface, ifindex, l[0], l[1])
		}
	}
	for ring, rc := range map[string]loader.RingCounts{"capture": snap.Capture, "log": snap.Log} {
		e.add(metricRing, float64(rc.Taken), ring, "taken")
		e.add(metricRing, float64(rc.Lost), ring, "lost")
		e.add(metricRing, float64(rc.Limited), ring, "limited")
	}
	ct := snap.Conntrack
	e.add(metricCTEntries, float64(ct.Entries))
	e.add(metricCTCapacity, float64(ct.Capacity))
	e.add(metricCTIdle, b2f(ct.Idle))
	for event, n := range map[string]uint64{"inserted": ct.Inserts, "expired": ct.Expired, "flushed": ct.Flushed, "evicted": c.evictions(ct)} {
		e.add(metricCTFlows, float64(n), event)
	}
	for state, n := range ct.States {
		e.add(metricCTPackets, float64(n), state)
	}
	e.add(metricCTEgress, float64(ct.Egress))
	e.add(metricRules, float64(len(snap.Rules)))
	e.add(metricRulesMax, loader.MaxRules)
	e.add(metricSets, float64(len(snap.Sets)))
	e.add(metricSetsMax, loader.MaxSets)
	for _, s := range snap.Sets {
		e.add(metricSetElements, float64(s.Elements), s.Name, s.Family)
	}
	for _, a := range snap.Attachments {
		e.add(metricAttached, b2f(a.Attached), a.Iface, strconv.Itoa(a.Ifindex), string(a.Mode))
	}
	return e
}

// evictions is ct's evicted flows, never fewer than a scrape before gave.
// They are worked out, not counted: the flows inserted less those the
// table holds, expired or flushed, the table counted after the counters
// were read while the datapath goes on inserting. A flow inserted in
// between is in the table and not in the inserts, so a scrape could say
// fewer evictions than the one before, which Prometheus takes for a
// counter reset (increase() counting every eviction again). Inserts
// fewer than a scrape before read are a state made again: its count
// starts afresh.
func (c *collector) evictions(ct loader.CTStats) uint64 {
	if ct.Inserts < c.evicted.inserts {
		c.evicted.most = 0
	}
	c.evicted.most, c.evicted.inserts = max(c.evicted.most, ct.Evictions), ct.Inserts
	return c.evicted.most
}

// ServeHTTP answers a scrape, in turn, or nothing once its client has
// gone.
func (c *collector) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	c.turnOnce.Do(func() { c.turn = make(chan struct{}, 1) })
	select {
	case c.turn <- struct{}{}:
	case <-req.Context().Done():
		return
	}
	if req.Context().Err() != nil {
		<-c.turn
		return
	}
	e := c.collect()
	<-c.turn
	w.Header().Set("Content-Type", contentType)
	if err := e.writeTo(w); err != nil {
		c.log.limited("scrape-write", "metrics: write the answer", "error", err)
	}
}

func (c *collector) snapshot() (loader.Snapshot, error) {
	s, err := loader.Open(c.dir)
	if err != nil {
		return loader.Snapshot{}, err
	}
	defer s.Close()
	return s.Snapshot()
}
