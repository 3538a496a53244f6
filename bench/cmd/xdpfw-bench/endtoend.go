package main

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/bench/e2e"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// e2eReceivers is the end-to-end benchmark's lab and its receivers, in
// the order endToEnd reports them, with the XDP receivers' programs by
// name (what -profile samples).
type e2eReceivers struct {
	bench  *e2e.Bench
	recvs  []e2e.Receiver
	progs  map[string]*ebpf.Program
	closes []func()
}

// e2ePlan is the flood and the denylist of the end-to-end benchmark.
func e2ePlan(cfg Config) e2e.Plan { return e2e.Plan{Addrs: cfg.DenyAddrs, Ports: cfg.DenyPorts} }

func newE2EReceivers(cfg Config) (_ *e2eReceivers, err error) {
	plan := e2ePlan(cfg)
	deny := plan.Denylist()
	// Not the named result: returning nil would leave the deferred
	// Close nothing to close.
	r := &e2eReceivers{progs: map[string]*ebpf.Program{}}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.bench, err = e2e.NewBench(plan, cfg.Generator); err != nil {
		return nil, err
	}
	r.closes = append(r.closes, r.bench.Close)
	xdp := func(name string, prog *ebpf.Program) {
		r.recvs = append(r.recvs, e2e.XDP(name, prog))
		r.progs[name] = prog
	}
	drop, err := e2e.DropProgram()
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, func() { drop.Close() })
	touch, err := e2e.TouchProgram()
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, func() { touch.Close() })
	floor, err := perf.NewFloor(perf.FloorSpec{Lines: e2eFloorLines(plan), Count: true, Action: 1}) // XDP_DROP
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, floor.Close)
	chained, err := perf.NewFloor(perf.FloorSpec{Lines: e2eFloorLines(plan), Count: true, Chain: e2eChain, Action: 1})
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, chained.Close)
	x, err := loader.NewInstance(deny.Ruleset(), false)
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, x.Close)
	// The same denylist behind a first rule on connection-tracking
	// state, beside nftables' stateful firewall.
	xct, err := loader.NewInstance(deny.StatefulRuleset(), false)
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, xct.Close)
	f, err := xdpfilter.Load()
	if err != nil {
		return nil, err
	}
	r.closes = append(r.closes, f.Close)
	if err := f.Deny(deny.Addrs, deny.Ports); err != nil {
		return nil, err
	}
	xdp("no-op XDP_DROP", drop)
	xdp("touch-and-drop XDP (reads the headers)", touch)
	xdp(e2eFloorName, floor.Prog)
	xdp(fmt.Sprintf("least filter, %d instructions on the source first", e2eChain), chained.Prog)
	xdp("xdpfw", x.Program())
	xdp("xdp-filter", f.Prog)
	r.recvs = append(r.recvs, e2e.Nftables(deny), e2e.Iptables(deny))
	xdp("xdpfw, ct-state established first", xct.Program())
	r.recvs = append(r.recvs, e2e.NftablesCT(deny))
	return r, nil
}

// e2eFloorName is the receiver of the least any denylist filter does.
const e2eFloorName = "least filter (reads the source, one line of a table chosen by it, a per-CPU counter)"

// e2eChain is the dependent ALU instructions on the frame's source the
// chained least filter runs before its lookup: more than this machine's
// CPU overlaps with the frame's wait (findings.md, session 25).
const e2eChain = 100

// e2eFloorLines is the least filter's table: a line for each listed
// source, as a table of the denylist's size has at the least.
func e2eFloorLines(p e2e.Plan) int {
	n := 1
	for n < 2*p.Addrs {
		n *= 2
	}
	return n
}

// Close tears the receivers and the lab down, last made first.
func (r *e2eReceivers) Close() {
	for i := len(r.closes) - 1; i >= 0; i-- {
		r.closes[i]()
	}
	r.closes = nil
}

