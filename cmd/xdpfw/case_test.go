package main

import (
	"strings"
	"testing"
)

// TestCLIAnyCase: the words of attach --mode, --ct-state and capture
// --verdict, and of a ruleset file's ct-state and interface mode, are
// read in any case, as --proto, --action and policy are: they were
// refused in upper case. save writes them in lower case, and the file
// saved, its words upper-cased and the attachment in it, applies as
// unchanged (generic is generic) and saves the same.
func TestCLIAnyCase(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "ifcase0")
	if out := c.mustRun("attach", "--mode", "GENERIC", "ifcase0"); !strings.Contains(out, "generic mode") {
		t.Errorf("attach --mode GENERIC: %q", out)
	}
	c.mustRun("rule", "add", "--ct-state", "ESTABLISHED,Related", "--action", "PASS")
	c.mustRun("rule", "add", "--proto", "UDP", "--dport", "9", "--action", "Drop")
	c.mustRun("policy", "DROP")
	saved := c.mustRun("save")
	for _, want := range []string{"ct-state: established,related", "proto: udp", "action: drop", "policy: drop"} {
		if !strings.Contains(saved, want) {
			t.Errorf("save does not say %q:\n%s", want, saved)
		}
	}
	// save leaves attachments out; the file names the one made.
	upper := strings.NewReplacer("established,related", "ESTABLISHED,Related", "proto: udp", "proto: UDP",
		"action: pass", "action: PASS", "policy: drop", "interfaces: [{name: ifcase0, mode: Generic}]\npolicy: Drop").Replace(saved)
	file := writeFile(t, t.TempDir(), "upper.yaml", upper)
	if out := c.mustRun("apply", "-f", file); !strings.HasPrefix(out, "unchanged") {
		t.Errorf("apply of the saved file in upper case: %q, want unchanged\n%s", out, upper)
	}
	if again := c.mustRun("save"); again != saved {
		t.Errorf("save, apply in upper case, save changed the file:\n%s\nthen\n%s", saved, again)
	}
	// DROP read as drop: rule 1 passes, so nothing it decides is selected.
	c.wantFail("rule 1 passes the frames it decides, and only drops are selected", "capture", "--verdict", "DROP", "--rule", "1")
}
