package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/bench/xdpfilter"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// controlPlane times loading rules and prefixes: xdpfw's rule changes,
// nft -f of interval sets, xdp-filter's CLI.
func controlPlane(cfg Config, tr workload.Traffic) (Section, error) {
	tab := Table{Header: []string{"operation", "time (median)", "rounds min–max", "per entry"}}
	add := func(op string, d []time.Duration, entries int) {
		med, lo, hi := durations(d)
		per := "-"
		if entries > 0 {
			per = fmt.Sprintf("%.1f µs", float64(med.Microseconds())/float64(entries))
		}
		tab.Rows = append(tab.Rows, []string{op, seconds(med), seconds(lo) + "–" + seconds(hi), per})
	}
	full, add1, del1, err := xdpfwUpdates(tr, max(cfg.Rounds, 3))
	if err != nil {
		return Section{}, fmt.Errorf("xdpfw: %w", err)
	}
	add("xdpfw: load 4095 rules into an empty state (one commit)", full, 4095)
	add("xdpfw: `rule add` with 4095 rules live (the 4096th)", add1, 0)
	add("xdpfw: `rule del` of that rule", del1, 0)
	for _, n := range cfg.Prefixes {
		d, err := nftIntervalSet(n)
		if err != nil {
			return Section{}, fmt.Errorf("nft: %w", err)
		}
		add(fmt.Sprintf("nft -f: interval set of %d IPv4 prefixes", n), []time.Duration{d}, n)
	}
	d, err := xdpFilterAddrs(cfg.XdpFilterAddrs)
	if err != nil {
		return Section{}, fmt.Errorf("xdp-filter: %w", err)
	}
	add(fmt.Sprintf("xdp-filter: %d host addresses, one `xdp-filter ip` each", cfg.XdpFilterAddrs), []time.Duration{d}, cfg.XdpFilterAddrs)
	return Section{
		Title: "Control plane",
		Method: fmt.Sprintf("xdpfw's times are the library calls the CLI makes (`loader.State.Replace`, `AddRule`, `DeleteRules`: "+
			"compile, write the inactive generation, switch), on a private pin directory, %d rounds; the CLI adds its process start. "+
			"The 4096th rule is the last one xdpfw holds. nft loads one file holding a table with an interval set of distinct, non-adjacent "+
			"/24 prefixes (in a throwaway namespace, timed with the process). xdp-filter takes no prefixes and no file: each host address is one CLI call.",
			max(cfg.Rounds, 3)),
		Tables: []Table{tab},
		Notes: []string{
			"Not yet measurable: loading 10k and 1M prefixes into xdpfw. xdpfw has no sets yet (issue 4) and at most 4096 rules; " +
				"the 4095-rule load above is the largest load it can do today.",
			"xdp-filter cannot hold prefixes at all (exact addresses only), so its row is host addresses.",
		},
	}, nil
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

// nftIntervalSet times `nft -f` of a table with an interval set of n /24
// prefixes, every other /24 from 64.0.0.0 so none merge.
func nftIntervalSet(n int) (time.Duration, error) {
	var b strings.Builder
	b.WriteString("table inet xdpfw_bench {\n  set deny { type ipv4_addr; flags interval; elements = {\n")
	for i := range n {
		a := 64<<24 + uint32(2*i)<<8
		fmt.Fprintf(&b, "    %d.%d.%d.0/24,\n", a>>24, a>>16&0xff, a>>8&0xff)
	}
	b.WriteString("  } }\n}\n")
	file, err := os.CreateTemp("", "xdpfw-bench-*.nft")
	if err != nil {
		return 0, err
	}
	defer os.Remove(file.Name())
	if _, err := file.WriteString(b.String()); err != nil {
		return 0, err
	}
	file.Close()
	ns, err := perf.NewNetns()
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	nsFile, err := perf.NetnsFile(ns)
	if err != nil {
		return 0, err
	}
	defer nsFile.Close()
	start := time.Now()
	if err := perf.ExecIn(nsFile, nil, nil, "nft", "-f", file.Name()); err != nil {
		return 0, err
	}
	return time.Since(start), nil
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
