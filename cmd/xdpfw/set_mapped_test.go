package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetFileMapped: an IPv4 address written IPv4-mapped in a set file
// is refused as set add refuses it, by file and line, changing nothing:
// by set load (--skip-invalid skips it as a bad line), and in a ruleset
// file's set file:. A ruleset file's own elements: take one with a
// warning at its line, as a state holding one saves it, and that save
// applies unchanged.
func TestSetFileMapped(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	mustRunCLI(t, pin, "", "set", "create", "s")
	feed := filepath.Join(dir, "feed.txt")
	if err := os.WriteFile(feed, []byte("192.0.2.0/24\n::ffff:198.51.100.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const why = "::ffff:198.51.100.7/128 is IPv4 198.51.100.7/32 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (write 198.51.100.7/32)"
	refused(t, pin, "", "set load: "+feed+":2: "+why, "set", "load", "s", feed)
	if out := mustRunCLI(t, pin, "", "set", "load", "s", feed, "--skip-invalid", "--quiet"); out != "set s: 1 added, 0 deleted, 0 already there; 1 element\n" {
		t.Errorf("set load --skip-invalid: %q", out)
	}
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte("policy: pass\nsets:\n  s:\n    file: feed.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused(t, pin, "", "rules.yaml:4: set s: "+feed+":2: "+why, "apply", "-f", file)

	inline := "policy: pass\nsets:\n  s:\n    elements:\n      - 192.0.2.0/24\n      - ::ffff:198.51.100.7\n"
	warn := "xdpfw: warning: <stdin>:6: set s: " + why + "\n"
	if _, errOut, err := runCLIBoth(pin, inline, "apply", "-f", "-"); err != nil || errOut != warn {
		t.Fatalf("apply of the elements: %v, stderr %q, want the warning %q", err, errOut, warn)
	}
	saved := mustRunCLI(t, pin, "", "save")
	if out, errOut, err := runCLIBoth(pin, saved, "apply", "-f", "-"); err != nil || !strings.HasPrefix(out, "unchanged") || !strings.Contains(errOut, why) {
		t.Errorf("save | apply -f -: %v, printed %q, stderr %q; want unchanged, with the warning", err, out, errOut)
	}
}
