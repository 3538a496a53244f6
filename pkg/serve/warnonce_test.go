package serve

import (
	"strings"
	"testing"
)

// TestWarningsOncePerChange: a rule's warning (here a tcp-flags list
// nftables reads otherwise) is logged by the reload that applies the
// config, and again by the operator's own (SIGHUP, a change of the
// config), but not by each routine one (a set file's poll, a retry, the
// link watch) that finds the same: a feed updated every few minutes
// repeated it at each update.
func TestWarningsOncePerChange(t *testing.T) {
	l := newFeedLab(t, "192.0.2.1")
	l.writeConfig("  - {tcp-flags: \"syn,ack\", action: drop}\n")
	const warning = "tcp-flags read otherwise in nftables"
	count := func(what string, want int) {
		t.Helper()
		if st := l.r.current(); !st.ok {
			t.Fatalf("%s: not applied: %s", what, st.err)
		}
		if got := strings.Count(l.out.String(), warning); got != want {
			t.Errorf("%s: the warning logged %d times, want %d\n%s", what, got, want, l.out.String())
		}
	}
	l.r.reload("file changed", false)
	count("the config changed", 1)
	l.r.reload(triggerSetFile, true)
	l.r.reload(triggerRetry, true)
	l.r.reload(triggerLink("eth9"), true)
	count("three routine reloads", 1)
	l.r.reload("SIGHUP", true)
	count("a SIGHUP", 2)
	l.writeConfig("  - {tcp-flags: \"syn,ack\", action: drop}\n  - {tcp-flags: \"fin,rst\", action: drop}\n")
	l.r.reload(triggerSetFile, true)
	count("a routine reload finding another warning", 4)
}
