package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// controlPlane times loading rules and prefixes: xdpfw's rule commits,
// xdpfw's CLI loading sets beside nft -f of the same prefixes, the CLI's
// single changes with a full state live, xdp-filter's CLI.
func controlPlane(cfg Config, tr workload.Traffic, feed workload.Feed) (Section, error) {
	tab := Table{Header: []string{"operation", "time (median)", "rounds min–max", "per entry"}}
	add := func(op string, d []time.Duration, entries int) {
		med, lo, hi := durations(d)
		per := "-"
		if entries > 0 {
			per = fmt.Sprintf("%.1f µs", float64(med.Microseconds())/float64(entries))
		}
		tab.Rows = append(tab.Rows, []string{op, seconds(med), seconds(lo) + "–" + seconds(hi), per})
	}
	rounds := max(cfg.Rounds, 3)
	full, add1, del1, err := xdpfwUpdates(tr, rounds)
	if err != nil {
		return Section{}, fmt.Errorf("xdpfw: %w", err)
	}
	add("xdpfw library: load 4095 rules into an empty state (one commit)", full, 4095)
	add("xdpfw library: add a 4096th rule to 4095", add1, 0)
	add("xdpfw library: delete that rule", del1, 0)

	c, err := newCLI()
	if err != nil {
		return Section{}, err
	}
	defer c.Close()
	largest := cfg.SetSizes[len(cfg.SetSizes)-1]
	// Before nft's loads: tearing down their namespaces frees millions of
	// set elements in the background, which slowed the next CLI calls here.
	lc, err := cliChanges(c, tr, feed, largest, rounds)
	if err != nil {
		return Section{}, fmt.Errorf("xdpfw CLI with a full state: %w", err)
	}
	var loadTarget, loadRatio string // the largest set's
	loads := Table{Header: []string{"prefixes", "xdpfw `set load` (median)", "rounds min–max", "nft -f (median)", "rounds min–max", "xdpfw ÷ nft"}}
	for _, n := range cfg.SetSizes {
		if n < 10_000 {
			continue
		}
		x, nf, err := setLoads(c, feed, n, cfg.LoadRounds)
		if err != nil {
			return Section{}, fmt.Errorf("loading %d prefixes: %w", n, err)
		}
		xm, xlo, xhi := durations(x)
		nm, nlo, nhi := durations(nf)
		loads.Rows = append(loads.Rows, []string{count(n), seconds(xm), seconds(xlo) + "–" + seconds(xhi),
			seconds(nm), seconds(nlo) + "–" + seconds(nhi), ratio(float64(xm) / float64(nm))})
		loadTarget = target(fmt.Sprintf("`set load` of %s prefixes, s", count(n)), xm.Seconds(), "<=", 2)
		loadRatio = target(fmt.Sprintf("`set load` / `nft -f` of %s prefixes", count(n)), float64(xm)/float64(nm), "<=", 0.15)
	}
	big := fmt.Sprintf("a %s-entry set and 4095 rules live", count(largest))
	add("xdpfw `apply -f` of an empty ruleset, creating the state (loads and verifies the program, creates the maps)", lc.create, 0)
	add(fmt.Sprintf("xdpfw `apply -f` of 4095 rules and a %s-entry set from its file, to that empty state", count(largest)), lc.apply, largest)
	add("xdpfw `apply -f` of the same file again (nothing changes)", lc.reapply, 0)
	add("xdpfw `set add` of one element, "+big, lc.setAdd, 0)
	add("xdpfw `set del` of that element", lc.setDel, 0)
	add("xdpfw `rule add` of a 4096th rule, "+big, lc.ruleAdd, 0)
	add("xdpfw `rule del` of that rule", lc.ruleDel, 0)
	add("a Go program that does nothing (this machine's process start and exit, under every CLI row)", lc.nothing, 0)
	add("`xdpfw --help` (the binary's own start: its pages, its packages' initialisation)", lc.help, 0)

	d, err := xdpFilterAddrs(cfg.XdpFilterAddrs)
	if err != nil {
		return Section{}, fmt.Errorf("xdp-filter: %w", err)
	}
	add(fmt.Sprintf("xdp-filter: %d host addresses, one `xdp-filter ip` each", cfg.XdpFilterAddrs), []time.Duration{d}, cfg.XdpFilterAddrs)
	loads.Caption = fmt.Sprintf("Loading a set: `xdpfw set load feed FILE` into a set just created, beside `nft -f` of the same prefixes "+
		"into two interval sets (one per family) of a new table; %d rounds each.", cfg.LoadRounds)
	tab.Caption = "Changes: rule commits through the library, then whole CLI invocations with a full state live."
	s := Section{
		Title: "Control plane",
		Method: fmt.Sprintf("Every xdpfw figure but the library rows is one whole invocation of the xdpfw binary built from this tree "+
			"(process start included), on a private pin directory with nothing attached; nft runs in a throwaway namespace, "+
			"timed with its process. The prefixes are the first N entries of the feed of the set benchmark above "+
			"(half IPv4 /24s, 40%% IPv4 hosts, 10%% IPv6). The library rows are the calls the CLI makes "+
			"(`loader.State.Replace`, `AddRule`, `DeleteRules`: compile, write the inactive generation, switch), %d rounds; "+
			"the CLI rows with a full state live are %d rounds. The rule naming the set is one of the 4095. "+
			"xdp-filter takes no prefixes and no file: each host address is one CLI call.", rounds, rounds),
		Tables: []Table{loads, tab},
		Notes: []string{
			"xdp-filter cannot hold prefixes at all (exact addresses only), so its row is host addresses.",
		},
	}
	if loadTarget != "" {
		xm, _, _ := durations(lc.setAdd)
		rm, _, _ := durations(lc.ruleAdd)
		nm, _, _ := durations(lc.nothing)
		hm, _, _ := durations(lc.help)
		s.Notes = append(s.Notes, loadTarget, loadRatio,
			target("`set add` with "+big+", ms", float64(xm.Microseconds())/1000, "<=", 50),
			target("`rule add` with "+big+", ms", float64(rm.Microseconds())/1000, "<=", 50),
			fmt.Sprintf("Of the `rule add`, %s is starting any process here and %s more starting xdpfw (the rows above): "+
				"%s is the change itself (opening the state, reading the live rules, compiling, writing, switching).",
				seconds(nm), seconds(hm-nm), seconds(rm-hm)))
	}
	return s, nil
}