// endToEnd floods the receiving veth through each receiver in turn.
func endToEnd(cfg Config) (Section, []e2e.Rate, error) {
	r, err := newE2EReceivers(cfg)
	if err != nil {
		return Section{}, nil, err
	}
	defer r.Close()
	b, recvs := r.bench, r.recvs
	plan := e2ePlan(cfg)
	rs := plan.Denylist().Ruleset()
	tripBefore := lineTrip(b.Pinned)
	rates, err := b.Measure(recvs, e2e.Options{Seconds: cfg.LiveSeconds, Rounds: cfg.LiveRounds})
	if err != nil {
		return Section{}, nil, err
	}
	tripAfter := lineTrip(b.Pinned)
	// Indexes into recvs, in its order.
	noopR, floorR, chainR, xdpfwR, xdpFilterR, nftR := rates[0], rates[2], rates[3], rates[4], rates[5], rates[6]
	noop, touched, xdpfw, xdpFilter := noopR.RecvMedian, rates[1].RecvMedian, xdpfwR.RecvMedian, xdpFilterR.RecvMedian
	xdpfwCT, nftCT := rates[8], rates[9]
	tab := Table{Header: []string{"receiver", "frames/s received (median)", "rounds min–max", "÷ nftables", "÷ no-op XDP",
		"ns/frame at the receiver", "above no-op XDP", "offered by the generator"}}
	for _, r := range rates {
		tab.Rows = append(tab.Rows, []string{r.Name, mfps(r.RecvMedian), mfps(r.RecvMin) + "–" + mfps(r.RecvMax),
			ratio(r.Over(nftR)), ratio(r.Over(noopR)), ns(1e9 / r.RecvMedian), ns(1e9/r.RecvMedian - 1e9/noop), mfps(r.SentMedian)})
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
		Method: fmt.Sprintf("%s (%d IPv4 and %d IPv6 sources, all source ports, %d destination ports; UDP and TCP templates taking turns) "+
			"out of a veth, to its peer in a second namespace. %s "+
			"GRO is on at the receiver (a veth takes the frames its peer sends from XDP, by XDP_TX or a redirect, only with GRO or an XDP program). "+
			"Each receiver enforces the same denylist, which drops every frame of the flood: the first %d sources of each family "+
			"and all %d ports (the two programs that filter nothing drop every frame too). The touch-and-drop program "+
			"reads the EtherType, the IP header's first byte and the words at offsets 26 and 34 (IPv4 source and ports; in IPv6, part of "+
			"the source), bounds-checked, before XDP_DROP: beside the no-op, which never reads the frame, it is what bringing in the "+
			"headers' cache lines costs, which the generator wrote%s (the addresses and ports anew for every frame), the floor of "+
			"any filter that reads them. The least filter adds to it what any denylist filter that counts must do at the least: "+
			"it hashes the source's word at offset 26 to one line of a table of %d 64-byte lines (one per listed source), reads it and adds "+
			"the frame to a per-CPU counter, then drops; it parses nothing and looks no port up, about the least a filter of this denylist that counts its frames can do. "+
			"The chained least filter is the same with %d ALU instructions on the source word first (a chain of adds and xors, no memory access), "+
			"each waiting for the frame's line as a classifier's instructions do. "+
			"xdpfw (%d rules) and xdp-filter are attached in native XDP mode (xdp-filter's program as its CLI loaded it, "+
			"attached here by id); nftables is a netdev ingress chain with three sets; iptables is raw PREROUTING with one rule per address "+
			"and multiport rules of 15 ports (iptables-nft, as Debian 12 ships it). The stateful pair puts a first rule on established connections "+
			"before the same denylist: xdpfw's `ct-state established` (a state lookup per frame), nftables' `ct state established accept` "+
			"in an inet prerouting chain (conntrack needs the IP stack). The figure is the receiving veth's rx counter over "+
			"%.1f s of flooding, %d rounds after a warm-up, receivers taking turns.",
			generatorMethod(b), 2*plan.Addrs, 2*plan.Addrs, plan.Ports, cpus, plan.Addrs, plan.Ports, otherCPU, e2eFloorLines(plan), e2eChain, len(rs.Rules), cfg.LiveSeconds, cfg.LiveRounds),
		Tables: []Table{tab},
		Notes: []string{
			target("xdpfw / xdp-filter frames/s", xdpfwR.Over(xdpFilterR), ">=", 1.3),
			target("xdpfw / nftables frames/s", xdpfwR.Over(nftR), ">=", 3),
			target("xdpfw / no-op XDP frames/s", xdpfwR.Over(noopR), ">=", 0.7),
			target("xdpfw with ct-state established first / nftables with ct state established accept, frames/s", xdpfwCT.Over(nftCT), ">=", 3),
			fmt.Sprintf("The least filter reaches %s× xdp-filter's frames/s and %s× nftables': what a filter of this denylist "+
				"that reads the source and counts can reach here at most, about. The targets of 1.30× and 3.00× ask xdpfw for %s and %s "+
				"of the least filter's rate (where that exceeds 1, no filter can meet them here); xdpfw reaches %s of it.",
				ratio(floorR.Over(xdpFilterR)), ratio(floorR.Over(nftR)),
				ratio(1.3/floorR.Over(xdpFilterR)), ratio(3/floorR.Over(nftR)), ratio(xdpfwR.Over(floorR))),
			fmt.Sprintf("The chained least filter takes %s of the least filter's frames, xdpfw %s and xdp-filter %s: what 100 "+
				"instructions waiting for the frame's line cost here, beside the two filters (findings.md reads the step they show in some of this VM's phases).",
				ratio(chainR.Over(floorR)), ratio(xdpfwR.Over(floorR)), ratio(xdpFilterR.Over(floorR))),
			"The ratios (the table's and the targets') are the median over the rounds of each round's pair, measured seconds apart in the machine's same phase.",
			fmt.Sprintf("The stateful pair: every frame of the flood is a flow nothing went out of, so both look it up and find nothing "+
				"(nftables also creates and frees an unconfirmed conntrack entry per frame) before the denylist drops it; "+
				"xdpfw with the state rule costs %s of xdpfw without it.", ratio(xdpfwCT.Over(xdpfwR))),
			fmt.Sprintf("xdpfw / touch-and-drop frames/s: %s (not a target). Touch-and-drop minus the no-op, what reading "+
				"the headers costs: %s ns/frame; xdpfw minus touch-and-drop: %s ns/frame, xdp-filter minus touch-and-drop: %s.",
				ratio(xdpfwR.Over(rates[1])), ns(1e9/touched-1e9/noop), ns(1e9/xdpfw-1e9/touched), ns(1e9/xdpFilter-1e9/touched)),
			fmt.Sprintf("A cache line's round trip from CPU 0 to CPU 1 and back (one side writes, the other waits to see it and answers): "+
				"%s before this part, %s after. The frames cross from the generator's CPU to the receiver's this way; on a VM its cost "+
				"depends on where the host runs the two virtual CPUs, which can change between runs, and every receiver's rate follows it: "+
				"compare end-to-end figures across runs only where it is alike.", tripBefore, tripAfter),
		},
	}, rates, nil
}

