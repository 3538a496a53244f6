package main

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestSetDelCoveredNamed: set del of an address that is no element but
// lies in one (a host of a blocked range) names the element that still
// matches it, in both families: it said only "not in set", though the
// host's frames were dropped by the range; nothing changes.
func TestSetDelCoveredNamed(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, "", "set", "create", "s")
	mustRunCLI(t, pin, "", "set", "add", "s", "10.0.0.0/8", "10.0.1.0/24", "2001:db8::/40")
	for del, want := range map[string]string{
		"10.0.1.5":    "10.0.1.5/32 is not in set s, which matches it through its element 10.0.1.0/24",
		"10.2.0.0/16": "10.2.0.0/16 is not in set s, which matches it through its element 10.0.0.0/8",
		"2001:db8::1": "2001:db8::1/128 is not in set s, which matches it through its element 2001:db8::/40",
		"192.0.2.1":   "192.0.2.1/32 is not in set s",
	} {
		if _, err := runCLI(t, pin, "", "set", "del", "s", del); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("set del s %s: %v, want %q", del, err, want)
		}
	}
	if got := mustRunCLI(t, pin, "", "set", "list", "s"); got != "10.0.0.0/8\n10.0.1.0/24\n2001:db8::/40\n" {
		t.Errorf("set list s after refused deletes: %q", got)
	}
}
