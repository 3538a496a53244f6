package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestSetLoadBadLinesNamed: a list with more bad lines than are
// reported names each reported line's number, and where reading
// stopped, in the one error line the CLI prints (cut to maxErrorLine):
// the messages, each quoting its line, came first and cut the numbers
// past the fifth off.
func TestSetLoadBadLinesNamed(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, "", "set", "create", "s")
	var list strings.Builder
	for i := range 12 {
		fmt.Fprintf(&list, "192.0.2.%d\nnot-an-address-at-all-%d\n", i, i)
	}
	_, err := runCLI(t, pin, list.String(), "set", "load", "s", "-", "--quiet")
	if err == nil {
		t.Fatal("a list of bad lines loaded")
	}
	line := errorLine(err)
	for _, want := range []string{"(2, 4, 6, 8, 10, 12, 14, 16, 18, 20;", "reading stopped at line 22"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line %q lacks %q", line, want)
		}
	}
}

// TestSetLoadSkippedCounted: set load --skip-invalid --json counts the
// lines it skipped: they were on standard error only, so a script
// reading the JSON could not tell a feed half bad from a clean one.
func TestSetLoadSkippedCounted(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	mustRunCLI(t, pin, "", "set", "create", "s", "--family", "ipv4")
	var res map[string]any
	out := mustRunCLI(t, pin, "192.0.2.1\n2001:db8::1\nnonsense\n192.0.2.2\n", "set", "load", "s", "-", "--skip-invalid", "--json", "--quiet")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res["skipped"] != 2.0 || res["added"] != 2.0 {
		t.Errorf("set load --skip-invalid --json of 2 good and 2 bad lines: %s", out)
	}
}
