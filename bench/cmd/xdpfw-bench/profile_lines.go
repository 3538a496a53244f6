package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// The samples of a profile (profile.go), counted by kernel symbol and by
// the source line of a BPF program.

// sample is one perf sample: the instruction pointer and its symbol.
type sample struct {
	ip  uint64
	sym string
}

// parsePerfScript reads `perf script -F ip,sym`: an address in hex and
// the symbol, one sample a line.
func parsePerfScript(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		ip, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("perf script: unexpected line %q", sc.Text())
		}
		sym := "[unknown]"
		if len(f) > 1 {
			sym = strings.Join(f[1:], " ")
		}
		out = append(out, sample{ip, sym})
	}
	return out, sc.Err()
}

func symbolCounts(samples []sample) map[string]int {
	n := map[string]int{}
	for _, s := range samples {
		n[s.sym]++
	}
	return n
}

// jitLine is where a source line's machine code starts in the kernel.
type jitLine struct {
	addr uint64
	line string
}

// lineTable is a program's machine code: its functions' spans and its
// lines, sorted by address.
type lineTable struct {
	funcs [][2]uint64 // [start, end)
	lines []jitLine
}

// jitLines reads the loaded program's line table from the kernel (BTF
// line info and where the JIT put each line).
func jitLines(prog *ebpf.Program) (lineTable, error) {
	var t lineTable
	info, err := prog.Info()
	if err != nil {
		return t, err
	}
	addrs, ok1 := info.JitedKsymAddrs()
	lens, ok2 := info.JitedFuncLens()
	jited, ok3 := info.JitedLineInfos()
	infos, err := info.LineInfos()
	if !ok1 || !ok2 || !ok3 || err != nil || len(addrs) != len(lens) || len(jited) != len(infos) || len(jited) == 0 {
		return t, fmt.Errorf("the kernel gave no JIT line table (kernel.kptr_restrict, or a program without BTF)")
	}
	for i, a := range addrs {
		t.funcs = append(t.funcs, [2]uint64{uint64(a), uint64(a) + uint64(lens[i])})
	}
	for i, l := range infos {
		t.lines = append(t.lines, jitLine{jited[i], fmt.Sprintf("%d: %s", l.Line.LineNumber(), strings.TrimSpace(l.Line.Line()))})
	}
	slices.SortFunc(t.lines, func(a, b jitLine) int { return cmp.Compare(a.addr, b.addr) })
	return t, nil
}

// lineCounts counts the samples inside the program's functions by the
// line whose code holds them: the last line starting at or before.
func lineCounts(samples []sample, t lineTable) map[string]int {
	n := map[string]int{}
	for _, s := range samples {
		if !t.holds(s.ip) {
			continue
		}
		i := lastAtOrBefore(t.lines, s.ip)
		if i < 0 {
			continue
		}
		n[t.lines[i].line]++
	}
	return n
}

func (t lineTable) holds(ip uint64) bool {
	for _, f := range t.funcs {
		if ip >= f[0] && ip < f[1] {
			return true
		}
	}
	return false
}

// lastAtOrBefore is the index of the last line starting at or before ip,
// or -1.
func lastAtOrBefore(l []jitLine, ip uint64) int {
	return sort.Search(len(l), func(i int) bool { return l[i].addr > ip }) - 1
}

// share is a key's part of the samples counted, in percent.
type share struct {
	key string
	pct float64
}

// topShares is the n largest counts as shares of all of them, largest
// first (ties by key, so the order is stable).
func topShares(counts map[string]int, n int) []share {
	total := 0
	for _, c := range counts {
		total += c
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var out []share
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, share{k, 100 * float64(counts[k]) / float64(total)})
	}
	return out
}
