package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// runCLI runs xdpfw in-process on pinDir with stdin as standard input and
// returns what it printed on stdout.
func runCLI(t *testing.T, pinDir, stdin string, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runCLIBoth(pinDir, stdin, args...)
	if errOut != "" {
		t.Logf("xdpfw %s: stderr: %s", strings.Join(args, " "), strings.TrimSpace(errOut))
	}
	return out, err
}

// runCLIBoth is runCLI giving standard error too.
func runCLIBoth(pinDir, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cliMu.Lock()
	defer cliMu.Unlock()
	app := newApp(&out, &errOut)
	app.Reader = strings.NewReader(stdin)
	err = app.Run(interspersed(app, append([]string{"xdpfw", "--pin-dir", pinDir}, args...)))
	return out.String(), errOut.String(), err
}

func mustRunCLI(t *testing.T, pinDir, stdin string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, pinDir, stdin, args...)
	if err != nil {
		t.Fatalf("xdpfw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestApplyCheckWithoutRoot: apply --check needs neither root nor a BPF
// filesystem, and reports a bad file by name and line.
func TestApplyCheckWithoutRoot(t *testing.T) {
	privtest.Require(t) // to run the child as another user
	exe := copyExecutable(t)
	dir := filepath.Dir(exe) // readable by everyone
	good := writeFile(t, dir, "good.yaml", "policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n  - {src: 10.0.0.0/8, action: drop}\n")
	bad := writeFile(t, dir, "bad.yaml", "rules:\n  - action: drop\n    dport: 70000\n")

	stdout, stderr, code := runMain(t, exe, 65534, "--pin-dir", "/nonexistent/xdpfw", "apply", "--check", "-f", good)
	if code != 0 || stdout != good+": ok: 2 rules, policy drop\n" || stderr != "" {
		t.Errorf("apply --check of a good file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = runMain(t, exe, 65534, "apply", "--check", "-f", good, "--json")
	if code != 0 || !strings.Contains(stdout, `"rules": 2`) {
		t.Errorf("apply --check --json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = runMain(t, exe, 65534, "apply", "--check", "-f", bad)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "xdpfw: "+bad+":3: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("apply --check of a bad file: exit %d, stdout %q, stderr %q; want one line naming %s:3", code, stdout, stderr, bad)
	}
	// Without --check, the same user gets the usual root error.
	_, stderr, code = runMain(t, exe, 65534, "apply", "-f", good)
	if code != 1 || !strings.Contains(stderr, "needs root") {
		t.Errorf("apply without root: exit %d, stderr %q", code, stderr)
	}
}

// TestApplyErrorsChangeNothing: a bad file fails with its file:line and
// leaves the live ruleset (or the absence of one) as it was.
func TestApplyErrorsChangeNothing(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "policy: drop\nrules:\n  - action: drop\n    src: 10.0.0.1/8\n")
	for _, args := range [][]string{{"apply", "-f", bad}, {"apply", "-f", "-"}, {"apply", "-f", filepath.Join(dir, "missing.yaml")}} {
		stdin := "rules:\n  - {action: drop, dprot: 22}\n"
		_, err := runCLI(t, pin, stdin, args...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: %v, want a one-line error", args, err)
		}
		if _, statErr := os.Stat(pin); !os.IsNotExist(statErr) {
			t.Fatalf("%v failed (%v) but created %s", args, err, pin)
		}
	}
	if _, err := runCLI(t, pin, "", "apply", "-f", bad); err == nil || !strings.HasPrefix(err.Error(), bad+":4: ") ||
		!strings.Contains(err.Error(), "did you mean 10.0.0.0/8") {
		t.Errorf("apply of a bad file: %v", err)
	}
	if _, err := runCLI(t, pin, "rules:\n  - {action: drop, dprot: 22}\n", "apply", "-f", "-"); err == nil ||
		err.Error() != `<stdin>:2: unknown field "dprot"` {
		t.Errorf("apply of bad standard input: %v", err)
	}

	mustRunCLI(t, pin, "policy: drop\nrules:\n  - {proto: udp, dport: 53, action: pass}\n", "apply", "-f", "-")
	before := mustRunCLI(t, pin, "", "rule", "list", "--json")
	if _, err := runCLI(t, pin, "", "apply", "-f", bad); err == nil {
		t.Fatal("apply of a bad file over a live ruleset succeeded")
	}
	if after := mustRunCLI(t, pin, "", "rule", "list", "--json"); after != before {
		t.Errorf("a failed apply changed the ruleset:\nbefore: %s\nafter:  %s", before, after)
	}
}

// counterFile is the ruleset of TestApplyKeepsCounters: two UDP rules, of
// which the edit below keeps the first and changes the second.
const counterFile = `policy: pass
rules:
  - {proto: udp, dport: 53, action: pass}
  - {proto: udp, dport: 54, action: drop}
`

// The edit: a new rule first (so the kept rule gets a new id: ids must
// keep file order), the dport 53 rule unchanged, the dport 54 rule's
// action changed.
const counterFileEdited = `policy: pass
rules:
  - {proto: udp, dport: 60, action: drop}
  - {proto: udp, dport: 53, action: pass}
  - {proto: udp, dport: 54, action: pass}
`

// TestApplyKeepsCounters: through the CLI, an apply keeps the counters of
// rules whose definition did not change (even when their id must change)
// and starts changed rules from zero; save | apply changes nothing, ids
// and counters included. Traffic is run through the live program itself
// with BPF_PROG_TEST_RUN, so it bumps the live counters.
func TestApplyKeepsCounters(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, counterFile, "apply", "-f", "-")

	prog, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	send := func(dport uint16, n int) {
		t.Helper()
		frame := fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, dport)
		for range n {
			if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
				t.Fatal(err)
			}
		}
	}
	packets := func(match, action string) uint64 {
		t.Helper()
		rl := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
		for _, r := range rl.Rules {
			if r.Match == match && r.Action == action {
				return r.Packets
			}
		}
		t.Fatalf("no rule %q %s in %+v", match, action, rl.Rules)
		return 0
	}
	send(53, 3)
	send(54, 2)
	if a, b := packets("proto udp dport 53", "pass"), packets("proto udp dport 54", "drop"); a != 3 || b != 2 {
		t.Fatalf("before the apply: %d and %d packets, want 3 and 2", a, b)
	}

	out := mustRunCLI(t, pin, counterFileEdited, "apply", "-f", "-")
	if want := "applied 3 rules (1 unchanged, 2 added, 1 removed), policy pass\n"; out != want {
		t.Errorf("apply printed %q, want %q", out, want)
	}
	if got := packets("proto udp dport 53", "pass"); got != 3 {
		t.Errorf("unchanged rule: %d packets after the apply, want the 3 it had", got)
	}
	if got := packets("proto udp dport 54", "pass"); got != 0 {
		t.Errorf("changed rule: %d packets after the apply, want 0", got)
	}
	send(54, 1)
	if got := packets("proto udp dport 54", "pass"); got != 1 {
		t.Errorf("changed rule: %d packets after one more frame, want 1", got)
	}

	// save | apply -f - is a no-op: identical rules, ids and counters.
	before := mustRunCLI(t, pin, "", "rule", "list", "--json")
	saved := mustRunCLI(t, pin, "", "save")
	if saved != counterFileEdited2 {
		t.Errorf("save printed:\n%s\nwant:\n%s", saved, counterFileEdited2)
	}
	if out := mustRunCLI(t, pin, saved, "apply", "-f", "-"); out != "unchanged: 3 rules, policy pass\n" {
		t.Errorf("apply of save's output printed %q", out)
	}
	file := writeFile(t, t.TempDir(), "saved.yaml", saved)
	mustRunCLI(t, pin, "", "apply", "-f", file)
	if after := mustRunCLI(t, pin, "", "rule", "list", "--json"); after != before {
		t.Errorf("save | apply changed the live rules:\nbefore: %s\nafter:  %s", before, after)
	}
}

// counterFileEdited2 is counterFileEdited as save prints it.
const counterFileEdited2 = `rules:
  - action: drop
    priority: 1000
    proto: udp
    dport: 60
  - action: pass
    priority: 1000
    proto: udp
    dport: 53
  - action: pass
    priority: 1000
    proto: udp
    dport: 54
# the policy comes last: a copy of this file cut short is refused
policy: pass
`

// TestApplyBeforeAttach: apply creates the state before any attach; a
// failed attach keeps it, attach enforces the applied ruleset (real
// traffic in the veth lab), and the last detach removes it.
func TestApplyBeforeAttach(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)
	c4 := l.clientUDP(l.clientV4)
	open, blocked := l.serverUDP(l.serverV4, 5001), l.serverUDP(l.serverV4, 5002)
	file := writeFile(t, t.TempDir(), "rules.yaml", "policy: pass\nrules:\n  - {proto: udp, dport: 5002, action: drop}\n")

	if out := l.mustCLI("apply", "-f", file); !strings.HasPrefix(out, "applied 1 rule ") {
		t.Errorf("apply printed %q", out)
	}
	if st := l.status(); st.Rules != 1 || len(st.Interfaces) != 0 {
		t.Errorf("status after apply: %+v, want 1 rule and no interface", st)
	}
	if out := l.mustCLI("status"); !strings.Contains(out, "the ruleset is not enforced yet") {
		t.Errorf("status before attach does not say the ruleset is not enforced:\n%s", out)
	}
	saved := l.mustCLI("save")
	expectCLIError(t, l, "nosuchif0", "attach", "nosuchif0")
	if got := l.mustCLI("save"); got != saved {
		t.Errorf("a failed attach changed the applied ruleset:\nbefore: %s\nafter:  %s", saved, got)
	}

	l.mustCLI("attach", serverIf, "--mode", "native")
	if got := l.mustCLI("save"); got != saved {
		t.Errorf("attach changed the applied ruleset:\nbefore: %s\nafter:  %s", saved, got)
	}
	if n := l.udpProbe(c4, open, netip.AddrPortFrom(l.serverV4, 5001), 3, true); n != 3 {
		t.Errorf("port 5001: %d of 3 datagrams arrived, want all", n)
	}
	if n := l.udpProbe(c4, blocked, netip.AddrPortFrom(l.serverV4, 5002), 3, false); n != 0 {
		t.Errorf("port 5002: %d datagrams arrived, want none (the applied rule drops them)", n)
	}
	if r := findRule(t, l.ruleList(), 1); r.Packets != 3 {
		t.Errorf("the applied rule counted %d packets, want 3", r.Packets)
	}
	l.mustCLI("detach", serverIf)
	assertNoPinDir(t, l, "the last detach")
}

