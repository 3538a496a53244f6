package main

import (
	"fmt"
	"time"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// conntrack measures what connection tracking costs a packet: the mix's
// frames coming in as replies to flows the host started, through a
// ruleset whose first rule passes established traffic, beside the same
// one-rule ruleset without it; and the egress learner on the frames going
// out, beside an empty TC program.
func conntrack(cfg Config, tr workload.Traffic) (Section, error) {
	// The host's side of every flow: the frame it sent, which the
	// egress program learns the flow from.
	out := make([][]byte, len(tr.Flows))
	for i, f := range tr.Flows {
		out[i] = fixtures.MixFrame(fixtures.MixFlow{Src: f.Dst, Dst: f.Src, Proto: f.Proto, Sport: f.Dport, Dport: f.Sport}, 0, 0)
	}
	one := tr.ScaleRuleset(1)
	stateful := tr.ScaleRuleset(1)
	stateful.Rules = append(stateful.Rules, rules.Rule{ID: 2, Priority: 0,
		Match: rules.Match{CTState: rules.CTEstablished}, Action: rules.Pass})
	// No flow may time out while it is measured.
	for i := range stateful.Conntrack.Timeouts {
		stateful.Conntrack.Timeouts[i] = 86400
	}

	empty, err := perf.EmptyProgram()
	if err != nil {
		return Section{}, err
	}
	defer empty.Close()
	plain, err := loader.NewInstance(one, false)
	if err != nil {
		return Section{}, err
	}
	defer plain.Close()
	ct, err := loader.NewInstance(stateful, false)
	if err != nil {
		return Section{}, err
	}
	defer ct.Close()
	for i, f := range out {
		if err := ct.RunEgress(f); err != nil {
			return Section{}, fmt.Errorf("learn flow %d: %w", i, err)
		}
	}
	established := establishedShare(out, tr.Frames, stateful)

	// About the table's bucket array: the kernel's hash of 262,144 flows
	// has as many 16-byte buckets, 4 MiB.
	floor, err := perf.NewReadFloor(1 << 16)
	if err != nil {
		return Section{}, err
	}
	defer floor.Close()
	rep, cold, err := measureBoth(cfg, []perf.Subject{
		{Name: "empty XDP program", Prog: empty},
		{Name: "xdpfw, 1 rule", Prog: plain.Program()},
		{Name: "xdpfw, ct-state established first, then the same rule", Prog: ct.Program()},
		{Name: floorName("4 MiB"), Prog: floor.Prog},
	}, tr.Frames)
	if err != nil {
		return Section{}, err
	}
	in := Table{Header: []string{"program", fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "÷ empty", "÷ 1 rule",
		"ns/pkt, repeat 1 (BPF stats)", "÷ empty", "÷ 1 rule"}}
	for i := range rep {
		row := []string{rep[i].Name, ns(rep[i].Median), ratio(rep[i].Ratio), ratio(rep[i].Median / rep[1].Median),
			ns(cold[i].Median), ratio(cold[i].Ratio), ratio(cold[i].Median / cold[1].Median)}
		if i == len(rep)-1 { // the floor is no ruleset
			row[3], row[6] = "", ""
		}
		in.Rows = append(in.Rows, row)
	}

	emptyTC, err := perf.EmptyTCProgram()
	if err != nil {
		return Section{}, err
	}
	defer emptyTC.Close()
	egRep, egCold, err := measureBoth(cfg, []perf.Subject{
		{Name: "empty TC program", Prog: emptyTC},
		{Name: "xdpfw egress learner", Prog: ct.EgressProgram()},
	}, out)
	if err != nil {
		return Section{}, err
	}
	eg := Table{Header: []string{"program", fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "÷ empty",
		"ns/pkt, repeat 1 (BPF stats)", "÷ empty", "above empty"}}
	for i := range egRep {
		eg.Rows = append(eg.Rows, []string{egRep[i].Name, ns(egRep[i].Median), ratio(egRep[i].Ratio),
			ns(egCold[i].Median), ratio(egCold[i].Ratio), ns(egCold[i].Median - egCold[0].Median)})
	}
	return Section{
		Title: "Connection tracking, per packet",
		Method: fmt.Sprintf("The mix's %d flows were first sent out through the egress learner (one frame each, the host's side of the flow), "+
			"so the mix's frames come in as their replies: %.0f%% of them established by the reference model (the rest are ICMP echo "+
			"requests, new). The stateful ruleset is the one-rule ruleset of the scale curve behind a first rule `ct-state established "+
			"pass`, with timeouts of a day so no flow expires while it is measured; its table holds the %d flows. Both methods and the "+
			"rounds are the scale curve's. The egress learner runs on the frames going out, every flow already learned (the steady "+
			"state: a lookup and a refresh), as a TC program under BPF_PROG_TEST_RUN beside one that only returns.",
			len(tr.Flows), 100*established, len(tr.Flows)),
		Tables: []Table{in, eg},
		Notes: []string{
			target("ct-state established first ÷ 1 rule, one run per frame (cold)", cold[2].Median/cold[1].Median, "<=", 1.3),
			floorNote("4 MiB (the table's buckets)", "1 rule", cold[1].Median, cold[3].Median-cold[0].Median, cold[2].Median, 1.3),
			fmt.Sprintf("The table holds at most %d flows; what it costs in memory is in the memory section.", layout.CtEntries),
		},
	}, nil
}

// establishedShare is the share of frames coming in that the model calls
// established once the host has sent out.
func establishedShare(out, in [][]byte, rs *rules.Ruleset) float64 {
	t := model.NewTracker(model.CTConfigOf(rs))
	for _, f := range out {
		p := model.Decode(f)
		t.Egress(&p, f, 0)
	}
	n := 0
	for _, f := range in {
		p := model.Decode(f)
		if t.Ingress(&p, f, time.Second) == model.CTEstablished {
			n++
		}
	}
	return float64(n) / float64(len(in))
}
