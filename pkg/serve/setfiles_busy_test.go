package serve

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestSetFileBusyFeedConfigApplies: a feed rewritten more often than
// the polls look (every few seconds) is never seen as it is by two
// polls in a row; a change of the config, or a SIGHUP, is applied all
// the same, with the set as it was last read whole. Failing for the
// feed, the config could never be applied again while the feed ran.
func TestSetFileBusyFeedConfigApplies(t *testing.T) {
	privtest.Require(t)
	pin, confDir, feedDir := privtest.PinDir(t), t.TempDir(), t.TempDir()
	feed := filepath.Join(feedDir, "feed.txt")
	lines := []string{"192.0.2.1"}
	write := func() {
		t.Helper()
		if err := os.WriteFile(feed, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	conf := filepath.Join(confDir, "xdpfw.yaml")
	config := func(extra string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte("policy: pass\nsets:\n  feed: {family: ipv4, file: "+feed+"}\nrules:\n  - {src: \"@feed\", action: drop}\n"+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config("")
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	// The feed changes between every two polls.
	busy := func() {
		for i := range 3 {
			lines = append(lines, fmt.Sprintf("192.0.2.%d", len(lines)+1))
			write()
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
		s, err := loader.Open(pin)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		ps, err := s.SetElements("feed")
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 {
			t.Errorf("%s: the set holds %v, want the one element last read whole", what, ps)
		}
		st, err := loader.ReadStatus(pin)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rules != rules {
			t.Errorf("%s: %d rules live, want %d\n%s", what, st.Rules, rules, out.String())
		}
	}
	busy()
	config("  - {proto: udp, dport: 9, action: drop}\n")
	r.reload("file changed", false)
	check("a config changed while the feed is busy", 2)
	busy()
	config("  - {proto: udp, dport: 9, action: drop}\n  - {proto: udp, dport: 10, action: drop}\n")
	r.reload("SIGHUP", true)
	check("a SIGHUP while the feed is busy", 3)
}