// TestApplyUsage: usage mistakes get one line saying what to type; they
// fail before any state is opened, so they need no root.
func TestApplyUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply"}, "apply: missing -f FILE (usage: xdpfw apply -f FILE|- [--check])"},
		{[]string{"apply", "x.yaml"}, `apply: unexpected argument "x.yaml" (the file is given with -f: xdpfw apply -f x.yaml)`},
		{[]string{"apply", "-f"}, "apply: flag needs an argument: -f (see: xdpfw apply --help)"},
		{[]string{"apply", "-f", ""}, "apply: empty file name (- reads standard input)"},
		{[]string{"apply", "--check", "-f", ""}, "apply: empty file name (- reads standard input)"},
		{[]string{"set", "load", "bl", ""}, "set load: empty file name (- reads standard input)"},
		{[]string{"save", "x.yaml"}, `save: unexpected argument "x.yaml" (save prints to standard output, or writes -o FILE)`},
	} {
		out, err := runCLI(t, "/nonexistent/xdpfw", "", tc.args...)
		if err == nil || err.Error() != tc.want || out != "" {
			t.Errorf("xdpfw %s: %v (printed %q), want %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}

// TestApplySaysSetChanges: apply's line and --json count the sets it
// made, removed and changed and their elements: a file changing a set
// alone said "applied 1 rule (1 unchanged, 0 added, 0 removed)".
func TestApplySaysSetChanges(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	one := "policy: pass\nsets:\n  s1:\n    elements: [192.0.2.1]\nrules:\n  - {src: '@s1', action: drop}\n"
	if out := mustRunCLI(t, pin, one, "apply", "-f", "-"); !strings.HasSuffix(out, "; sets: 1 made, 0 removed, 0 changed (1 element added, 0 removed)\n") {
		t.Errorf("apply making a set printed %q", out)
	}
	two := strings.Replace(one, "192.0.2.1", "192.0.2.2, 192.0.2.3", 1)
	if out := mustRunCLI(t, pin, two, "apply", "-f", "-"); out != "applied 1 rule (1 unchanged, 0 added, 0 removed), policy pass; sets: 0 made, 0 removed, 1 changed (2 elements added, 1 removed)\n" {
		t.Errorf("apply changing a set printed %q", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(mustRunCLI(t, pin, one, "apply", "-f", "-", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{"sets_created": 0, "sets_removed": 0, "sets_changed": 1, "set_elements_added": 1, "set_elements_removed": 2} {
		if got[k] != v {
			t.Errorf("apply --json: %s %v, want %v (%v)", k, got[k], v, got)
		}
	}
	if out := mustRunCLI(t, pin, one, "apply", "-f", "-"); strings.Contains(out, "sets:") {
		t.Errorf("apply changing nothing printed %q", out)
	}
	mustRunCLI(t, pin, "", "detach", "--all")
}
