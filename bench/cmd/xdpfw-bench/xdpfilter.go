package main

import (
	"fmt"
	"time"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// versusXdpFilter loads xdp-filter through its CLI with a denylist, xdpfw
// with the same rules, proves they agree on every frame, then measures
// both beside the empty program.
func versusXdpFilter(cfg Config, tr workload.Traffic) (Section, error) {
	deny := tr.Denylist(cfg.DenyAddrs, cfg.DenyPorts)
	f, err := xdpfilter.Load()
	if err != nil {
		return Section{}, err
	}
	defer f.Close()
	start := time.Now()
	if err := f.Deny(deny.Addrs, deny.Ports); err != nil {
		return Section{}, err
	}
	cliTime := time.Since(start)
	rs := deny.Ruleset()
	x, err := loader.NewInstance(rs, false)
	if err != nil {
		return Section{}, err
	}
	defer x.Close()
	want, err := perf.Verdicts(x.Program(), tr.Frames)
	if err != nil {
		return Section{}, err
	}
	got, err := perf.Verdicts(f.Prog, tr.Frames)
	if err != nil {
		return Section{}, err
	}
	if d := perf.Disagreements(want, got); len(d) > 0 {
		return Section{}, fmt.Errorf("xdp-filter and xdpfw disagree on %d of %d frames (first: frame %d, xdpfw %d, xdp-filter %d): not comparable",
			len(d), len(want), d[0], want[d[0]], got[d[0]])
	}
	empty, err := perf.EmptyProgram()
	if err != nil {
		return Section{}, err
	}
	defer empty.Close()
	subjects := []perf.Subject{{Name: "empty XDP program", Prog: empty},
		{Name: "xdp-filter", Prog: f.Prog}, {Name: "xdpfw", Prog: x.Program()}}
	rep, one, err := measureBoth(cfg, subjects, tr.Frames)
	if err != nil {
		return Section{}, err
	}
	tab := Table{Header: []string{"program", fmt.Sprintf("ns/pkt, repeat %d", cfg.Repeat), "rounds min–max", "÷ empty",
		"ns/pkt, repeat 1 (BPF stats)", "÷ empty"}}
	for i := range subjects {
		tab.Rows = append(tab.Rows, []string{rep[i].Name, ns(rep[i].Median), spread(rep[i].Min, rep[i].Max, rep[i].Median),
			ratio(rep[i].Ratio), ns(one[i].Median), ratio(one[i].Ratio)})
	}
	drops := 0
	for _, v := range want {
		if v == 1 {
			drops++
		}
	}
	info, _ := f.Prog.Info()
	name := "?"
	if info != nil {
		name = info.Name
	}
	return Section{
		Title: "xdpfw against xdp-filter, per packet",
		Method: fmt.Sprintf("xdp-filter (Debian's xdp-tools) is loaded through its own CLI on a veth in a throwaway namespace "+
			"(`xdp-filter load --mode native --policy allow --features all`, libxdp's dispatcher skipped so its program runs alone, as xdpfw's does), "+
			"then given %d source addresses (`xdp-filter ip --mode src`, IPv4 and IPv6) and %d destination ports "+
			"(`xdp-filter port --mode dst --proto tcp,udp`) taken from the mix's flows; its program (%s) is opened by the id on the interface. "+
			"xdpfw gets the same as %d drop rules (host prefixes, and ports without a protocol, which match TCP and UDP). "+
			"Both programs gave the same verdict on all %d frames (%d dropped) before anything was timed. Same mix and method as above.",
			len(deny.Addrs), len(deny.Ports), name, len(rs.Rules), len(tr.Frames), drops),
		Tables: []Table{tab},
		Notes: []string{
			target("xdpfw / xdp-filter ns/packet (repeat method)", rep[2].Median/rep[1].Median, "<=", 0.7),
			target("xdpfw / xdp-filter ns/packet (one run per frame)", one[2].Median/one[1].Median, "<=", 0.7),
			fmt.Sprintf("Above the floor: xdp-filter %s ns, xdpfw %s ns (repeat method).",
				ns(rep[1].Median-rep[0].Median), ns(rep[2].Median-rep[0].Median)),
			fmt.Sprintf("Loading the %d entries took xdp-filter's CLI %.2f s (one process per entry).", len(deny.Addrs)+len(deny.Ports), cliTime.Seconds()),
		},
	}, nil
}
