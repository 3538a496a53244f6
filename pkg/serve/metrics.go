package serve

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// collector reads the live state at scrape time: every scrape opens the
// pin directory, reads the counters from the maps and closes it, so what
// Prometheus sees is what `xdpfw rule list` and `xdpfw stats` would show
// at that moment, and nothing is kept between scrapes.
type collector struct {
	dir    string
	reload *reloader
	log    *logger
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descRulePackets = desc("xdpfw_rule_packets_total", "Frames decided by each live rule (xdpfw rule list).", "id", "action", "comment")
	descRuleBytes   = desc("xdpfw_rule_bytes_total", "Bytes of the frames decided by each live rule.", "id", "action", "comment")
	verdictHelp     = "Frames by verdict (xdpfw stats): reason any is every frame passed or dropped; " +
		"of those, reason default is the frames no rule matched (verdict policy: whatever the policy was then), " +
		"malformed the frames dropped for bad headers, neighbor the ARP and neighbour discovery frames passed. " +
		"Per interface: xdpfw_interface_verdict_packets_total."
	descVerdictPackets = desc("xdpfw_verdict_packets_total", verdictHelp, "verdict", "reason")
	descVerdictBytes   = desc("xdpfw_verdict_bytes_total", "Bytes of the frames of xdpfw_verdict_packets_total.", "verdict", "reason")
	descIfacePackets   = desc("xdpfw_interface_verdict_packets_total", "xdpfw_verdict_packets_total of each attached interface, since it was attached (xdpfw stats). "+
		"Interfaces whose ifindexes are equal modulo 256 share their counters.", "interface", "verdict", "reason")
	descIfaceBytes = desc("xdpfw_interface_verdict_bytes_total", "Bytes of the frames of xdpfw_interface_verdict_packets_total.", "interface", "verdict", "reason")
	descRing       = desc("xdpfw_ring_records_total", "Records of the capture ring (since the last capture started) and of the log ring (rules with log: true): "+
		"taken, lost because the reader fell behind, or left out by the rate limit.", "ring", "result")
	descCTEntries  = desc("xdpfw_ct_entries", "Flows in the connection-tracking table (xdpfw ct stats).")
	descCTCapacity = desc("xdpfw_ct_capacity", "The most flows the connection-tracking table holds; when full, the flow seen least recently is evicted.")
	descCTFlows    = desc("xdpfw_ct_flows_total", "Flows by what happened to them: inserted (learned from a packet going out), expired (found timed out), "+
		"flushed (xdpfw ct flush), evicted (dropped by the full table).", "event")
	descCTPackets = desc("xdpfw_ct_packets_total", "Packets coming in by their connection-tracking state (counted while a rule has a ct-state condition, "+
		"and for DHCP replies a drop policy would drop).", "state")
	descCTEgress     = desc("xdpfw_ct_egress_packets_total", "Packets going out that the egress learner saw.")
	descRules        = desc("xdpfw_rules", "Live rules.")
	descRulesMax     = desc("xdpfw_rules_max", "The most rules a ruleset may hold.")
	descSets         = desc("xdpfw_sets", "Live address sets.")
	descSetsMax      = desc("xdpfw_sets_max", "The most address sets the state may hold.")
	descSetElements  = desc("xdpfw_set_elements", "Prefixes in each live address set.", "set", "family")
	descAttached     = desc("xdpfw_interface_attached", "1 for each interface xdpfw is attached to and running on, 0 when recorded but not running (gone, or replaced).", "interface", "mode")
	descPinned       = desc("xdpfw_state_pinned", "1 when the pin directory holds a state the scrape could read, else 0 (the other state metrics are then missing).")
	descReloadOK     = desc("xdpfw_config_reload_success", "1 when the last reload of the config file applied it, 0 when it was refused (the last good ruleset stays; the log says why).")
	descReloadError  = desc("xdpfw_config_reload_error_info", "1, labelled with why, while the last reload of the config file was refused; absent when it was applied.", "error")
	descReloadAt     = desc("xdpfw_config_last_reload_timestamp_seconds", "When the config file was last reloaded, good or bad (Unix time).")
	descReloadGoodAt = desc("xdpfw_config_last_reload_success_timestamp_seconds", "When the config file was last applied (Unix time; 0 before the first success).")
	descReloads      = desc("xdpfw_config_reloads_total", "Reloads of the config file by result.", "result")
)

