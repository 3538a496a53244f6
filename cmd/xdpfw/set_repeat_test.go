package main

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestSetRepeatedElements: an element given twice is one element, and is
// counted as already there the second time, in set add and set load
// alike (added and already there are every element given); a ruleset
// file's set takes it once too, and set list counts each element once.
func TestSetRepeatedElements(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, "", "set", "create", "s")
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"set", "add", "s", "10.0.0.1", "10.0.0.1", "10.0.0.2"}, "set s: 2 added, 0 deleted, 1 already there; 2 elements\n"},
		{"", []string{"set", "add", "s", "10.0.0.1", "10.0.0.1"}, "set s: 0 added, 0 deleted, 2 already there; 2 elements\n"},
		{"10.0.0.1\n10.0.0.1\n10.0.0.3\n10.0.0.3\n", []string{"set", "load", "s", "-", "--quiet"}, "set s: 1 added, 1 deleted, 3 already there; 2 elements\n"},
	} {
		if got := mustRunCLI(t, pin, tc.stdin, tc.args...); got != tc.want {
			t.Errorf("xdpfw %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	mustRunCLI(t, pin, "policy: pass\nsets:\n  s:\n    elements: [10.0.0.9, 10.0.0.9, 10.0.0.8]\n", "apply", "-f", "-")
	if got := mustRunCLI(t, pin, "", "set", "list", "s"); got != "10.0.0.8/32\n10.0.0.9/32\n" {
		t.Errorf("set list s after a file listing 10.0.0.9 twice: %q", got)
	}
	if got := mustRunCLI(t, pin, "", "set", "list"); !strings.Contains(got, "s     inet    2 ") {
		t.Errorf("set list: %q, want s with 2 elements", got)
	}
}
