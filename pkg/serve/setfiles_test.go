package serve

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestSetFilePolled: a set file the config names, in a directory of its
// own (no watch sees it), rewritten in place as a feed updater does, is
// applied once a poll has seen it as it is twice, not at the first poll
// (it may be half written); an unchanged one is not applied again, and
// one that went away (being replaced) waits as a change does.
func TestSetFilePolled(t *testing.T) {
	privtest.Require(t)
	pin, confDir, feedDir := privtest.PinDir(t), t.TempDir(), t.TempDir()
	feed := filepath.Join(feedDir, "feed.txt")
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(feed, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A new second's mtime, whatever the filesystem's clock grain.
		later := time.Now().Add(time.Duration(len(lines)) * time.Second)
		if err := os.Chtimes(feed, later, later); err != nil {
			t.Fatal(err)
		}
	}
	write("192.0.2.1")
	conf := filepath.Join(confDir, "xdpfw.yaml")
	if err := os.WriteFile(conf, []byte("policy: pass\nsets:\n  feed: {family: ipv4, file: "+feed+"}\nrules:\n  - {src: \"@feed\", action: drop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	live := func() []netip.Prefix {
		t.Helper()
		s, err := loader.Open(pin)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		defer s.Close()
		ps, err := s.SetElements("feed")
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	want := func(what string, addrs ...string) {
		t.Helper()
		var w []netip.Prefix
		for _, a := range addrs {
			w = append(w, netip.MustParsePrefix(a+"/32"))
		}
		if got := live(); !slices.Equal(got, w) {
			t.Errorf("%s: the set holds %v, want %v\n%s", what, got, w, out.String())
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
	if err := os.Remove(feed); err != nil {
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
	privtest.Require(t)
	pin, confDir, feedDir := privtest.PinDir(t), t.TempDir(), t.TempDir()
	feed := filepath.Join(feedDir, "feed.txt")
	if err := os.WriteFile(feed, []byte("192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(confDir, "xdpfw.yaml")
	if err := os.WriteFile(conf, []byte("policy: pass\nsets:\n  feed: {family: ipv4, file: "+feed+"}\nrules:\n  - {src: \"@feed\", action: drop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	held := func(what string, want int) {
		t.Helper()
		s, err := loader.Open(pin)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		defer s.Close()
		ps, err := s.SetElements("feed")
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != want {
			t.Errorf("%s: the set holds %v, want %d elements\n%s", what, ps, want, out.String())
		}
	}
	held("started", 1)
	// A feed of three being written in place: two lines so far.
	if err := os.WriteFile(feed, []byte("192.0.2.1\n192.0.2.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload("SIGHUP", true)
	held("a SIGHUP while the feed is being written", 1)
	r.reload(triggerRetry, true)
	held("a retry while the feed is being written", 1)
	if err := os.WriteFile(conf, []byte("policy: pass\nsets:\n  feed: {family: ipv4, file: "+feed+"}\nrules:\n  - {src: \"@feed\", action: drop, comment: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload("file changed", false)
	held("a change of the config while the feed is being written", 1)
	if st := r.current(); !st.ok {
		t.Errorf("a change of the config while the feed is being written, its set as last read: not applied: %s", st.err)
	}
	f, err := os.OpenFile(feed, os.O_WRONLY|os.O_APPEND, 0)
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
		t.Fatalf("the second poll seeing the feed as it was would not apply it\n%s", out.String())
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
	privtest.Require(t)
	pin, confDir, feedDir := privtest.PinDir(t), t.TempDir(), t.TempDir()
	feed := filepath.Join(feedDir, "feed.txt")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(feed, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("192.0.2.1\n")
	conf := filepath.Join(confDir, "xdpfw.yaml")
	if err := os.WriteFile(conf, []byte("policy: pass\nsets:\n  feed: {family: ipv4, file: "+feed+"}\nrules:\n  - {src: \"@feed\", action: drop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	if err := os.Remove(conf); err != nil {
		t.Fatal(err)
	}
	polls := func(n int) {
		for range n {
			if r.sets.settled() {
				r.reload(triggerSetFile, true)
			}
		}
	}
	write("192.0.2.1\n192.0.2.2\n")
	polls(6)
	write("192.0.2.1\n192.0.2.2\n192.0.2.3\n")
	polls(6)
	if st, n := r.current(), strings.Count(out.String(), "config not applied"); st.failures != 2 || n != 1 {
		t.Errorf("two feed changes with the config gone: %d failed reloads (want 2, one a change), %d logged (want 1):\n%s", st.failures, n, out.String())
	}
}
