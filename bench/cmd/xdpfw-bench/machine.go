package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// machine describes where and when the run happened, for the head of
// results.md: figures from another machine or kernel are not comparable.
func machine(cfg Config) Table {
	var u unix.Utsname
	unix.Uname(&u)
	rows := [][]string{
		{"date", time.Now().UTC().Format("2006-01-02 15:04 MST")},
		{"run", cfg.Name},
		{"kernel", unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])},
		{"CPU", fmt.Sprintf("%s, %d online", cpuModel(), runtime.NumCPU())},
		{"a BPF-to-BPF call", callCost()},
		{"a clock read in BPF", clockCost()},
		{"memory", memTotal()},
		{"Go", runtime.Version()},
		// "-dirty": the tree measured had changes no commit holds yet.
		{"xdpfw commit", command("git", "describe", "--always", "--dirty", "--abbrev=7")},
		{"xdp-tools", command("dpkg-query", "-W", "-f", "${Version}", "xdp-tools")},
		{"nftables", command("nft", "--version")},
		{"iptables", command("iptables", "--version")},
	}
	return Table{Header: []string{"", ""}, Rows: rows}
}

// callCost is what a call into a global BPF function costs here, which
// varies by CPU and mitigation more than anything else the program does.
func callCost() string {
	ns, err := perf.CallCost(fixtures.UDP("192.0.2.1", "198.51.100.1", 1000, 53))
	if err != nil {
		return fmt.Sprintf("not measured: %v", err)
	}
	return fmt.Sprintf("%.1f ns and its return (64 calls a run against none, repeat method; %s)", ns, srso())
}

// clockCost is what the datapath's two clocks cost here: the precise one
// reads the clocksource, which on a VM may be kvm-clock and dear; the
// coarse one, which connection tracking stamps flows with, reads memory.
func clockCost() string {
	frame := fixtures.UDP("192.0.2.1", "198.51.100.1", 1000, 53)
	precise, err := perf.ClockCost(perf.ClockPrecise, frame)
	if err != nil {
		return fmt.Sprintf("not measured: %v", err)
	}
	coarse, err := perf.ClockCost(perf.ClockCoarse, frame)
	if err != nil {
		return fmt.Sprintf("not measured: %v", err)
	}
	src, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		src = []byte("unknown")
	}
	return fmt.Sprintf("bpf_ktime_get_ns %.1f ns, bpf_ktime_get_coarse_ns %.1f ns (clocksource %s; 64 reads a run against none, repeat method)",
		precise, coarse, strings.TrimSpace(string(src)))
}

// srso is the kernel's word on the Speculative Return Stack Overflow
// mitigation, whose return thunk is most of a call's cost where it runs.
func srso() string {
	b, err := os.ReadFile("/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow")
	if err != nil {
		return "SRSO: unknown"
	}
	return "SRSO: " + strings.TrimSpace(string(b))
}

func cpuModel() string {
	return procField("/proc/cpuinfo", "model name")
}

func memTotal() string {
	return procField("/proc/meminfo", "MemTotal")
}

// procField is the value of the first "key: value" line with key.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// command is the first line a command prints, or why it could not run.
func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("unavailable (%v)", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
