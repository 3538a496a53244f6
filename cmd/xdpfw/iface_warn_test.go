package main

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestUnknownInterfaceWarns: a rule naming an interface that does not
// exist is taken (it may come later) but warned about, once per name, by
// rule add and apply; one that exists is not.
func TestUnknownInterfaceWarns(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	run := func(stdin string, args ...string) string {
		t.Helper()
		_, stderr, err := runCLIBoth(pin, stdin, args...)
		if err != nil {
			t.Fatalf("xdpfw %s: %v", strings.Join(args, " "), err)
		}
		return stderr
	}
	run("", "set", "create", "unused") // a state, with no interface attached
	const warning = "warning: no interface xdpfwnone0 here"
	if got := run("", "rule", "add", "--iface", "xdpfwnone0", "--action", "drop"); strings.Count(got, warning) != 1 {
		t.Errorf("rule add: stderr %q, want one %q", got, warning)
	}
	if got := run("", "rule", "add", "--iface", "lo", "--action", "drop"); got != "" {
		t.Errorf("rule add --iface lo: stderr %q, want nothing", got)
	}
	file := "policy: pass\nrules: [{iface: xdpfwnone0, action: drop}, {iface: xdpfwnone0, dport: 22, action: pass}, {iface: lo, action: pass}]\n"
	if got := run(file, "apply", "-f", "-"); strings.Count(got, warning) != 1 || strings.Count(got, "warning") != 1 {
		t.Errorf("apply: stderr %q, want one %q and no other warning", got, warning)
	}
	run("", "detach", "--all")
}
