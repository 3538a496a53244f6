package serve

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSetFilePolled: a set file the config names, in a directory of its
// own (no watch sees it), rewritten in place as a feed updater does, is
// applied once a poll has seen it as it is twice, not at the first poll
// (it may be half written); an unchanged one is not applied again, and
// one that went away (being replaced) waits as a change does.
func TestSetFilePolled(t *testing.T) {
	l := newFeedLab(t, "192.0.2.1")
	r := l.r
	write := func(lines ...string) {
		t.Helper()
		l.writeFeed(lines...)
		// A new second's mtime, whatever the filesystem's clock grain.
		later := time.Now().Add(time.Duration(len(lines)) * time.Second)
		if err := os.Chtimes(l.feed, later, later); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, addrs ...string) {
		t.Helper()
		var w []netip.Prefix
		for _, a := range addrs {
			w = append(w, netip.MustParsePrefix(a+"/32"))
		}
		if got := l.live(); !slices.Equal(got, w) {
			t.Errorf("%s: the set holds %v, want %v\n%s", what, got, w, l.out.String())
		}
	}
	want("started", "192.0.2.1")
	if r.sets.settled() {
		t.Errorf("a poll with no set file changed would apply the config again")
	}
	write("192.0.2.1", "192.0.2.2")
	if r.sets.settled() {
		t.Errorf("the first poll seeing a change would apply a file that may be half written")
	}
	if !r.sets.settled() {
		t.Fatalf("the second poll seeing the file as it was would not apply it")
	}
	r.reload(triggerSetFile, true)
	want("applied after two polls", "192.0.2.1", "192.0.2.2")
	if r.sets.settled() {
		t.Errorf("a poll after the change was applied would apply it again")
	}
	// Replaced: gone a moment, then there with other contents.
	if err := os.Remove(l.feed); err != nil {
		t.Fatal(err)
	}
	if r.sets.settled() {
		t.Errorf("a file gone at the first poll would be applied")
	}
	write("192.0.2.3", "192.0.2.4", "192.0.2.5")
	if r.sets.settled() {
		t.Errorf("a file seen changed again would be applied at once")
	}
	if !r.sets.settled() {
		t.Fatalf("the replaced file, quiet for a poll, would not be applied")
	}
	r.reload(triggerSetFile, true)
	want("replaced", "192.0.2.3", "192.0.2.4", "192.0.2.5")
}

// TestSetFileNotTakenHalfWritten: a set file changed since it was read
// is not read by a reload that is not the poll's (a SIGHUP, the retry
// of a config that failed, a change of the config) before two polls
// have seen it as it is: it may be half written. Such a reload takes
// the set as last read; the polls then apply the file whole.
func TestSetFileNotTakenHalfWritten(t *testing.T) {
	l := newFeedLab(t, "192.0.2.1")
	r := l.r
	held := func(what string, want int) {
		t.Helper()
		if ps := l.live(); len(ps) != want {
			t.Errorf("%s: the set holds %v, want %d elements\n%s", what, ps, want, l.out.String())
		}
	}
	held("started", 1)
	// A feed of three being written in place: two lines so far.
	l.writeFeed("192.0.2.1", "192.0.2.2")
	r.reload("SIGHUP", true)
	held("a SIGHUP while the feed is being written", 1)
	r.reload(triggerRetry, true)
	held("a retry while the feed is being written", 1)
	l.writeConfig("  - {proto: udp, dport: 9, action: drop}\n")
	r.reload("file changed", false)
	held("a change of the config while the feed is being written", 1)
	if st := r.current(); !st.ok {
		t.Errorf("a change of the config while the feed is being written, its set as last read: not applied: %s", st.err)
	}
	f, err := os.OpenFile(l.feed, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("192.0.2.3\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if r.sets.settled() {
		t.Errorf("the first poll seeing the feed would apply it")
	}
	r.reload("SIGHUP", true)
	held("a SIGHUP after one poll saw the feed", 1)
	if !r.sets.settled() {
		t.Fatalf("the second poll seeing the feed as it was would not apply it\n%s", l.out.String())
	}
	r.reload(triggerSetFile, true)
	held("the feed applied after two polls", 3)
	if st := r.current(); !st.ok {
		t.Errorf("the reload after two polls failed: %s", st.err)
	}
}

// TestSetFileUnreadableConfigOnce: with the config unreadable (gone), a
// set file's change has it tried again once, not at every poll after,
// and that failure is logged once: another change failing the same way
// is not news.
func TestSetFileUnreadableConfigOnce(t *testing.T) {
	l := newFeedLab(t, "192.0.2.1")
	r := l.r
	if err := os.Remove(l.conf); err != nil {
		t.Fatal(err)
	}
	polls := func(n int) {
		for range n {
			if r.sets.settled() {
				r.reload(triggerSetFile, true)
			}
		}
	}
	l.writeFeed("192.0.2.1", "192.0.2.2")
	polls(6)
	l.writeFeed("192.0.2.1", "192.0.2.2", "192.0.2.3")
	polls(6)
	if st, n := r.current(), strings.Count(l.out.String(), "config not applied"); st.failures != 2 || n != 1 {
		t.Errorf("two feed changes with the config gone: %d failed reloads (want 2, one a change), %d logged (want 1):\n%s", st.failures, n, l.out.String())
	}
}
