package main

import (
	"strings"
	"testing"
)

// TestStatsInterfaces: stats --interfaces prints the per-interface table
// alone, as --interfaces --json gives those counters alone; without
// --json the flag was taken and ignored (the totals printed).
func TestStatsInterfaces(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "ifs0")
	c.mustRun("attach", "ifs0", "--mode", "generic")
	defer c.run("detach", "--all")
	out := c.mustRun("stats", "--interfaces")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "INTERFACE ") || !strings.HasPrefix(lines[1], "ifs0 ") {
		t.Errorf("stats --interfaces printed:\n%s\nwant the INTERFACE table alone, a row for ifs0", out)
	}
	if all := c.mustRun("stats"); !strings.Contains(all, "VERDICT") || !strings.Contains(all, "\nINTERFACE ") {
		t.Errorf("stats printed:\n%s\nwant the totals, then the interfaces", all)
	}
}
