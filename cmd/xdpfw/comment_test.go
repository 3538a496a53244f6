package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

const commentFile = `policy: pass
rules:
  - {proto: udp, dport: 53, action: pass, comment: "dns: résolveur"}
  - {proto: udp, dport: 54, action: drop}
`

// commentFileEdited changes only comments: one rule's, and another gains one.
const commentFileEdited = `policy: pass
rules:
  - {proto: udp, dport: 53, action: pass, comment: resolver}
  - {proto: udp, dport: 54, action: drop, comment: "old tftp proxy #4"}
`

// TestRuleComments: comments come in through a file and rule add, are
// stored with the rule, and come out through rule list (text and JSON),
// save and replay; an apply that changes only comments keeps ids and
// counters; a bad comment is refused in one line naming it.
func TestRuleComments(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	// Without comments, tables have no COMMENT column.
	mustRunCLI(t, pin, counterFile, "apply", "-f", "-")
	if out := mustRunCLI(t, pin, "", "rule", "list"); strings.Contains(out, "COMMENT") {
		t.Errorf("rule list of rules without comments has a COMMENT column:\n%s", out)
	}
	if out := mustRunCLI(t, pin, commentFile, "apply", "-f", "-"); out != "applied 2 rules (2 unchanged, 0 added, 0 removed), policy pass\n" {
		t.Errorf("apply adding comments printed %q", out)
	}
	prog, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for range 3 {
		if _, err := prog.Run(&ebpf.RunOptions{Data: fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 53)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func() ruleListJSON {
		return decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
	}
	rl := list()
	if len(rl.Rules) != 2 || rl.Rules[0].Comment != "dns: résolveur" || rl.Rules[1].Comment != "" || rl.Rules[0].Packets != 3 {
		t.Fatalf("rule list --json after apply: %+v", rl.Rules)
	}
	if out := mustRunCLI(t, pin, "", "rule", "list"); !strings.Contains(out, "COMMENT") || !strings.Contains(out, "dns: résolveur") {
		t.Errorf("rule list does not show the comment:\n%s", out)
	}

	out := mustRunCLI(t, pin, commentFileEdited, "apply", "-f", "-")
	if want := "applied 2 rules (2 unchanged, 0 added, 0 removed), policy pass\n"; out != want {
		t.Errorf("apply of new comments printed %q, want %q", out, want)
	}
	after := list()
	if after.Rules[0].ID != rl.Rules[0].ID || after.Rules[0].Packets != 3 || after.Rules[0].Comment != "resolver" ||
		after.Rules[1].ID != rl.Rules[1].ID || after.Rules[1].Comment != "old tftp proxy #4" {
		t.Errorf("after changing only comments: %+v; want the same ids, 3 packets kept and the new comments", after.Rules)
	}
	// save writes the comments, and its output applies as a no-op.
	saved := mustRunCLI(t, pin, "", "save")
	if !strings.Contains(saved, "comment: resolver\n") || !strings.Contains(saved, "comment: 'old tftp proxy #4'\n") {
		t.Errorf("save lost the comments:\n%s", saved)
	}
	if out := mustRunCLI(t, pin, saved, "apply", "-f", "-"); out != "unchanged: 2 rules, policy pass\n" {
		t.Errorf("apply of save's output printed %q", out)
	}

	id := strings.TrimSpace(mustRunCLI(t, pin, "", "rule", "add", "--proto", "tcp", "--dport", "22", "--action", "drop", "--comment", "no ssh"))
	if r := list().Rules[2]; id != "3" || r.Comment != "no ssh" || r.Match != "proto tcp dport 22" {
		t.Errorf("rule add --comment gave id %s, row %+v", id, r)
	}
	for _, bad := range []struct{ comment, want string }{
		{strings.Repeat("x", 129), "--comment: 129 bytes, at most 128"},
		{"two\nlines", "--comment: control or unprintable character U+000A at byte 3"},
	} {
		_, stderr, err := runCLIBoth(pin, "", "rule", "add", "--action", "drop", "--comment", bad.comment)
		if err == nil || !strings.Contains(err.Error()+stderr, bad.want) {
			t.Errorf("rule add --comment %q: %v %s; want an error with %q", bad.comment, err, stderr, bad.want)
		}
	}
	long := "policy: pass\nrules:\n  - action: drop\n    comment: " + strings.Repeat("y", 200) + "\n"
	if _, err := runCLI(t, pin, long, "apply", "-f", "-"); err == nil || !strings.Contains(err.Error(), ":4: comment: a value of 200 bytes, at most 128") {
		t.Errorf("apply of a 200-byte comment: %v", err)
	}
	if n := len(list().Rules); n != 3 {
		t.Errorf("refused comments changed the ruleset: %d rules", n)
	}

	// replay's per-rule summary carries the comments of the file it ran.
	pcap := filepath.Join(t.TempDir(), "dns.pcap")
	if err := replay.WriteFrames(pcap, [][]byte{fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 53)}); err != nil {
		t.Fatal(err)
	}
	rep := decodeJSON[replay.Report](t, "replay --json", mustRunCLI(t, pin, commentFile, "replay", "--rules", "-", "--json", pcap))
	if len(rep.Rules) != 2 || rep.Rules[0].Comment != "dns: résolveur" || rep.Rules[0].Frames != 1 {
		t.Errorf("replay --json rules: %+v", rep.Rules)
	}
}
