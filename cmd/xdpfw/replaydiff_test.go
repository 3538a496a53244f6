package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

const (
	fixturePcaps = "../../testdata/pcaps"
	rulesetFiles = "../../testdata/rulesets"
)

// diffFiles: captures with every kind of frame, skipped and truncated
// ones included.
var diffFiles = []string{
	filepath.Join(fixturePcaps, "basic.pcap"),
	filepath.Join(fixturePcaps, "neighbor.pcap"),
	filepath.Join(fixturePcaps, "fragments.pcap"),
	filepath.Join(linkTypePcaps, "sll2.pcap"),
	filepath.Join(linkTypePcaps, "truncated.pcap"),
}

// libraryDiff is the diff of oldPath to newPath over files through the
// library, with both sides checked against the reference model frame by
// frame (pkg/replay's tests prove its diff equals the model's): what the
// CLI must print for the same files. An empty oldPath is nothing live.
func libraryDiff(t *testing.T, oldPath, newPath string, files []string) *replay.DiffReport {
	t.Helper()
	side := func(path string) replay.Side {
		rs, name := &rules.Ruleset{Policy: rules.Pass}, nothingLive
		if path != "" {
			var err error
			if rs, err = rules.ParseFile(path, rules.FileOptions{}); err != nil {
				t.Fatal(err)
			}
			name = path
		}
		in, err := loader.NewInstance(rs, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Close)
		return replay.Side{Name: name, Instance: in, Ruleset: rs}
	}
	rep, err := replay.Diff(side(oldPath), side(newPath), files, replay.Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches != 0 {
		t.Fatalf("%d frames where the datapath and the model disagree", rep.Mismatches)
	}
	return rep
}

// diffJSON runs a diff with --json and decodes it both ways: as the
// report, and as plain JSON to see its shape.
func diffJSON(t *testing.T, pin string, args ...string) (*replay.DiffReport, map[string]any) {
	t.Helper()
	out := mustRunCLI(t, pin, "", append([]string{"replay", "--diff", "--json"}, args...)...)
	var rep replay.DiffReport
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	return &rep, raw
}

// TestReplayDiffAgainstFile: a rule added and a policy flipped, against a
// ruleset file, count exactly what the reference model counts, and the
// JSON has its shape: numbers as numbers, lists never null, frames
// numbered from 1 with their file.
func TestReplayDiffAgainstFile(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	lockdown := filepath.Join(rulesetFiles, "lockdown.yaml")
	text, err := os.ReadFile(lockdown)
	if err != nil {
		t.Fatal(err)
	}
	added := writeFile(t, dir, "added.yaml", strings.Replace(string(text), "rules:\n", "rules:\n  - {proto: icmp, action: drop}\n", 1))
	flipped := writeFile(t, dir, "flipped.yaml", strings.Replace(string(text), "policy: drop", "policy: pass", 1))
	for _, tc := range []struct {
		name, next string
		check      func(*replay.DiffReport) bool
	}{
		{"identical", lockdown, func(r *replay.DiffReport) bool { return r.Changed == 0 }},
		{"rule added", added, func(r *replay.DiffReport) bool {
			return r.PassToDrop > 0 && len(r.Rules) == 1 && r.Rules[0].Rule.ID == 1 && r.Rules[0].Rule.Match == "proto icmp"
		}},
		{"policy flipped", flipped, func(r *replay.DiffReport) bool {
			return r.DropToPass > 0 && r.PassToDrop == 0 && len(r.Rules) == 1 && r.Rules[0].Rule.String() == "policy pass"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, raw := diffJSON(t, pin, append([]string{"--verify", "--rules", tc.next, "--against", lockdown}, diffFiles...)...)
			if want := libraryDiff(t, lockdown, tc.next, diffFiles); !reflect.DeepEqual(rep, want) {
				t.Errorf("the CLI reports\n%+v\nthe library\n%+v", rep, want)
			}
			// One frame the capture marks outgoing is learned, not run.
			if rep.Skipped != 2 || rep.Learned != 1 || rep.Truncated != 2 || rep.Frames != rep.Ran+5 || rep.Mismatches != 0 || !tc.check(rep) {
				t.Errorf("report %+v", rep)
			}
			if rep.Old.Name != lockdown || rep.New.Name != tc.next || rep.Old.Rules != 5 {
				t.Errorf("old %+v new %+v", rep.Old, rep.New)
			}
			checkDiffShape(t, raw)
		})
	}
}

// checkDiffShape: every list is a list (never null), every count and
// port a JSON number, every sample numbered from 1 in a named file.
func checkDiffShape(t *testing.T, raw map[string]any) {
	t.Helper()
	for _, k := range []string{"frames", "ran", "unchanged", "changed", "pass_to_drop", "drop_to_pass", "redecided", "skipped", "truncated", "mismatches"} {
		if _, ok := raw[k].(float64); !ok {
			t.Errorf("%s is %#v, want a number", k, raw[k])
		}
	}
	for _, k := range []string{"rules", "errors"} {
		if _, ok := raw[k].([]any); !ok {
			t.Errorf("%s is %#v, want a list", k, raw[k])
		}
	}
	for _, r := range raw["rules"].([]any) {
		from, ok := r.(map[string]any)["from"].([]any)
		if !ok || len(from) == 0 {
			t.Errorf("rule without changes: %#v", r)
		}
		for _, c := range from {
			samples, ok := c.(map[string]any)["samples"].([]any)
			if !ok || len(samples) == 0 {
				t.Errorf("change without samples: %#v", c)
			}
			for _, s := range samples {
				s := s.(map[string]any)
				n, ok := s["frame"].(float64)
				if !ok || n < 1 || !slicesContain(diffFiles, s["file"]) {
					t.Errorf("sample %#v", s)
				}
				for _, p := range []string{"sport", "dport"} {
					if v, ok := s[p]; !ok || (v != nil && reflect.TypeOf(v).Kind() != reflect.Float64) {
						t.Errorf("sample %s is %#v, want a number or null", p, s[p])
					}
				}
			}
		}
	}
}

func slicesContain(list []string, v any) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// TestReplayDiffAgainstLive: against the live ruleset (the default, and
// --against live) the report is the one against the file that was
// applied; apply --check --against-capture prints the same and changes
// nothing; with nothing applied, the old side is every frame passing.
func TestReplayDiffAgainstLive(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mixed := filepath.Join(rulesetFiles, "mixed.yaml")
	lockdown := filepath.Join(rulesetFiles, "lockdown.yaml")
	files := diffFiles[:3]

	// Nothing applied: apply --check compares with no filtering at all,
	// and creates nothing.
	out := mustRunCLI(t, pin, "", append([]string{"apply", "--check", "-f", lockdown, "--json", "--against-capture"}, files...)...)
	var check struct {
		Diff *replay.DiffReport `json:"diff"`
	}
	if err := json.Unmarshal([]byte(out), &check); err != nil {
		t.Fatal(err)
	}
	want := libraryDiff(t, "", lockdown, files)
	want.Verified = false // apply has no --verify
	if check.Diff == nil || check.Diff.Changed == 0 || !reflect.DeepEqual(check.Diff, want) {
		t.Errorf("against nothing live:\n%+v\nthe library, against every frame passing:\n%+v", check.Diff, want)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("apply --check created %s", pin)
	}

	mustRunCLI(t, pin, "", "apply", "-f", mixed)
	before := mustRunCLI(t, pin, "", "rule", "list", "--json")
	fromFile, _ := diffJSON(t, pin, append([]string{"--rules", lockdown, "--against", mixed}, files...)...)
	if fromFile.Changed == 0 {
		t.Fatal("lockdown changes nothing against mixed: the test proves nothing")
	}
	fromFile.Old.Name = "live"
	for _, args := range [][]string{{"--rules", lockdown}, {"--rules", lockdown, "--against", "live"}, {"--rules", "-", "--against", "live"}} {
		var rep replay.DiffReport
		out, err := runCLI(t, pin, mustRead(t, lockdown), append(append([]string{"replay", "--diff", "--json"}, args...), files...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if args[1] == "-" {
			rep.New.Name = lockdown
		}
		if !reflect.DeepEqual(&rep, fromFile) {
			t.Errorf("%v: against live\n%+v\nagainst the file applied\n%+v", args, rep, *fromFile)
		}
	}
	out = mustRunCLI(t, pin, "", "apply", "--check", "-f", lockdown, "--against-capture", files[0], "--against-capture", files[1], files[2])
	table := mustRunCLI(t, pin, "", append([]string{"replay", "--diff", "--rules", lockdown}, files...)...)
	if !strings.HasPrefix(out, lockdown+": ok: 5 rules, policy drop; nothing applied\n\n") || !strings.HasSuffix(out, table) {
		t.Errorf("apply --check --against-capture:\n%s\nwant the ok line and:\n%s", out, table)
	}
	if after := mustRunCLI(t, pin, "", "rule", "list", "--json"); after != before {
		t.Errorf("apply --check changed the live ruleset:\n%s\n%s", before, after)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplayDiffTable: the human report names the change, its rules, the
// frames and samples; no change says so; the exit status is 0 either way
// unless --fail-on-change.
func TestReplayDiffTable(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	old := writeFile(t, dir, "old.yaml", "policy: pass\nrules:\n  - {proto: udp, dport: 53, action: drop}\n")
	next := writeFile(t, dir, "new.yaml", "policy: pass\nrules:\n  - {proto: tcp, dport: 22, action: drop}\n  - {proto: udp, action: drop}\n")
	basic := filepath.Join(fixturePcaps, "basic.pcap")
	out := mustRunCLI(t, pin, "", "replay", "--diff", "--rules", next, "--against", old, basic)
	for _, row := range [][]string{
		{"rule", "1:", "drop", "proto", "tcp", "dport", "22", "policy", "pass", "pass->drop"},
		{"rule", "2:", "drop", "proto", "udp", "rule", "1:", "drop", "proto", "udp", "dport", "53", "drop,", "another", "rule"},
		{"NEW", "DECIDER", "OLD", "DECIDER", "CHANGE", "FRAMES", "FILE", "FRAME", "SAMPLE", "FLOW"},
	} {
		if !hasRow(out, row...) {
			t.Errorf("no row %q:\n%s", row, out)
		}
	}
	lib := libraryDiff(t, old, next, []string{basic})
	want := fmt.Sprintf("verdict changed: %d of %d frames (pass->drop: %d, drop->pass: %d); same verdict from another rule: %d; unchanged: %d\n",
		lib.PassToDrop+lib.DropToPass, lib.Ran, lib.PassToDrop, lib.DropToPass, lib.Redecided, lib.Unchanged)
	if !strings.HasPrefix(out, next+" (2 rules, policy pass) against "+old+" (1 rule, policy pass)\n") || !strings.Contains(out, want) {
		t.Errorf("want the header and %q:\n%s", want, out)
	}
	if _, err := runCLI(t, pin, "", "replay", "--diff", "--fail-on-change", "--rules", next, "--against", old, basic); err == nil ||
		!strings.Contains(err.Error(), "would change verdict or deciding rule (--fail-on-change)") {
		t.Errorf("--fail-on-change with changes: %v", err)
	}
	out, err := runCLI(t, pin, "", "replay", "--diff", "--fail-on-change", "--rules", old, "--against", old, basic)
	if err != nil || !strings.Contains(out, "no change: every frame run gets the same verdict from the same rule\n") {
		t.Errorf("no change: %v\n%s", err, out)
	}
}

// TestReplayDiffTextCountsEveryFrame: the text's frames line accounts for
// every frame as --json does: run under both, out (learned), skipped and
// truncated add up to the frames read.
func TestReplayDiffTextCountsEveryFrame(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	args := []string{"--rules", filepath.Join(rulesetFiles, "hostfw.yaml"), "--against", filepath.Join(rulesetFiles, "mixed.yaml"),
		filepath.Join(linkTypePcaps, "sll.pcap")}
	rep, _ := diffJSON(t, pin, args...)
	if rep.Learned == 0 || rep.Skipped == 0 || rep.Frames != rep.Ran+rep.Learned+rep.Skipped+rep.Truncated {
		t.Fatalf("the capture no longer has frames of every kind: %+v", rep)
	}
	out := mustRunCLI(t, pin, "", append([]string{"replay", "--diff"}, args...)...)
	want := fmt.Sprintf("frames: %d, run under both: %d, out (learned by the egress program, no verdict): %d, skipped: %d, truncated: %d",
		rep.Frames, rep.Ran, rep.Learned, rep.Skipped, rep.Truncated)
	if !strings.Contains(out, "\n"+want) {
		t.Errorf("want the line %q:\n%s", want, out)
	}
}

// TestReplayDiffRefusals: a bad ruleset on either side, and flags that do
// not go together, are one line on stderr and exit 1, printing nothing.
func TestReplayDiffRefusals(t *testing.T) {
	privtest.Require(t)
	exe := copyExecutable(t)
	dir := filepath.Dir(exe)
	good := writeFile(t, dir, "good.yaml", "policy: pass\n")
	bad := writeFile(t, dir, "bad.yaml", "policy: pass\nrules:\n  - {action: drop, dprot: 22}\n")
	basic, _ := filepath.Abs(filepath.Join(fixturePcaps, "basic.pcap"))
	pin := privtest.PinDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--diff", "--rules", bad, "--against", good, basic}, bad + `:3: unknown field "dprot"`},
		{[]string{"replay", "--diff", "--rules", good, "--against", bad, basic}, bad + `:3: unknown field "dprot"`},
		{[]string{"replay", "--diff", "--rules", filepath.Join(dir, "missing.yaml"), basic}, "missing.yaml"},
		{[]string{"replay", "--diff", "--against", good, basic}, "replay --diff: missing --rules NEW.yaml"},
		// Given empty ("$UNSET"), neither stands for the live ruleset, as
		// either left out does.
		{[]string{"replay", "--rules", "", basic}, "replay: --rules: an empty file name (leave the flag out for the live ruleset)"},
		{[]string{"replay", "--diff", "--rules", good, "--against", "", basic}, "replay: --against: an empty file name (leave the flag out for the live ruleset)"},
		{[]string{"replay", "--diff", "--rules", "-", "--against", "-", basic}, "cannot both read standard input"},
		{[]string{"replay", "--rules", good, "--against", good, basic}, "replay: --against goes with --diff"},
		{[]string{"replay", "--diff", "--bench", "--rules", good, basic}, "--diff and --bench do not go together"},
		{[]string{"replay", "--diff", "--summary", "--rules", good, basic}, "replay: --diff reports only the changes, by rule: drop --summary"},
		{[]string{"apply", "-f", good, "--against-capture", basic}, "--against-capture goes with --check"},
		{[]string{"apply", "-f", good, "--check", "--fail-on-change"}, "--fail-on-change goes with --against-capture"},
		{[]string{"apply", "-f", bad, "--check", "--against-capture", basic}, bad + ":3:"},
	} {
		stdout, stderr, code := runMain(t, exe, 0, append([]string{"--pin-dir", pin}, tc.args...)...)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "xdpfw: ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	// Both files are read before anything needs root: a bad one is the
	// error a user without root sees too.
	_, stderr, code := runMain(t, exe, 65534, "replay", "--diff", "--rules", good, "--against", bad, basic)
	if code != 1 || !strings.Contains(stderr, bad+":3:") {
		t.Errorf("a bad --against file without root: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("a refused command created %s", pin)
	}
}
