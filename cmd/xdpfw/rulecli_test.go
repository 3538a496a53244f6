package main

import (
	"encoding/json"
	"fmt"
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

// TestRuleReplace: rule replace puts the new rule under the old one's id,
// at its priority unless --priority is given; an unknown id, a second
// argument, a bad flag, a missing --action or an unknown set changes
// nothing, in one line.
func TestRuleReplace(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "s")
	mustRunCLI(t, pin, "", "rule", "add", "--proto", "tcp", "--dport", "22", "--action", "drop", "--priority", "7")
	mustRunCLI(t, pin, "", "rule", "add", "--dport", "80", "--action", "pass")
	if out := mustRunCLI(t, pin, "", "rule", "replace", "1", "--proto", "udp", "--dport", "53", "--action", "pass", "--comment", "dns"); out != "replaced rule 1\n" {
		t.Errorf("rule replace printed %q", out)
	}
	// The rules in evaluation order, one line each.
	want := "1 7 proto udp dport 53 pass dns; 2 1000 dport 80 pass ; "
	check := func(when string) {
		t.Helper()
		var list struct {
			Rules []struct {
				ID, Priority           uint32
				Match, Action, Comment string
			}
		}
		if err := json.Unmarshal([]byte(mustRunCLI(t, pin, "", "rule", "list", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, r := range list.Rules {
			got += fmt.Sprintf("%d %d %s %s %s; ", r.ID, r.Priority, r.Match, r.Action, r.Comment)
		}
		if got != want {
			t.Errorf("%s: rules %q, want %q", when, got, want)
		}
	}
	check("after rule replace 1")
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"3", "--action", "drop"}, "no rule with id 3 (see: xdpfw rule list)"},
		{[]string{"1", "2", "--action", "drop"}, `rule replace: unexpected argument "2"`},
		{[]string{"0", "--action", "drop"}, `rule replace: "0" is not a rule id`},
		{[]string{"1", "--dport", "70000", "--action", "drop"}, "--dport: "},
		{[]string{"1", "--dport", "22"}, "rule replace: missing --action"},
		{[]string{"1", "--src", "@nope", "--action", "drop"}, "set @nope does not exist"},
		{[]string{"--action", "drop"}, "rule replace: missing rule id"},
	} {
		stdout, _, err := runCLIBoth(pin, "", append([]string{"rule", "replace"}, c.args...)...)
		if err == nil || !strings.HasPrefix(err.Error(), c.err) || strings.Contains(err.Error(), "\n") || stdout != "" {
			t.Errorf("rule replace %v: error %v, stdout %q; want one line starting %q", c.args, err, stdout, c.err)
		}
	}
	check("after refused replacements")
	mustRunCLI(t, pin, "", "rule", "replace", "2", "--dport", "81", "--action", "drop", "--priority", "1")
	want = "2 1 dport 81 drop ; 1 7 proto udp dport 53 pass dns; "
	check("after rule replace 2 --priority 1")
}

// TestRuleReset: rule reset says how many rules' counters it zeroed, all
// without ids; an unknown or bad id zeroes nothing, in one line.
func TestRuleReset(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "s")
	for _, port := range []string{"22", "23"} {
		mustRunCLI(t, pin, "", "rule", "add", "--dport", port, "--action", "drop")
	}
	for _, c := range []struct {
		args []string
		out  string
	}{
		{nil, "zeroed the counters of 2 rules\n"},
		{[]string{"2", "2"}, "zeroed the counters of 1 rule\n"},
	} {
		if out := mustRunCLI(t, pin, "", append([]string{"rule", "reset"}, c.args...)...); out != c.out {
			t.Errorf("rule reset %v printed %q, want %q", c.args, out, c.out)
		}
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"1", "3"}, "no rule with id 3 (see: xdpfw rule list)"},
		{[]string{"x"}, `rule reset: "x" is not a rule id`},
	} {
		stdout, _, err := runCLIBoth(pin, "", append([]string{"rule", "reset"}, c.args...)...)
		if err == nil || !strings.HasPrefix(err.Error(), c.err) || stdout != "" {
			t.Errorf("rule reset %v: error %v, stdout %q; want one line starting %q", c.args, err, stdout, c.err)
		}
	}
}
