package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/bench/e2e"
)

// profile floods one end-to-end receiver alone, as the end-to-end part
// does, while perf samples the CPU that receives (CPU 1 when the
// generator has CPU 0 to itself): where a frame's time goes, by kernel
// symbol and, for an XDP receiver, by the source line of its program.
// No timing is asserted; it is a tool for reading the end-to-end figure.
func profile(cfg Config, name string, secs float64, top int, w io.Writer) error {
	perfBin, err := perfTool("-profile")
	if err != nil {
		return err
	}
	r, err := newE2EReceivers(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	var recv *e2e.Receiver
	var names []string
	for i := range r.recvs {
		names = append(names, r.recvs[i].Name)
		if r.recvs[i].Name == name {
			recv = &r.recvs[i]
		}
	}
	if recv == nil {
		return fmt.Errorf("no end-to-end receiver %q; they are: %s", name, strings.Join(names, ", "))
	}
	cpu := 0
	if r.bench.Pinned {
		cpu = 1
	}
	// perf stops with the flood (Measure floods for 0.2 s of warm-up,
	// then secs).
	var rates []e2e.Rate
	samples, err := sampleCPU(perfBin, cpu, secs, func() (err error) {
		rates, err = r.bench.Measure([]e2e.Receiver{*recv}, e2e.Options{Seconds: secs, Rounds: 1})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %.2f M frames/s received, %.2f M offered, %.1f s; CPU %d sampled (%d samples)\n\n",
		name, rates[0].RecvMedian/1e6, rates[0].SentMedian/1e6, secs, cpu, len(samples))
	printProfile(w, samples, cpu, r.progs[name], top, "; a stalled load's samples fall on the instructions just after it")
	return nil
}

// perfTool is perf's path, for the flag that needs it.
func perfTool(flag string) (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("needs root (BPF, network namespaces, perf on a CPU)")
	}
	perfBin, err := exec.LookPath("perf")
	if err != nil {
		return "", fmt.Errorf("%s samples with perf, which is not installed (Debian: apt-get install linux-perf)", flag)
	}
	return perfBin, nil
}

// sampleCPU runs work while perf samples cpu for secs (perf starts
// first), and reads the samples back.
func sampleCPU(perfBin string, cpu int, secs float64, work func() error) ([]sample, error) {
	dir, err := os.MkdirTemp("", "xdpfw-profile")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "perf.data")
	rec := exec.Command(perfBin, "record", "-q", "-C", strconv.Itoa(cpu), "-o", data,
		"--", "sleep", strconv.FormatFloat(secs, 'f', 1, 64))
	var recErr bytes.Buffer
	rec.Stderr = &recErr
	if err := rec.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	err = work()
	if werr := rec.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("perf record: %v: %s", werr, strings.TrimSpace(recErr.String()))
	}
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(perfBin, "script", "-i", data, "-F", "ip,sym").Output()
	if err != nil {
		return nil, fmt.Errorf("perf script: %w", err)
	}
	return parsePerfScript(bytes.NewReader(out))
}

// printProfile prints cpu's time by kernel symbol, then prog's (if any)
// by source line.
func printProfile(w io.Writer, samples []sample, cpu int, prog *ebpf.Program, top int, lineNote string) {
	fmt.Fprintf(w, "CPU %d's time, by symbol:\n", cpu)
	for _, s := range topShares(symbolCounts(samples), top) {
		fmt.Fprintf(w, "%6.1f%%  %s\n", s.pct, s.key)
	}
	if prog == nil {
		return
	}
	table, err := jitLines(prog)
	if err != nil {
		fmt.Fprintf(w, "\n(no source lines for the program: %v)\n", err)
		return
	}
	fmt.Fprintf(w, "\nThe program's own time, by source line (%% of its samples%s):\n", lineNote)
	for _, s := range topShares(lineCounts(samples, table), top) {
		fmt.Fprintf(w, "%6.1f%%  %s\n", s.pct, s.key)
	}
}
