package serve

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestSetFileBusyFeedConfigApplies: a feed rewritten more often than
// the polls look (every few seconds) is never seen as it is by two
// polls in a row; a change of the config, or a SIGHUP, is applied all
// the same, with the set as it was last read whole. Failing for the
// feed, the config could never be applied again while the feed ran.
func TestSetFileBusyFeedConfigApplies(t *testing.T) {
	lines := []string{"192.0.2.1"}
	l := newFeedLab(t, lines...)
	r := l.r
	// The feed changes between every two polls.
	busy := func() {
		for i := range 3 {
			lines = append(lines, fmt.Sprintf("192.0.2.%d", len(lines)+1))
			l.writeFeed(lines...)
			if r.sets.settled() {
				t.Fatalf("poll %d: a feed changed since the last poll would be applied", i)
			}
		}
	}
	check := func(what string, rules int) {
		t.Helper()
		if st := r.current(); !st.ok {
			t.Errorf("%s: not applied: %s", what, st.err)
		}
		if ps := l.live(); len(ps) != 1 {
			t.Errorf("%s: the set holds %v, want the one element last read whole", what, ps)
		}
		st, err := loader.ReadStatus(l.pin)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rules != rules {
			t.Errorf("%s: %d rules live, want %d\n%s", what, st.Rules, rules, l.out.String())
		}
	}
	busy()
	l.writeConfig("  - {proto: udp, dport: 9, action: drop}\n")
	r.reload("file changed", false)
	check("a config changed while the feed is busy", 2)
	busy()
	l.writeConfig("  - {proto: udp, dport: 9, action: drop}\n  - {proto: udp, dport: 10, action: drop}\n")
	r.reload("SIGHUP", true)
	check("a SIGHUP while the feed is busy", 3)
}
