package main

import (
	"fmt"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// setPackets measures xdpfw with one rule naming a set of each size in
// cfg.SetSizes, on traffic spread over the largest set, beside the empty
// program: what a set's size costs a packet.
func setPackets(cfg Config, feed workload.Feed) (Section, error) {
	tr := feed.Traffic(cfg.Frames)
	empty, err := perf.EmptyProgram()
	if err != nil {
		return Section{}, err
	}
	defer empty.Close()
	subjects := []perf.Subject{{Name: "empty XDP program", Prog: empty}}
	var shares []float64
	for _, n := range cfg.SetSizes {
		rs := feed.Ruleset("feed", n)
		t, err := loader.NewInstance(rs, false)
		if err != nil {
			return Section{}, fmt.Errorf("xdpfw with a set of %d: %w", n, err)
		}
		defer t.Close()
		share, err := agreesWithModel(t, rs, tr.Frames)
		if err != nil {
			return Section{}, fmt.Errorf("xdpfw with a set of %d: %w", n, err)
		}
		subjects = append(subjects, perf.Subject{Name: fmt.Sprintf("xdpfw, set of %s", count(n)), Prog: t.Program()})
		shares = append(shares, share)
	}
	// About the 1M set's 18 MiB of buckets: what one frame's read of a
	// random line of that much memory costs, whatever reads it.
	floor, err := perf.NewReadFloor(1 << 18)
	if err != nil {
		return Section{}, err
	}
	defer floor.Close()
	subjects = append(subjects, perf.Subject{Name: floorName("16 MiB"), Prog: floor.Prog})
	rep, one, err := measureBoth(cfg, subjects, tr.Frames)
	if err != nil {
		return Section{}, err
	}
	tab := Table{Header: []string{"program", "frames dropped", fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "rounds min–max",
		"÷ empty", "÷ set of 1", "ns/pkt, repeat 1 (BPF stats)", "÷ empty", "÷ set of 1"}}
	for i := range subjects {
		r, o := rep[i], one[i]
		row := []string{r.Name, "", ns(r.Median), spread(r.Min, r.Max, r.Median), ratio(r.Ratio), "", ns(o.Median), ratio(o.Ratio), ""}
		if i > 0 && i <= len(shares) {
			row[1] = fmt.Sprintf("%.0f%%", 100*shares[i-1])
			row[5] = ratio(r.Median / rep[1].Median)
			row[8] = ratio(o.Median / one[1].Median)
		}
		tab.Rows = append(tab.Rows, row)
	}
	last, fl := len(subjects)-2, len(subjects)-1
	s := Section{
		Title: "Per-packet cost against the size of a set",
		Method: fmt.Sprintf("One rule drops sources in a named set (`--src @feed`), policy pass. The set is the first N entries of a "+
			"%s-entry feed drawn at random from the whole unicast space like a threat feed (half IPv4 /24s, 40%% IPv4 hosts, "+
			"10%% IPv6 /64s and hosts, none inside another), so every size is spread over the space as the largest is. "+
			"The hosts and prefixes go to the set's bucket arrays, one per family (one cache line a probe). The traffic is the same for every size: %d frames, each a flow "+
			"of its own, half with a source inside a random entry of the largest set, half with a random unicast source; protocols, "+
			"destinations and sizes as in the mix above. Before timing, every frame's verdict was checked against the reference model "+
			"for every size. Same method as above (attached programs, interleaved rounds, both timings).",
			count(cfg.SetSizes[len(cfg.SetSizes)-1]), len(tr.Frames)),
		Tables: []Table{tab},
	}
	switch {
	case last >= 2 && cfg.SetSizes[0] == 1 && cfg.SetSizes[last-1] == 1_000_000:
		s.Notes = append(s.Notes,
			target("xdpfw, set of 1M / set of 1 (repeat method)", rep[last].Median/rep[1].Median, "<=", 1.5),
			target("xdpfw, set of 1M / set of 1 (one run per frame)", one[last].Median/one[1].Median, "<=", 1.5),
			floorNote("16 MiB", "a set of 1", one[1].Median, one[fl].Median-one[0].Median, one[last].Median, 1.5))
	case last >= 2: // a smaller run: the same ratios, not the target's sizes
		s.Notes = append(s.Notes, fmt.Sprintf("Set of %s / set of %s: %s (repeat method), %s (one run per frame).",
			count(cfg.SetSizes[last-1]), count(cfg.SetSizes[0]),
			ratio(rep[last].Median/rep[1].Median), ratio(one[last].Median/one[1].Median)))
	}
	return s, nil
}

// agreesWithModel runs every frame through t and compares its verdict
// with the reference model's; it returns the share of frames a rule
// decided.
func agreesWithModel(t *loader.Instance, rs *rules.Ruleset, frames [][]byte) (float64, error) {
	sorted := rules.Sorted(rs.Rules)
	decided := 0
	for i, f := range frames {
		got, err := t.Run(f)
		if err != nil {
			return 0, err
		}
		p := model.Decode(f)
		want := model.EvaluateDecoded(rs, sorted, &p)
		if got.Action != want.Action {
			return 0, fmt.Errorf("frame %d: datapath %s, reference model %s", i, got.Action, want.Action)
		}
		if want.Reason == model.ReasonRule {
			decided++
		}
	}
	return float64(decided) / float64(len(frames)), nil
}

// count writes 10000 as 10k and 1000000 as 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
