package serve

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestSetFileWrittenAsRead: a set file as it was last read, so takeable,
// that a feed updater starts rewriting in place (curl -o) while a reload
// reads it is not taken as read, cut: the reload takes the set as last
// read whole, and the file stays one the polls see changed.
func TestSetFileWrittenAsRead(t *testing.T) {
	feed := filepath.Join(t.TempDir(), "feed.txt")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(feed, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const whole = "192.0.2.1\n192.0.2.2\n"
	write(whole)
	var f setFiles
	parse := func(during func()) []netip.Prefix {
		t.Helper()
		read := blocklist.RulesetOptions().ReadSet
		wrapped, done := f.reading(func(path string, fam rules.Family) ([]netip.Prefix, error) {
			during()
			return read(path, fam)
		})
		ps, err := wrapped(feed, rules.FamilyIPv4)
		done(err == nil)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")}
	if got := parse(func() {}); !slices.Equal(got, want) {
		t.Fatalf("first read: %v, want %v", got, want)
	}
	// The updater truncates the file and has written its first line
	// when the read comes.
	if got := parse(func() { write("192.0.2.1\n") }); !slices.Equal(got, want) {
		t.Errorf("a set file written as it was read gave %v, want %v as last read whole", got, want)
	}
	f.settled()
	if !f.settled() {
		t.Errorf("the file written as it was read, then as it is for two polls, would not be applied")
	}
}

// TestSetFileNamedTwice: a set file two sets name (one feed for two
// rules' sets) is polled once per poll, not once per set: looked at
// twice in a poll it was "seen as it is by two polls" at the first
// poll after a change, and a reload then took it possibly half written.
func TestSetFileNamedTwice(t *testing.T) {
	feed := filepath.Join(t.TempDir(), "feed.txt")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(feed, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("192.0.2.1\n192.0.2.2\n")
	var f setFiles
	parse := func() []netip.Prefix {
		t.Helper()
		wrapped, done := f.reading(blocklist.RulesetOptions().ReadSet)
		var all []netip.Prefix
		var err error
		for range 2 {
			var ps []netip.Prefix
			if ps, err = wrapped(feed, rules.FamilyIPv4); err != nil {
				break
			}
			all = append(all, ps...)
		}
		done(err == nil)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	if got := len(parse()); got != 4 {
		t.Fatalf("first read: %d elements, want 2 twice", got)
	}
	write("192.0.2.1\n") // being rewritten
	if f.settled() {
		t.Errorf("the first poll after a change would apply it")
	}
	if got := len(parse()); got != 4 {
		t.Errorf("a reload after one poll took the file it saw changed: %d elements, want 2 twice as last read whole", got)
	}
}

// TestSetFilesForgottenOnceUnnamed: a serve whose config names a new set
// file at each change (a feed kept as dated files) knows only the files
// its config names, not every one it ever named: the stamps were kept
// for as long as serve ran, one more at each change.
func TestSetFilesForgottenOnceUnnamed(t *testing.T) {
	dir := t.TempDir()
	var f setFiles
	for i := range 20 {
		feed := filepath.Join(dir, fmt.Sprintf("feed-%d.txt", i))
		if err := os.WriteFile(feed, []byte("192.0.2.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wrapped, done := f.reading(blocklist.RulesetOptions().ReadSet)
		_, err := wrapped(feed, rules.FamilyIPv4)
		done(err == nil)
		if err != nil {
			t.Fatal(err)
		}
		f.settled()
	}
	if len(f.taken) != 1 || len(f.polled) != 1 || len(f.last) != 1 {
		t.Errorf("twenty configs each naming another set file: %d stamps as read, %d as polled, %d sets as read kept, want 1 each", len(f.taken), len(f.polled), len(f.last))
	}
}
