package serve

import (
	"testing"
	"time"
)

// TestSetFileHeldOpen: a feed written in place by a writer that pauses
// with it open (a download stalled) is not applied cut, however many
// polls see it as it is: two did, and the poll and a SIGHUP then took
// the set two elements of three. Its writer closing it whole has it
// applied as a change is, at the second poll after.
func TestSetFileHeldOpen(t *testing.T) {
	l := newFeedLab(t, "192.0.2.1")
	r := l.r
	held := func(what string, want int) {
		t.Helper()
		if ps := l.live(); len(ps) != want {
			t.Errorf("%s: the set holds %v, want %d elements\n%s", what, ps, want, l.out.String())
		}
		if st := r.current(); !st.ok {
			t.Errorf("%s: not applied: %s", what, st.err)
		}
	}
	w := startWriter(t, l.feed)
	w.write("192.0.2.1\n192.0.2.2\n")
	for i := range 3 {
		if r.sets.settled() {
			t.Errorf("poll %d: a feed open for writing would be applied", i)
			r.reload(triggerSetFile, true)
		}
	}
	held("polls while the feed is open for writing", 1)
	r.reload("SIGHUP", true)
	held("a SIGHUP while the feed is open for writing", 1)
	w.write("192.0.2.3\n")
	w.close()
	if r.sets.settled() {
		t.Errorf("the first poll seeing the feed closed would apply it")
	}
	if !r.sets.settled() {
		t.Fatalf("the second poll seeing the closed feed as it was would not apply it\n%s", l.out.String())
	}
	r.reload(triggerSetFile, true)
	held("the feed applied once closed", 3)
}

// TestSetFileAppenderKeptOpen: a feed an appender keeps open between its
// lines (tail -F log | awk >> ban.txt) is read once it has been quiet
// for heldQuiet, by a restarted serve's first reload too: that one has
// nothing read to fall back on, and failed (and the config with it) for
// as long as the appender ran, and the polls never applied its lines.
func TestSetFileAppenderKeptOpen(t *testing.T) {
	t.Parallel()
	l := newFeedLab(t, "192.0.2.1")
	w := startWriter(t, l.feed)
	w.write("192.0.2.1\n192.0.2.2\n")
	time.Sleep(heldQuiet + time.Second)
	if !l.r.sets.settled() && !l.r.sets.settled() {
		t.Errorf("two polls of a feed held open but quiet for %s would not apply it", heldQuiet)
	}
	restarted := &reloader{dir: l.pin, path: l.conf, log: newLogger(&l.out, time.Minute)}
	restarted.reload("start", true)
	if st := restarted.current(); !st.ok {
		t.Fatalf("a restart with the feed held open but quiet for %s: not applied: %s\n%s", heldQuiet, st.err, l.out.String())
	}
	if ps := l.live(); len(ps) != 2 {
		t.Errorf("the set holds %v, want the feed's 2 elements", ps)
	}
}
