// Command xdpfw-bench measures xdpfw beside its peers in one run on this
// machine, as ratios, and writes docs/bench/results.md and PNG plots:
// per-packet cost against the rule count and against xdp-filter (through
// BPF_PROG_TEST_RUN), end-to-end frames/s through a veth against a no-op
// XDP program, xdp-filter, nftables and iptables, control-plane load
// times and map memory. `make bench` runs it; `make bench-quick` (-quick)
// is the small smoke run CI uses. Needs root, bpffs and xdp-tools,
// nftables, iptables, ethtool.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xdpfw/xdpfw/bench/workload"
)

func main() {
	quickRun := flag.Bool("quick", false, "a small smoke run: every part, few samples")
	out := flag.String("out", "docs/bench", "directory for results.md and the plots (empty: print only)")
	flag.Parse()
	cfg := full
	if *quickRun {
		cfg = quick
	}
	if err := run(cfg, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "xdpfw-bench:", err)
		os.Exit(1)
	}
}

// run measures every part, writing each section as it completes. A part
// that fails is reported in results.md and makes the run fail at the end,
// after the other parts have been measured.
func run(cfg Config, outDir string, stdout io.Writer) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (BPF, network namespaces)")
	}
	var doc bytes.Buffer
	w := io.MultiWriter(&doc, stdout)
	fmt.Fprintf(w, "# xdpfw benchmarks\n\nWritten by `make bench` (`go run ./bench/cmd/xdpfw-bench`); "+
		"the figures below are from one run on the machine described here. The machine may be shared and noisy: "+
		"compare the ratios within one run, not absolute figures across runs. "+
		"[findings.md](findings.md) reads the figures: targets, where the time goes, what remains.\n\n")
	machine(cfg).write(w)

	tr := workload.NewTraffic(cfg.Flows, cfg.Frames)
	feed := workload.NewFeed(cfg.SetSizes[len(cfg.SetSizes)-1])
	var failures []string
	add := func(title string, s Section, err error) {
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", title, err))
			s = failed(title, err)
		}
		s.write(w)
	}
	s, points, err := perPacket(cfg, tr)
	if err == nil && outDir != "" {
		s.Image = "ns-per-packet.png"
		s.Notes = append(s.Notes, "Plot: "+bpfilterCitation+".")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
		if err := plotScale(filepath.Join(outDir, s.Image), points); err != nil {
			failures = append(failures, fmt.Sprintf("plot: %v", err))
		}
	}
	add("Per-packet cost from 1 to 4096 rules", s, err)
	s, err = setPackets(cfg, feed)
	add("Per-packet cost against the size of a set", s, err)
	s, err = breakdown(cfg, tr)
	add("Where xdpfw's time goes", s, err)
	s, err = versusXdpFilter(cfg, tr)
	add("xdpfw against xdp-filter, per packet", s, err)
	s, rates, err := endToEnd(cfg)
	if err == nil && outDir != "" {
		s.Image = "frames-per-second.png"
		if err := plotRates(filepath.Join(outDir, s.Image), rates); err != nil {
			failures = append(failures, fmt.Sprintf("plot: %v", err))
		}
	}
	add("End to end: frames per second through a veth", s, err)
	s, err = controlPlane(cfg, tr, feed)
	add("Control plane", s, err)
	s, err = memory(cfg, tr, feed)
	add("Memory of xdpfw's maps", s, err)

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