// xdpfwUpdates times a full load of 4095 rules, then rounds of adding a
// 4096th rule and deleting it again.
func xdpfwUpdates(tr workload.Traffic, rounds int) (full, add, del []time.Duration, err error) {
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("xdpfw-bench-%d", os.Getpid()))
	defer os.RemoveAll(dir)
	s, err := loader.OpenOrCreate(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer s.Close()
	defer s.DetachAll() // nothing is attached: this removes the pins
	rs := tr.ScaleRuleset(4095)
	empty := &rules.Ruleset{Policy: rules.Pass}
	for range rounds {
		if err := s.Replace(empty); err != nil {
			return nil, nil, nil, err
		}
		start := time.Now()
		if err := s.Replace(rs); err != nil {
			return nil, nil, nil, err
		}
		full = append(full, time.Since(start))
	}
	r := rules.Rule{Priority: 1, Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("198.51.100.0/24")}}
	for range rounds {
		start := time.Now()
		id, err := s.AddRule(r)
		if err != nil {
			return nil, nil, nil, err
		}
		add = append(add, time.Since(start))
		start = time.Now()
		if err := s.DeleteRules([]uint32{id}); err != nil {
			return nil, nil, nil, err
		}
		del = append(del, time.Since(start))
	}
	return full, add, del, nil
}

// xdpFilterAddrs times adding n IPv4 host addresses to a loaded
// xdp-filter.
func xdpFilterAddrs(n int) (time.Duration, error) {
	f, err := xdpfilter.Load()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	addrs := make([]netip.Addr, n)
	a := netip.MustParseAddr("100.64.0.0")
	for i := range addrs {
		addrs[i], a = a, a.Next()
	}
	start := time.Now()
	if err := f.Deny(addrs, nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func durations(d []time.Duration) (median, lo, hi time.Duration) {
	f := make([]float64, len(d))
	for i, v := range d {
		f[i] = float64(v)
	}
	m, l, h := perf.MedianRange(f)
	return time.Duration(m), time.Duration(l), time.Duration(h)
}
