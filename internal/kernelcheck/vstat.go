package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// processedRe finds the verifier's instruction count in a line vstat
// prints: "NAME processed N insns ..." for a program that loaded, or
// "refused: ... processed N insns ..." from a refused one's log.
var processedRe = regexp.MustCompile(`^(\S+?):? .*processed (\d+) insns`)

// runVstat prints internal/vstat's lines (prefixed "vstat: ") and one
// "insns PROGRAM N" line per program for the host's summary table; with
// c.maxInsns set it is also a check that every program loaded within
// that many processed instructions, so the datapath keeps its headroom
// below the verifier's one million.
func runVstat(r *runner, c config) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cmdTimeout)
	defer cancel()
	// Before 5.11 BPF maps count against RLIMIT_MEMLOCK, and vstat does
	// not lift it: lift it for vstat alone (xdpfw itself runs under the
	// VM's default, as on a user's machine), so old kernels get figures.
	restore := liftMemlock()
	start := time.Now()
	out, err := exec.CommandContext(ctx, c.vstat, c.object).CombinedOutput()
	restore()
	elapsed := time.Since(start).Round(time.Second)
	counts := map[string]int{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fmt.Printf("vstat: %s\n", sc.Text())
		if m := processedRe.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			if _, ok := counts[m[1]]; !ok {
				order = append(order, m[1])
			}
			counts[m[1]] = max(counts[m[1]], n)
		}
	}
	for _, p := range order {
		fmt.Printf("insns %s %d\n", p, counts[p])
	}
	if c.maxInsns == 0 {
		return
	}
	r.check("verifier-budget", func() (string, error) {
		if err != nil {
			return "", fmt.Errorf("vstat failed after %v: %v", elapsed, err)
		}
		if len(order) == 0 {
			return "", fmt.Errorf("vstat printed no instruction counts")
		}
		for _, p := range order {
			if counts[p] > c.maxInsns {
				return "", fmt.Errorf("%s: %d processed instructions, over the budget of %d", p, counts[p], c.maxInsns)
			}
		}
		return fmt.Sprintf("%d programs within %d processed instructions, %v", len(order), c.maxInsns, elapsed), nil
	})
}

// liftMemlock sets RLIMIT_MEMLOCK to infinity, for the children started
// until the returned function puts the old limit back.
func liftMemlock() func() {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return func() {}
	}
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf); err != nil {
		return func() {}
	}
	return func() { unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old) }
}