// verdictLabels gives each StatNames counter its verdict and reason.
var verdictLabels = map[string][2]string{
	"pass":      {"pass", "any"},
	"drop":      {"drop", "any"},
	"default":   {"policy", "default"},
	"malformed": {"drop", "malformed"},
	"neighbor":  {"pass", "neighbor"},
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRulePackets, descRuleBytes, descVerdictPackets, descVerdictBytes, descIfacePackets, descIfaceBytes, descRing,
		descRules, descRulesMax, descSets, descSetsMax, descSetElements, descAttached, descPinned,
		descCTEntries, descCTCapacity, descCTFlows, descCTPackets, descCTEgress,
		descReloadOK, descReloadError, descReloadAt, descReloadGoodAt, descReloads} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.reload.current()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descReloadOK, b2f(st.ok))
	if st.err != "" {
		gauge(descReloadError, 1, st.err)
	}
	gauge(descReloadAt, unix(st.at))
	gauge(descReloadGoodAt, unix(st.goodAt))
	counter(descReloads, float64(st.successes), "success")
	counter(descReloads, float64(st.failures), "failure")

	snap, err := c.snapshot()
	if err != nil {
		gauge(descPinned, 0)
		if !errors.Is(err, loader.ErrNotAttached) {
			c.log.limited("scrape", "metrics: cannot read the live state", "dir", c.dir, "error", err)
		}
		return
	}
	gauge(descPinned, 1)
	for _, r := range snap.Rules {
		id := strconv.FormatUint(uint64(r.ID), 10)
		counter(descRulePackets, float64(r.Packets), id, r.Action, r.Comment)
		counter(descRuleBytes, float64(r.Bytes), id, r.Action, r.Comment)
	}
	for _, name := range loader.StatNames {
		l, v := verdictLabels[name], snap.Verdicts[name]
		counter(descVerdictPackets, float64(v.Packets), l[0], l[1])
		counter(descVerdictBytes, float64(v.Bytes), l[0], l[1])
	}
	for _, ic := range snap.Interfaces {
		for _, name := range loader.StatNames {
			l, v := verdictLabels[name], ic.Counters[name]
			counter(descIfacePackets, float64(v.Packets), ic.Iface, l[0], l[1])
			counter(descIfaceBytes, float64(v.Bytes), ic.Iface, l[0], l[1])
		}
	}
	for ring, rc := range map[string]loader.RingCounts{"capture": snap.Capture, "log": snap.Log} {
		counter(descRing, float64(rc.Taken), ring, "taken")
		counter(descRing, float64(rc.Lost), ring, "lost")
		counter(descRing, float64(rc.Limited), ring, "limited")
	}
	ct := snap.Conntrack
	gauge(descCTEntries, float64(ct.Entries))
	gauge(descCTCapacity, float64(ct.Capacity))
	for event, n := range map[string]uint64{"inserted": ct.Inserts, "expired": ct.Expired, "flushed": ct.Flushed, "evicted": ct.Evictions} {
		counter(descCTFlows, float64(n), event)
	}
	for state, n := range ct.States {
		counter(descCTPackets, float64(n), state)
	}
	counter(descCTEgress, float64(ct.Egress))
	gauge(descRules, float64(len(snap.Rules)))
	gauge(descRulesMax, loader.MaxRules)
	gauge(descSets, float64(len(snap.Sets)))
	gauge(descSetsMax, loader.MaxSets)
	for _, s := range snap.Sets {
		gauge(descSetElements, float64(s.Elements), s.Name, s.Family)
	}
	for _, a := range snap.Attachments {
		gauge(descAttached, b2f(a.Attached), a.Iface, string(a.Mode))
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
