package main

import (
	"fmt"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// scalePoint is xdpfw's cost at one rule count, for the plot.
type scalePoint struct {
	Rules               int
	Ns, Min, Max        float64 // repeat method
	StatsNs             float64 // one run per frame, BPF statistics
	EmptyNs, EmptyStats float64
}

// perPacket measures xdpfw at each rule count beside the empty program,
// by both methods, in one run.
func perPacket(cfg Config, tr workload.Traffic) (Section, []scalePoint, error) {
	empty, err := perf.EmptyProgram()
	if err != nil {
		return Section{}, nil, err
	}
	defer empty.Close()
	subjects := []perf.Subject{{Name: "empty XDP program", Prog: empty}}
	shares := []float64{0}
	for _, n := range cfg.Scales {
		rs := tr.ScaleRuleset(n)
		t, err := loader.NewInstance(rs, false)
		if err != nil {
			return Section{}, nil, fmt.Errorf("xdpfw with %d rules: %w", n, err)
		}
		defer t.Close()
		subjects = append(subjects, perf.Subject{Name: fmt.Sprintf("xdpfw, %d rule%s", n, plural(n)), Prog: t.Program()})
		shares = append(shares, tr.MatchedShare(rs))
	}
	// About the 4096-rule ruleset's 4.6 MiB of vectors.
	floor, err := perf.NewReadFloor(1 << 16)
	if err != nil {
		return Section{}, nil, err
	}
	defer floor.Close()
	subjects = append(subjects, perf.Subject{Name: floorName("4 MiB"), Prog: floor.Prog})
	rep, one, err := measureBoth(cfg, subjects, tr.Frames)
	if err != nil {
		return Section{}, nil, err
	}

	tab := Table{Header: []string{"program", "frames a rule decides",
		fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "rounds min–max", "÷ empty", "÷ xdpfw@1 rule",
		"ns/pkt, repeat 1 (BPF stats)", "÷ empty", "÷ xdpfw@1 rule"}}
	var points []scalePoint
	for i := range subjects {
		r, o := rep[i], one[i]
		row := []string{r.Name, "", ns(r.Median), spread(r.Min, r.Max, r.Median), ratio(r.Ratio), "", ns(o.Median), ratio(o.Ratio), ""}
		if i > 0 && i < len(shares) {
			row[1] = fmt.Sprintf("%.0f%%", 100*shares[i])
			row[5] = ratio(r.Median / rep[1].Median)
			row[8] = ratio(o.Median / one[1].Median)
			points = append(points, scalePoint{Rules: cfg.Scales[i-1], Ns: r.Median, Min: r.Min, Max: r.Max,
				StatsNs: o.Median, EmptyNs: rep[0].Median, EmptyStats: one[0].Median})
		}
		tab.Rows = append(tab.Rows, row)
	}
	last, fl := len(subjects)-2, len(subjects)-1
	lo, hi := tr.SizeRange()
	s := Section{
		Title: "Per-packet cost from 1 to 4096 rules",
		Method: fmt.Sprintf("%d frames over %d flows (70%% IPv4; 60%% TCP, 30%% UDP, 10%% ICMP/ICMPv6; %d–%d bytes), "+
			"each frame run through BPF_PROG_TEST_RUN %d times per call; the figure is the kernel's own mean time per run. "+
			"Every program is attached (native XDP) to a veth in a throwaway namespace while it is measured: "+
			"with repeat > 1 the kernel otherwise switches the XDP dispatcher to the program and back around every call "+
			"(about 17 ms per call here, an RCU grace period); an attached program keeps its dispatcher slot. "+
			"One warm-up pass, then %d rounds with the programs taking turns; median and range of the rounds. "+
			"Repeating a frame back to back keeps its lookups in cache, so the second method runs each frame once per call "+
			"and reads the kernel's BPF run-time statistics (what `bpftool prog` shows; they add their own clock reads, about 60 ns, "+
			"to every run). The rulesets are four kinds of rule taking turns (source /24, destination host + TCP port, "+
			"IPv6 source /48 + UDP, source port range), drawn from the mix's own flows.",
			len(tr.Frames), len(tr.Flows), lo, hi, cfg.Repeat, cfg.Rounds),
		Tables: []Table{tab},
	}
	if last >= 2 && cfg.Scales[0] == 1 && cfg.Scales[last-1] == 4096 {
		s.Notes = append(s.Notes,
			target("xdpfw@4096 / xdpfw@1 (repeat method)", rep[last].Median/rep[1].Median, "<=", 2),
			target("xdpfw@4096 / xdpfw@1 (one run per frame)", one[last].Median/one[1].Median, "<=", 2),
			fmt.Sprintf("Above the floor (minus the empty program): %s ns at 1 rule, %s ns at 4096 rules (repeat method).",
				ns(rep[1].Median-rep[0].Median), ns(rep[last].Median-rep[0].Median)),
			floorNote("4 MiB", "1 rule", one[1].Median, one[fl].Median-one[0].Median, one[last].Median, 2))
	}
	return s, points, nil
}

// measureBoth measures subjects by both methods: repeat runs per frame
// timed by the kernel's test run, and one run per frame timed by the BPF
// statistics.
func measureBoth(cfg Config, subjects []perf.Subject, frames [][]byte) (rep, one []perf.Result, err error) {
	if rep, err = perf.Measure(subjects, frames, perf.Options{Repeat: cfg.Repeat, Rounds: cfg.Rounds}); err != nil {
		return nil, nil, err
	}
	if one, err = perf.Measure(subjects, frames, perf.Options{Rounds: cfg.Rounds, Stats: true}); err != nil {
		return nil, nil, err
	}
	return rep, one, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
