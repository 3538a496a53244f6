package main

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// bigRulesets writes two different rulesets of 4000 rules each (every
// rule and the policy differ between them), in save's format so save's
// output can be compared with them byte for byte. A commit of one over
// the other rewrites all classifier tables: tens of milliseconds.
func bigRulesets(t *testing.T) (pathA, pathB string, textA, textB string) {
	t.Helper()
	const n = 4000
	a := &rules.Ruleset{Policy: rules.Pass}
	b := &rules.Ruleset{Policy: rules.Drop}
	for i := range n {
		a.Rules = append(a.Rules, rules.Rule{ID: uint32(i + 1), Priority: uint32(i % 7), Action: rules.Drop, Match: rules.Match{
			Src:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24),
			Proto: rules.Proto{Set: true, Num: 6},
			Dport: rules.PortRange{Set: true, Lo: uint16(i + 1), Hi: uint16(i + 1)},
		}})
		b.Rules = append(b.Rules, rules.Rule{ID: uint32(i + 1), Priority: uint32(i % 5), Action: rules.Pass, Match: rules.Match{
			Dst:   netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(i >> 8), 15: byte(i)}), 128),
			Proto: rules.Proto{Set: true, Num: 17},
			Sport: rules.PortRange{Set: true, Lo: uint16(i), Hi: uint16(i + 10)},
		}})
	}
	dir := t.TempDir()
	textA, textB = string(rules.FormatYAML(a)), string(rules.FormatYAML(b))
	return writeFile(t, dir, "a.yaml", textA), writeFile(t, dir, "b.yaml", textB), textA, textB
}

// startApply starts `xdpfw apply -f file` as a child process (this test
// binary, see TestMain).
func startApply(t *testing.T, pin, file string) *exec.Cmd {
	t.Helper()
	return startCLI(t, pin, nil, "apply", "-f", file)
}

// liveIs reports which of the texts save prints now; it fails the test if
// the live ruleset is neither.
func liveIs(t *testing.T, pin string, texts ...string) int {
	t.Helper()
	got := mustRunCLI(t, pin, "", "save")
	for i, text := range texts {
		if got == text {
			return i
		}
	}
	t.Fatalf("the live ruleset is none of the expected ones: %d bytes, starting\n%.300s", len(got), got)
	return -1
}

// TestApplyKilled: an apply killed (SIGKILL) at any moment leaves the old
// ruleset or the new one live, complete, and the next apply works. The
// kill delays are random, spread over the time one apply takes.
func TestApplyKilled(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	pathA, pathB, textA, textB := bigRulesets(t)
	paths, texts := []string{pathA, pathB}, []string{textA, textB}

	mustRunCLI(t, pin, "", "apply", "-f", pathA)
	// How long a whole apply takes here: only to spread the kills over it.
	start := time.Now()
	if err := startApply(t, pin, pathB).Wait(); err != nil {
		t.Fatalf("apply %s: %v", pathB, err)
	}
	span := time.Since(start)
	current := liveIs(t, pin, textA, textB)
	if current != 1 {
		t.Fatalf("apply of b did not make b live")
	}

	outcomes := map[string]int{}
	for range 20 {
		target := 1 - current
		cmd := startApply(t, pin, paths[target])
		time.Sleep(time.Duration(rand.Int64N(int64(span) * 6 / 5)))
		cmd.Process.Kill()
		err := cmd.Wait()
		now := liveIs(t, pin, texts[current], texts[target])
		switch {
		case err == nil:
			outcomes["finished before the kill"]++
		case now == 0:
			outcomes["killed, old ruleset live"]++
		default:
			outcomes["killed, new ruleset live"]++
		}
		if now == 1 {
			current = target
		}
	}
	t.Logf("one apply took %v; outcomes: %v", span, outcomes)

	target := 1 - current
	out := mustRunCLI(t, pin, "", "apply", "-f", paths[target])
	if liveIs(t, pin, textA, textB) != target {
		t.Fatalf("apply after the kills (%q) did not make its ruleset live", out)
	}
	mustRunCLI(t, pin, "", "rule", "list", "--json") // counters readable for every rule
}

// TestConcurrentApply: two applies at once both succeed, one after the
// other (the pin directory's lock), and the live ruleset is one of the
// two files, whole. The first round starts without state, so both race to
// create it.
func TestConcurrentApply(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	pathA, pathB, textA, textB := bigRulesets(t)
	for round := range 3 {
		a, b := startApply(t, pin, pathA), startApply(t, pin, pathB)
		errA, errB := a.Wait(), b.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("round %d: concurrent applies: %v, %v; want both to succeed", round, errA, errB)
		}
		liveIs(t, pin, textA, textB)
	}
	if _, err := os.Stat(filepath.Join(pin, "prog")); err != nil {
		t.Fatalf("state missing after the applies: %v", err)
	}
}