// mfps is frames per second in millions.
func mfps(v float64) string { return fmt.Sprintf("%.2f M", v/1e6) }

// lineTrip is e2e.LineRoundTrip between the generator's CPU and the
// receiver's, for the part's notes.
func lineTrip(pinned bool) string {
	if !pinned {
		return "not measured (one CPU)"
	}
	ns, err := e2e.LineRoundTrip(0, 1, 20000, 7)
	if err != nil {
		return fmt.Sprintf("not measured (%v)", err)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// generatorMethod says how the generator sent the frames in this run.
func generatorMethod(b *e2e.Bench) string {
	if b.Looped {
		why := "-generator loop asked for it"
		if b.LiveRefused != nil {
			why = fmt.Sprintf("this kernel refuses live-frames BPF_PROG_TEST_RUN (%v)", b.LiveRefused)
		}
		return fmt.Sprintf("A generator (bench/gen/c/gen.c) runs in one namespace, its frames circulating in a veth pair of their own "+
			"(%s): %d frames put into the pair go round "+
			"and round, and at each pass an XDP program on the pair broadcasts the frame through a devmap, back into the pair and "+
			"%d times to the receiver's veth, where a devmap program rewrites each copy's source address and ports into a new flow", why, e2e.LoopFrames, e2e.LoopCopies)
	}
	return fmt.Sprintf("A generator program (bench/gen/c/gen.c) runs with live-frames BPF_PROG_TEST_RUN "+
		"(BPF_F_TEST_XDP_LIVE_FRAMES, %d frames per call) in one namespace: each run rewrites the template's source address "+
		"and ports into a new flow and sends it with XDP_TX", e2e.Batch)
}
