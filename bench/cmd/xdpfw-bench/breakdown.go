package main

import (
	"fmt"
	"net/netip"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// breakdown measures xdpfw with rulesets that each exercise one part of
// the classifier, to show where the per-packet time goes.
func breakdown(cfg Config, tr workload.Traffic) (Section, error) {
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}) }
	cases := []struct {
		name  string
		rules []rules.Match
	}{
		{"no rules (parse, generation, counters)", nil},
		{"1 IPv4 source host (address buckets)", []rules.Match{{Src: netip.PrefixFrom(v4(1).Next(), 32)}}},
		{"1 IPv4 source /24 (address buckets)", []rules.Match{{Src: netip.PrefixFrom(v4(1), 24)}}},
		{"4096 IPv4 source /24s (address buckets)", nil},
		{"4096 rules on IPv4 source prefixes /16 to /23 (buckets for /20 to /23, then the LPM trie)", nil},
		{"1 destination port", []rules.Match{{Dport: rules.PortRange{Set: true, Lo: 443, Hi: 443}}}},
		{"1 protocol", []rules.Match{{Proto: rules.Proto{Set: true, Num: 17}}}},
	}
	for i := range 4096 {
		cases[3].rules = append(cases[3].rules, rules.Match{Src: netip.PrefixFrom(v4(i), 24)})
		// eight lengths: more than the buckets take (ADDR_HASH_LENS)
		p, _ := v4(i).Prefix(16 + i%8)
		cases[4].rules = append(cases[4].rules, rules.Match{Src: p})
	}
	empty, err := perf.EmptyProgram()
	if err != nil {
		return Section{}, err
	}
	defer empty.Close()
	subjects := []perf.Subject{{Name: "empty XDP program", Prog: empty}}
	for _, c := range cases {
		rs := &rules.Ruleset{Policy: rules.Pass}
		for i, m := range c.rules {
			rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Priority: 1000, Match: m, Action: rules.Drop})
		}
		t, err := loader.NewInstance(rs, false)
		if err != nil {
			return Section{}, fmt.Errorf("%s: %w", c.name, err)
		}
		defer t.Close()
		subjects = append(subjects, perf.Subject{Name: "xdpfw, " + c.name, Prog: t.Program()})
	}
	floor, err := perf.NewReadFloor(1)
	if err != nil {
		return Section{}, err
	}
	defer floor.Close()
	subjects = append(subjects, perf.Subject{Name: "one read of a one-line array (no xdpfw: the floor of any program that reads a map)", Prog: floor.Prog})
	counted, err := perf.NewFloor(perf.FloorSpec{Lines: 1, Count: true})
	if err != nil {
		return Section{}, err
	}
	defer counted.Close()
	subjects = append(subjects, perf.Subject{Name: "the same read, then one per-CPU counter written (no xdpfw: the floor of any program that reads its state and counts the frame)", Prog: counted.Prog})
	rep, one, err := measureBoth(cfg, subjects, tr.Frames)
	if err != nil {
		return Section{}, err
	}
	tab := Table{Header: []string{"program", fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "above the empty program",
		"ns/pkt, repeat 1 (BPF stats)", "above the empty program"}}
	for i := range subjects {
		tab.Rows = append(tab.Rows, []string{rep[i].Name, ns(rep[i].Median), ns(rep[i].Median - rep[0].Median),
			ns(one[i].Median), ns(one[i].Median - one[0].Median)})
	}
	// Row 1 is "no rules": parsing, the generation and the counters, what
	// every frame pays whatever the ruleset.
	fl, fc := len(subjects)-2, len(subjects)-1
	notes := []string{target("xdpfw, no rules / empty program (one run per frame)", one[1].Median/one[0].Median, "<=", 2),
		fmt.Sprintf("One run per frame, a program that reads one map value and nothing else costs %s ns, %s× the empty program: "+
			"the least any program that reads its state pays here (xdpfw with no rules reads three, asked for together, and parses the frame). "+
			"Counting the frame as well (one per-CPU counter, its packets and bytes, as xdpfw's status and metrics need of every frame) "+
			"costs %s ns, %s× the empty program, before any parsing; xdpfw with no rules is %s× that.",
			ns(one[fl].Median), ratio(one[fl].Median/one[0].Median), ns(one[fc].Median), ratio(one[fc].Median/one[0].Median),
			ratio(one[1].Median/one[fc].Median))}
	if info, err := subjects[1].Prog.Info(); err == nil {
		if n, ok := info.VerifiedInstructions(); ok {
			size, _ := info.TranslatedSize()
			notes = append(notes, fmt.Sprintf("xdpfw's program: %d instructions processed by the verifier, %d bytes translated; "+
				"tables whose flags say they are empty are skipped, so the rows differ by the lookups they make.", n, size))
		}
	}
	return Section{
		Title: "Where xdpfw's time goes",
		Method: "The same mix and method, with rulesets that each use one part of the classifier: what each lookup costs on " +
			"this machine. The /24s are 10.x.y.0/24, so every IPv4 frame of the mix (sources in 10.0.0.0/8) finds one; the prefixes of " +
			"eight lengths are those /24s cut to /16 to /23 in turn: the four longest lengths go to the address buckets, the rest " +
			"to the LPM trie, which a frame walks when no bucket probe hits.",
		Tables: []Table{tab},
		Notes:  notes,
	}, nil
}
