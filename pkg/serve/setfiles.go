package serve

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The set files a config names (sets: {feed: {file: ...}}), which cron
// or a feed updater rewrites without touching the config: serve polls
// them (setPollEvery) and applies the config again once a changed one
// has been quiet for a whole poll. A feed downloaded in place (curl -o)
// is read only whole, then: applied half written, the set would shrink,
// and a drop set let through what its missing lines listed. Every reload
// reads them so, not only the poll's: a SIGHUP, a retry or a change of
// the config itself while a feed is being written would read it half
// written (setFiles.takeable). Such a reload takes the set as the file
// was last read whole instead: failing, a feed rewritten more often than
// the polls look would have had the config never applied again. A file
// another process holds open for writing is not quiet, however long it
// stays as it is, up to heldQuiet: a download stalled for two polls was
// applied cut (writers.go).

// stamp is what says a file changed: its size, modification and change
// times, and inode and device (a file renamed over it), or that it is not
// there (the zero stamp).
type stamp struct {
	there              bool
	size, mtime, ctime int64
	ino, dev           uint64
}

// look is a set file as the polls saw it.
type look struct {
	at      stamp // as the last poll saw it
	settled bool  // the poll before saw it so too: quiet for a poll
	// fired: a poll has had the config applied again for it as it is.
	// Once is enough: a config that cannot be read reads no set file,
	// and a poll that had it tried again every time was a failed
	// reload, and its log line, every 10 s.
	fired bool
}

// setFiles are the set files the last parse named, the stamp of each as
// it was last read, and as the polls saw it.
type setFiles struct {
	mu     sync.Mutex
	paths  []string         // named by the last parse: the ones polled
	taken  map[string]stamp // as each was just before a parse last read it
	polled map[string]look
	// last is what each set file gave the last parse that used it, for
	// a reload that finds it not takeable: the sets of the last good
	// parse, and those a failed one read since (a copy of their
	// elements, held between reloads).
	last map[setRead][]netip.Prefix
}

// setRead is a set file read for a set of a family.
type setRead struct {
	path string
	fam  rules.Family
}

// reading wraps read, the parser's reader of set files, so that a file
// is read only when takeable, else given as it was last read, and the
// files read are recorded with their stamps; done, told whether the
// parse succeeded, makes them the ones polls compare with.
func (f *setFiles) reading(read func(string, rules.Family) ([]netip.Prefix, error)) (wrapped func(string, rules.Family) ([]netip.Prefix, error), done func(parsed bool)) {
	var paths []string
	took := map[string]stamp{}
	used := map[setRead][]netip.Prefix{}
	wrapped = func(path string, fam rules.Family) ([]netip.Prefix, error) {
		// Once, though two sets name it: looked at twice a poll, it
		// was seen as it is by "two polls" at the first.
		if !slices.Contains(paths, path) {
			paths = append(paths, path)
		}
		k := setRead{path, fam}
		now := stampOf(path)
		why := fmt.Sprintf("changed since it was read and has not yet stayed as it is for a whole look (every %s): it is read once it has", setPollEvery)
		if pid := writingNow(path); pid != 0 {
			// Mid-way, its writer paused (writers.go).
			why = fmt.Sprintf("is open for writing (by process %d): it is read once closed, or unchanged for %s, and as it is for a whole look (every %s)", pid, heldQuiet, setPollEvery)
		} else if f.takeable(path, now) {
			ps, err := read(path, fam)
			if stampOf(path) == now {
				took[path] = now
				if err == nil {
					used[k] = ps
				}
				return ps, err
			}
			// Written to as it was read (an updater starting on it):
			// what was read may be cut.
			why = fmt.Sprintf("changed as it was read: it is read once it has stayed as it is for a whole look (every %s)", setPollEvery)
		}
		// Its change is the polls' to apply, once whole.
		if ps, ok := f.lastRead(k); ok {
			used[k] = ps
			return ps, nil
		}
		return nil, fmt.Errorf("%s %s, never half written", path, why)
	}
	done = func(parsed bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.paths = paths
		if f.taken == nil {
			f.taken = map[string]stamp{}
		}
		for p, s := range took {
			f.taken[p] = s
		}
		// A good parse names every set file the config does: the
		// others are gone from it, and forgotten (a config naming a
		// new file at each change made them more as long as serve
		// ran). A failed one may have stopped short.
		if !parsed && f.last != nil {
			for k, ps := range used {
				f.last[k] = ps
			}
			return
		}
		f.last = used
		if parsed {
			unnamed := func(p string) bool { return !slices.Contains(paths, p) }
			maps.DeleteFunc(f.taken, func(p string, _ stamp) bool { return unnamed(p) })
			maps.DeleteFunc(f.polled, func(p string, _ look) bool { return unnamed(p) })
		}
	}
	return wrapped, done
}

// lastRead is what k's file gave when last read, if it was.
func (f *setFiles) lastRead(k setRead) ([]netip.Prefix, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ps, ok := f.last[k]
	return ps, ok
}

// takeable reports whether path, as stamped now, may be read: as it was
// last read (what is live is it), or as two polls in a row saw it. A
// file never read nor polled (at start, or newly named) has nothing to
// compare with: it is read as it is, where waiting two polls would
// leave the host without its config that long. Once read or polled, a
// file is known until a config parses without naming it, one that fails
// to parse meanwhile included; named again after, it is a new one.
func (f *setFiles) takeable(path string, now stamp) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	taken, read := f.taken[path]
	l, polled := f.polled[path]
	switch {
	case !read && !polled:
		return true
	case read && now == taken:
		return true
	}
	return polled && l.settled && now == l.at
}

// settled reports whether a set file changed since it was read and has
// stayed as it is since the last poll: the config is to be applied
// again, once for the files as they are. The first poll that sees a
// change only notes it.
func (f *setFiles) settled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.polled == nil {
		f.polled = map[string]look{}
	}
	var changed []string
	fresh, quiet := false, true
	for _, p := range f.paths {
		now := stampOf(p)
		l, seen := f.polled[p]
		same := seen && now == l.at
		taken, read := f.taken[p]
		change := !read || now != taken
		if same && change && writingNow(p) != 0 {
			// Still open for writing: its writer paused (a download
			// stalled) is no writer done, for up to heldQuiet
			// (writers.go).
			same = false
		}
		l = look{at: now, settled: same, fired: same && l.fired}
		f.polled[p] = l
		if change {
			changed = append(changed, p)
			fresh, quiet = fresh || !l.fired, quiet && l.settled
		}
	}
	if !fresh || !quiet {
		return false
	}
	for _, p := range changed {
		l := f.polled[p]
		l.fired = true
		f.polled[p] = l
	}
	return true
}

// stampOf is path's stamp now.
func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	s := stamp{there: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ctime, s.ino, s.dev = st.Ctim.Nano(), st.Ino, st.Dev
	}
	return s
}

// setPollEvery is how often the set files are looked at: a changed one
// is applied at the second poll that sees it as it is, so 10 to 20 s
// after it was last written.
const setPollEvery = 10 * time.Second

// triggerSetFile is the reload of a set file's change.
const triggerSetFile = "set file changed"
