package main

import (
	"fmt"

	"github.com/xdpfw/xdpfw/bench/e2e"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// endToEnd floods the receiving veth through each receiver in turn.
func endToEnd(cfg Config) (Section, []e2e.Rate, error) {
	plan := e2e.Plan{Addrs: cfg.DenyAddrs, Ports: cfg.DenyPorts}
	deny := plan.Denylist()
	b, err := e2e.NewBench(plan)
	if err != nil {
		return Section{}, nil, err
	}
	defer b.Close()
	drop, err := e2e.DropProgram()
	if err != nil {
		return Section{}, nil, err
	}
	defer drop.Close()
	touch, err := e2e.TouchProgram()
	if err != nil {
		return Section{}, nil, err
	}
	defer touch.Close()
	rs := deny.Ruleset()
	x, err := loader.NewInstance(rs, false)
	if err != nil {
		return Section{}, nil, err
	}
	defer x.Close()
	// The same denylist behind a first rule on connection-tracking
	// state, beside nftables' stateful firewall.
	xct, err := loader.NewInstance(deny.StatefulRuleset(), false)
	if err != nil {
		return Section{}, nil, err
	}
	defer xct.Close()
	f, err := xdpfilter.Load()
	if err != nil {
		return Section{}, nil, err
	}
	defer f.Close()
	if err := f.Deny(deny.Addrs, deny.Ports); err != nil {
		return Section{}, nil, err
	}
	recvs := []e2e.Receiver{
		e2e.XDP("no-op XDP_DROP", drop),
		e2e.XDP("touch-and-drop XDP (reads the headers)", touch),
		e2e.XDP("xdpfw", x.Program()),
		e2e.XDP("xdp-filter", f.Prog),
		e2e.Nftables(deny),
		e2e.Iptables(deny),
		e2e.XDP("xdpfw, ct-state established first", xct.Program()),
		e2e.NftablesCT(deny),
	}
	rates, err := b.Measure(recvs, e2e.Options{Seconds: cfg.LiveSeconds, Rounds: cfg.LiveRounds})
	if err != nil {
		return Section{}, nil, err
	}
	// Indexes into recvs, in its order.
	noop, touched, xdpfw, xdpFilter, nft := rates[0].RecvMedian, rates[1].RecvMedian, rates[2].RecvMedian, rates[3].RecvMedian, rates[4].RecvMedian
	xdpfwCT, nftCT := rates[6].RecvMedian, rates[7].RecvMedian
	tab := Table{Header: []string{"receiver", "frames/s received (median)", "rounds min–max", "÷ nftables", "÷ no-op XDP",
		"ns/frame at the receiver", "above no-op XDP", "offered by the generator"}}
	for _, r := range rates {
		tab.Rows = append(tab.Rows, []string{r.Name, mfps(r.RecvMedian), mfps(r.RecvMin) + "–" + mfps(r.RecvMax),
			ratio(r.RecvMedian / nft), ratio(r.RecvMedian / noop), ns(1e9 / r.RecvMedian), ns(1e9/r.RecvMedian - 1e9/noop), mfps(r.SentMedian)})
	}
	cpus := "The generator and the receiver share CPU 0 (one CPU online): each frame's figure is the sum of both."
	if b.Pinned {
		cpus = "The generator's thread is pinned to CPU 0; the receiving veth processes frames in its own NAPI thread " +
			"(threaded NAPI), pinned to CPU 1, so the receiver's own speed is measured: what it cannot take overflows the veth's ring and is not counted."
	}
	otherCPU := ""
	if b.Pinned {
		otherCPU = " on the other CPU"
	}
	return Section{
		Title: "End to end: frames per second through a veth",
		Method: fmt.Sprintf("A generator program (bench/gen/c/gen.c) runs with live-frames BPF_PROG_TEST_RUN "+
			"(BPF_F_TEST_XDP_LIVE_FRAMES, %d frames per call) in one namespace: each run rewrites the template's source address "+
			"and ports into a new flow (%d IPv4 and %d IPv6 sources, all source ports, %d destination ports; UDP and TCP templates taking turns) "+
			"and sends it with XDP_TX out of a veth, to its peer in a second namespace. %s "+
			"GRO is on at the receiver (a veth accepts XDP_TX frames only with GRO or an XDP program). "+
			"Each receiver enforces the same denylist, which drops every frame of the flood: the first %d sources of each family "+
			"and all %d ports (the two programs that filter nothing drop every frame too). The touch-and-drop program "+
			"reads the EtherType and the IP header's first byte (bounds-checked) before XDP_DROP: beside the no-op, which never reads "+
			"the frame, it is what bringing in the frame's first cache line costs, written by the generator%s. xdpfw (%d rules) and xdp-filter are attached in native XDP mode (xdp-filter's program as its CLI loaded it, "+
			"attached here by id); nftables is a netdev ingress chain with three sets; iptables is raw PREROUTING with one rule per address "+
			"and multiport rules of 15 ports (iptables-nft, as Debian 12 ships it). The stateful pair puts a first rule on established connections "+
			"before the same denylist: xdpfw's `ct-state established` (a state lookup per frame), nftables' `ct state established accept` "+
			"in an inet prerouting chain (conntrack needs the IP stack). The figure is the receiving veth's rx counter over "+
			"%.1f s of flooding, %d rounds after a warm-up, receivers taking turns.",
			1<<16, 2*plan.Addrs, 2*plan.Addrs, plan.Ports, cpus, plan.Addrs, plan.Ports, otherCPU, len(rs.Rules), cfg.LiveSeconds, cfg.LiveRounds),
		Tables: []Table{tab},
		Notes: []string{
			target("xdpfw / xdp-filter frames/s", xdpfw/xdpFilter, ">=", 1.3),
			target("xdpfw / nftables frames/s", xdpfw/nft, ">=", 3),
			target("xdpfw / no-op XDP frames/s", xdpfw/noop, ">=", 0.7),
			target("xdpfw with ct-state established first / nftables with ct state established accept, frames/s", xdpfwCT/nftCT, ">=", 3),
			fmt.Sprintf("The stateful pair: every frame of the flood is a flow nothing went out of, so both look it up and find nothing "+
				"(nftables also creates and frees an unconfirmed conntrack entry per frame) before the denylist drops it; "+
				"xdpfw with the state rule costs %s of xdpfw without it.", ratio(xdpfwCT/xdpfw)),
			fmt.Sprintf("xdpfw / touch-and-drop frames/s: %s (not a target). Touch-and-drop minus the no-op, what the first read of "+
				"the frame costs: %s ns/frame; xdpfw minus touch-and-drop: %s ns/frame, xdp-filter minus touch-and-drop: %s.",
				ratio(xdpfw/touched), ns(1e9/touched-1e9/noop), ns(1e9/xdpfw-1e9/touched), ns(1e9/xdpFilter-1e9/touched)),
		},
	}, rates, nil
}

// mfps is frames per second in millions.
func mfps(v float64) string { return fmt.Sprintf("%.2f M", v/1e6) }
