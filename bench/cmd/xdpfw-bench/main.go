// Command xdpfw-bench measures xdpfw beside its peers in one run on this
// machine, as ratios, and writes docs/bench/results.md and PNG plots:
// per-packet cost against the rule count and against xdp-filter (through
// BPF_PROG_TEST_RUN), end-to-end frames/s through a veth against a no-op
// XDP program, one that only reads the headers, xdp-filter, nftables and
// iptables, control-plane load times and map memory. `make bench` runs
// it; `make bench-quick` (-quick) is the small smoke run CI uses. Needs
// root, bpffs and xdp-tools, nftables, iptables, ethtool.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xdpfw/xdpfw/bench/e2e"
	"github.com/xdpfw/xdpfw/bench/workload"
)

func main() {
	quickRun := flag.Bool("quick", false, "a small smoke run: every part, few samples")
	out := flag.String("out", "docs/bench", "directory for results.md and the plots (empty: print only)")
	only := flag.String("parts", "", "measure only these parts, comma-separated (rules, sets, breakdown, xdp-filter, "+
		"end-to-end, conntrack, control-plane, memory), and print them: results.md is written only by a run of every part")
	prof := flag.String("profile", "", "instead of measuring, flood this end-to-end receiver alone (xdpfw, xdp-filter, ...) "+
		"while perf samples the receiving CPU, and print where its time goes: kernel symbols, and the XDP program's source lines")
	profWarm := flag.String("profile-warm", "", "instead of measuring, run the shared denylist's frames through this program (xdpfw or xdp-filter) "+
		"as the repeat method does while perf samples its CPU, and print where its time goes")
	profSecs := flag.Float64("profile-seconds", 10, "how long -profile or -profile-warm runs")
	generator := flag.String("generator", "auto", "how the end-to-end generator sends: live (live-frames test runs), "+
		"loop (frames circulating in a veth pair, for kernels that refuse live frames) or auto (live where the kernel allows it)")
	flag.Parse()
	cfg := full
	if *quickRun {
		cfg = quick
	}
	var err error
	if cfg.Generator, err = e2e.ParseSource(*generator); err != nil {
		fmt.Fprintln(os.Stderr, "xdpfw-bench:", err)
		os.Exit(2)
	}
	if *prof != "" {
		if err := profile(cfg, *prof, *profSecs, 20, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "xdpfw-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *profWarm != "" {
		if err := profileWarm(cfg, *profWarm, *profSecs, 30, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "xdpfw-bench:", err)
			os.Exit(1)
		}
		return
	}
	var selected map[string]bool
	if *only != "" {
		selected = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			selected[name] = true
		}
		*out = ""
	}
	if err := run(cfg, *out, selected, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "xdpfw-bench:", err)
		os.Exit(1)
	}
}

// run measures every part (or the selected ones), writing each section as
// it completes. A part that fails is reported in results.md and makes the
// run fail at the end, after the other parts have been measured.
func run(cfg Config, outDir string, selected map[string]bool, stdout io.Writer) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (BPF, network namespaces)")
	}
	var (
		tr       workload.Traffic // drawn once the parts are known good
		feed     workload.Feed
		doc      bytes.Buffer
		failures []string
	)
	// plot draws a section's picture; a plot that fails is a failure of
	// the run, but the section's tables are still written.
	plot := func(s *Section, file string, draw func(path string) error) {
		if outDir == "" {
			return
		}
		s.Image = file
		err := os.MkdirAll(outDir, 0o755)
		if err == nil {
			err = draw(filepath.Join(outDir, file))
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("plot %s: %v", file, err))
		}
	}
	type part struct {
		name, title string
		measure     func() (Section, error)
	}
	parts := []part{
		{"rules", "Per-packet cost from 1 to 4096 rules", func() (Section, error) {
			s, points, err := perPacket(cfg, tr)
			if err == nil {
				s.Notes = append(s.Notes, "Plot: "+bpfilterCitation+".")
				plot(&s, "ns-per-packet.png", func(path string) error { return plotScale(path, points) })
			}
			return s, err
		}},
		{"sets", "Per-packet cost against the size of a set", func() (Section, error) { return setPackets(cfg, feed) }},
		{"breakdown", "Where xdpfw's time goes", func() (Section, error) { return breakdown(cfg, tr) }},
		{"xdp-filter", "xdpfw against xdp-filter, per packet", func() (Section, error) { return versusXdpFilter(cfg, tr) }},
		{"end-to-end", "End to end: frames per second through a veth", func() (Section, error) {
			s, rates, err := endToEnd(cfg)
			if err == nil {
				plot(&s, "frames-per-second.png", func(path string) error { return plotRates(path, rates) })
			}
			return s, err
		}},
		{"conntrack", "Connection tracking, per packet", func() (Section, error) { return conntrack(cfg, tr) }},
		{"control-plane", "Control plane", func() (Section, error) { return controlPlane(cfg, tr, feed) }},
		{"memory", "Memory of xdpfw's maps", func() (Section, error) { return memory(cfg, tr, feed) }},
	}
	for name := range selected {
		if !slices.ContainsFunc(parts, func(p part) bool { return p.name == name }) {
			return fmt.Errorf("no part %q: see -h", name)
		}
	}
	w := io.MultiWriter(&doc, stdout)
	fmt.Fprintf(w, "# xdpfw benchmarks\n\nWritten by `make bench` (`go run ./bench/cmd/xdpfw-bench`); "+
		"the figures below are from one run on the machine described here. The machine may be shared and noisy: "+
		"compare the ratios within one run, not absolute figures across runs. "+
		"[findings.md](findings.md) reads the figures: targets, where the time goes, what remains.\n\n")
	machine(cfg).write(w)

	tr = workload.NewTraffic(cfg.Flows, cfg.Frames)
	feed = workload.NewFeed(cfg.SetSizes[len(cfg.SetSizes)-1])
	for _, p := range parts {
		if selected != nil && !selected[p.name] {
			continue
		}
		s, err := p.measure()
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", p.title, err))
			s = failed(p.title, err)
		}
		s.write(w)
	}

	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, "results.md"), doc.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d parts failed: %v", len(failures), failures)
	}
	return nil
}
