package main

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestRuleAddIfaceText: rule add refuses an interface name that is not
// printable UTF-8 (the kernel takes such names), in one line, adding
// nothing; save, which writes the rules as YAML, keeps working. It took
// the rule, and save then panicked: the ruleset could not be saved.
func TestRuleAddIfaceText(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, counterFile, "apply", "-f", "-")
	for _, name := range []string{"e\xffth", "\x1b[2Jx"} {
		_, _, err := runCLIBoth(pin, "", "rule", "add", "--action", "drop", "--iface", name)
		if err == nil || !strings.HasPrefix(err.Error(), "--iface: invalid interface name") || strings.Contains(err.Error(), "\n") {
			t.Errorf("rule add --iface %q: error %v, want one line about --iface", name, err)
		}
	}
	if out := mustRunCLI(t, pin, "", "rule", "list", "--json"); strings.Contains(out, "iface") {
		t.Fatalf("a refused rule was added:\n%s", out)
	}
	if out := mustRunCLI(t, pin, "", "save"); !strings.HasSuffix(out, "policy: pass\n") {
		t.Errorf("save printed %q", out)
	}
}

// TestRuleAddNoAction: rule add without --action fails in one line on
// standard error, printing nothing on standard output, where a script
// reads the new rule's id (it printed the whole help there).
func TestRuleAddNoAction(t *testing.T) {
	for _, args := range [][]string{{"rule", "add", "--dport", "22"}, {"rule", "add"}} {
		stdout, stderr, err := runCLIBoth("/nonexistent/xdpfw", "", args...)
		if err == nil || err.Error() != "rule add: missing --action pass or --action drop" || stdout != "" || stderr != "" {
			t.Errorf("%s: error %v, stdout %q, stderr %q; want one error naming --action and no output", strings.Join(args, " "), err, stdout, stderr)
		}
	}
}

// TestStatusJSONEmptyLists: status --json lists no interfaces as [] both
// with nothing loaded and with a ruleset attached nowhere (it printed
// null then), and no problems as [].
func TestStatusJSONEmptyLists(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	want := []string{`"interfaces": []`, `"problems": []`}
	check := func(when string) {
		t.Helper()
		stdout, _, _ := runCLIBoth(pin, "", "status", "--json")
		for _, w := range want {
			if !strings.Contains(stdout, w) {
				t.Errorf("status --json %s: no %s in\n%s", when, w, stdout)
			}
		}
	}
	check("with nothing loaded")
	mustRunCLI(t, pin, counterFile, "apply", "-f", "-")
	check("with a ruleset attached nowhere")
}

// TestNoArgsCommands: the commands that take no arguments refuse one in
// one line, before reading any state; they ignored it and exited 0, so
// `rule list 5 --json` gave every rule, `stats eth0` the totals and
// `capture eth0` the frames of every interface.
func TestNoArgsCommands(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
	}{
		{"rule list", []string{"rule", "list", "5"}},
		{"rule list", []string{"rule", "list", "--json", "5"}},
		{"stats", []string{"stats", "eth0"}},
		{"status", []string{"status", "eth0"}},
		{"status", []string{"status", "--json", "eth0"}},
		{"capture", []string{"capture", "eth0"}},
		{"capture", []string{"capture", "--stop", "eth0"}},
		{"top", []string{"top", "eth0"}},
	} {
		want := tc.cmd + `: unexpected argument "` + tc.args[len(tc.args)-1] + `" (see: xdpfw ` + tc.cmd + " --help)"
		stdout, stderr, err := runCLIBoth("/nonexistent/xdpfw", "", tc.args...)
		if err == nil || err.Error() != want || stdout != "" || stderr != "" {
			t.Errorf("%s: error %v, stdout %q, stderr %q; want the error %q alone", strings.Join(tc.args, " "), err, stdout, stderr, want)
		}
	}
}

// TestRuleDelOnce: an id given twice is deleted, and said, once.
func TestRuleDelOnce(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	id := strings.TrimSpace(mustRunCLI(t, pin, "", "rule", "add", "--proto", "udp", "--dport", "5353", "--action", "drop"))
	out := mustRunCLI(t, pin, "", "rule", "del", id, id)
	if strings.Count(out, "deleted rule "+id+"\n") != 1 {
		t.Errorf("rule del %s %s:\n%s", id, id, out)
	}
}
