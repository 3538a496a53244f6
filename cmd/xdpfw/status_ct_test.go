package main

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestStatusConntrackSize: status names the conntrack table's size as a
// size: it said "conntrack: 262144 flows" of a table holding none, read
// as that many flows tracked (ct stats: entries 0 of 262144).
func TestStatusConntrackSize(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	for _, c := range []struct{ ruleset, want string }{
		{"policy: pass\nrules:\n  - {proto: udp, dport: 9, action: drop}\n", "conntrack:     idle, a table of 1000 flows (no rule and no drop policy reads it)\n"},
		{"policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n", "conntrack:     a table of 262144 flows (xdpfw ct stats: the flows in it)\n"},
	} {
		mustRunCLI(t, pin, c.ruleset, "apply", "-f", "-")
		if out := mustRunCLI(t, pin, "", "status"); !strings.Contains(out, c.want) {
			t.Errorf("status:\n%s\nwant the line %q", out, c.want)
		}
	}
}
