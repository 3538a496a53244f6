package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

func mustRuleset(t testing.TB, yaml string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.ParseYAML("test.yaml", []byte(yaml), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestDatapath sends frames through the real program and checks each
// verdict, matched rule and the counters against expectations written
// here, and against the reference model.
func TestDatapath(t *testing.T) {
	privtest.Require(t)
	type frame struct {
		name   string
		data   []byte
		action rules.Action
		reason model.Reason
		rule   uint32
	}
	const (
		P = rules.Pass
		D = rules.Drop
	)
	rule, def, mal, nbr := model.ReasonRule, model.ReasonDefault, model.ReasonMalformed, model.ReasonNeighbor
	cases := []struct {
		name   string
		rules  string
		frames []frame
		counts map[uint32]uint64 // packets per rule id
	}{
		{
			name:  "empty ruleset passes everything",
			rules: "policy: pass\nrules: []\n",
			frames: []frame{
				{"udp", fixtures.UDP("10.0.0.1", "192.0.2.1", 1000, 53), P, def, 0},
				{"tcp6", fixtures.TCPSyn("2001:db8::1", "2001:db8::2", 1000, 22), P, def, 0},
				{"arp", fixtures.ARP(), P, nbr, 0},
				{"runt ip", fixtures.UDP("10.0.0.1", "192.0.2.1", 1, 2)[:20], D, mal, 0},
			},
		},
		{
			name: "prefixes, hosts, ports and priorities",
			rules: `policy: pass
rules:
  - {priority: 10, src: 10.1.2.3, proto: tcp, dport: 22, action: pass}
  - {priority: 20, src: 10.0.0.0/8, proto: tcp, dport: 22, action: drop}
  - {priority: 30, dst: 192.0.2.0/24, proto: udp, dport: 1000-2000, action: drop}
  - {priority: 30, src: 2001:db8::/32, action: drop}
  - {priority: 40, src: 2001:db8:1::5, action: pass}
`,
			frames: []frame{
				{"host beats its prefix by priority", fixtures.TCPSyn("10.1.2.3", "192.0.2.1", 5555, 22), P, rule, 1},
				{"prefix drop", fixtures.TCPSyn("10.9.9.9", "192.0.2.1", 5555, 22), D, rule, 2},
				{"other port", fixtures.TCPSyn("10.9.9.9", "192.0.2.1", 5555, 23), P, def, 0},
				{"outside prefix", fixtures.TCPSyn("11.0.0.1", "192.0.2.1", 5555, 22), P, def, 0},
				{"range low end", fixtures.UDP("8.8.8.8", "192.0.2.200", 53, 1000), D, rule, 3},
				{"range high end", fixtures.UDP("8.8.8.8", "192.0.2.200", 53, 2000), D, rule, 3},
				{"past range", fixtures.UDP("8.8.8.8", "192.0.2.200", 53, 2001), P, def, 0},
				{"tcp not udp", fixtures.TCPSyn("8.8.8.8", "192.0.2.200", 53, 1500), P, def, 0},
				{"v6 prefix", fixtures.UDP("2001:db8:ffff::9", "fd00::1", 1, 2), D, rule, 4},
				{"v6 host shadowed by earlier prefix", fixtures.UDP("2001:db8:1::5", "fd00::1", 1, 2), D, rule, 4},
				{"v6 outside", fixtures.UDP("2001:db9::1", "fd00::1", 1, 2), P, def, 0},
				{"v4 rule never matches v6 with the same leading bytes", fixtures.TCPSyn("a01:203::", "fd00::1", 5555, 22), P, def, 0},
			},
			counts: map[uint32]uint64{1: 1, 2: 1, 3: 2, 4: 2, 5: 0},
		},
		{
			name: "drop policy keeps neighbours",
			rules: `policy: drop
rules:
  - {proto: udp, dport: 53, action: pass}
  - {src: fd00::/8, proto: icmpv6, action: drop}
`,
			frames: []frame{
				{"allowed", fixtures.UDP("10.0.0.1", "10.0.0.2", 999, 53), P, rule, 1},
				{"default drop", fixtures.UDP("10.0.0.1", "10.0.0.2", 999, 54), D, def, 0},
				{"arp", fixtures.ARP(), P, nbr, 0},
				{"nd from elsewhere", fixtures.ICMPv6("fe80::1", "ff02::1:ff00:2", 135), P, nbr, 0},
				{"nd named by rule 2", fixtures.ICMPv6("fd00::1", "ff02::1:ff00:2", 135), D, rule, 2},
				{"echo is not nd", fixtures.ICMPv6("fe80::1", "fe80::2", 128), D, def, 0},
			},
			counts: map[uint32]uint64{1: 1, 2: 1},
		},
		{
			name: "ports without protocol match tcp and udp only",
			rules: `policy: pass
rules:
  - {sport: 7, action: drop}
`,
			frames: []frame{
				{"udp", fixtures.UDP("1.1.1.1", "2.2.2.2", 7, 9), D, rule, 1},
				{"tcp6", fixtures.TCPSyn("2001:db8::1", "2001:db8::2", 7, 9), D, rule, 1},
				{"icmp", fixtures.Echo("1.1.1.1", "2.2.2.2"), P, def, 0},
			},
		},
		{
			name: "match-all rule",
			rules: `policy: pass
rules:
  - {action: drop}
`,
			frames: []frame{
				{"ip", fixtures.UDP("1.1.1.1", "2.2.2.2", 7, 9), D, rule, 1},
				{"arp still passes", fixtures.ARP(), P, nbr, 0},
				{"nd still passes", fixtures.ICMPv6("fe80::1", "ff02::1", 135), P, nbr, 0},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := mustRuleset(t, tc.rules)
			tr, err := NewInstance(rs, true)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, f := range tc.frames {
				got, err := tr.Run(f.data)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				want := model.Verdict{Action: f.action, Reason: f.reason, RuleID: f.rule}
				if got != want {
					t.Errorf("%s: datapath %+v, want %+v", f.name, got, want)
				}
				if ref := model.Evaluate(rs, f.data); ref != want {
					t.Errorf("%s: reference model %+v, want %+v", f.name, ref, want)
				}
			}
			counters, err := tr.RuleCounters()
			if err != nil {
				t.Fatal(err)
			}
			for id, n := range tc.counts {
				if counters[id].Packets != n {
					t.Errorf("rule %d counted %d packets, want %d", id, counters[id].Packets, n)
				}
			}
		})
	}
}

// TestLayoutMatchesObject checks what the loader assumes about the
// object beyond the generated constants: how it indexes the maps (the
// formulas of xdpfw.c it repeats) against their sizes, and the value
// sizes it writes.
func TestLayoutMatchesObject(t *testing.T) {
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{
		xdpfwMapVectors:      vecEntriesMin,
		xdpfwMapRanks:        numGens * rules.MaxRules,
		xdpfwMapValueAtoms:   numGens * chunksCommon,
		xdpfwMapIfaceAtoms:   numGens * (classifier.IfaceAtoms - 1),
		xdpfwMapRuleStats:    rules.MaxRules,
		xdpfwMapRankStats:    numGens * rules.MaxRules, // rankCounter
		xdpfwMapRuleDefs:     numGens * rules.MaxRules,
		xdpfwMapRuleDefsLong: numGens * rules.MaxRules,
		xdpfwMapVerdictStats: uint32(len(StatNames)),
	}
	for name, n := range want {
		if got := spec.Maps[name].MaxEntries; got != n {
			t.Errorf("map %s has %d entries in the object, Go expects %d", name, got, n)
		}
	}
	if got, want := spec.Maps[xdpfwMapVectors].ValueSize, vecValueSize(vecWordsMin); got != want {
		t.Errorf("a vector is %d bytes in the object, Go writes %d", got, want)
	}
	if words := vecWordsFor(rules.MaxRules); int(words) != len(classifier.BitVec{}) {
		t.Errorf("a vector of %d rules holds %d words, the classifier gives %d", rules.MaxRules, words, len(classifier.BitVec{}))
	}
	if got, want := spec.Maps[xdpfwMapRuleDefsLong].ValueSize, uint32(4+maxRuleDefBytes); got != want {
		t.Errorf("rule_def is %d bytes in the object, Go expects %d", got, want)
	}
	if got, want := spec.Maps[xdpfwMapRuleDefs].ValueSize, uint32(4+layout.RuleDefShortBytes); got != want {
		t.Errorf("rule_def_short is %d bytes in the object, Go expects %d", got, want)
	}
}
