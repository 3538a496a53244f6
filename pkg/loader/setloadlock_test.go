package loader

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestLoadBlocklistParsesUnlocked: a set load still reading its list
// holds no lock on the pin directory, so a rule added meanwhile does not
// wait for it (it waited for the whole read and parse); the load makes its
// change once the list ends.
func TestLoadBlocklistParsesUnlocked(t *testing.T) {
	s := openLive(t)
	if err := s.CreateSet("feed", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	s.lock.Close() // let go; the cleanup's Close closes it again, harmlessly
	type loaded struct {
		res SetResult
		err error
	}
	done := make(chan loaded, 1)
	pr, pw := io.Pipe()
	go func() {
		res, _, err := LoadBlocklist(s.Dir(), "feed", pr, blocklist.Options{Name: "feed.txt"}, nil)
		done <- loaded{res, err}
	}()
	// A pipe's write returns once it is read: the load is parsing.
	if _, err := io.WriteString(pw, "192.0.2.0/24\n"); err != nil {
		t.Fatal(err)
	}
	// A wait for the lock ends the rule's opening at once.
	ctx, waited := context.WithCancel(context.Background())
	defer waited()
	LockWaitNotice = func(string, string) { waited() }
	t.Cleanup(func() { LockWaitNotice = nil })
	s2, err := OpenContext(ctx, s.Dir())
	if err != nil {
		pw.CloseWithError(errors.New("test failed"))
		<-done
		t.Fatalf("a rule added while set load reads its list waited for the lock: %v", err)
	}
	_, err = s2.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("198.51.100.0/24")}})
	s2.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(pw, "2001:db8::/32\n"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	l := <-done
	if l.err != nil || l.res.Added != 2 || l.res.Elements != 2 {
		t.Fatalf("load: %+v, %v; want 2 added, 2 elements", l.res, l.err)
	}
	got, err := s.SetElements("feed")
	if err != nil || len(got) != 2 {
		t.Fatalf("set feed holds %v (%v), want the list's 2 prefixes", got, err)
	}
}

// TestLoadBlocklistSetMadeAgain: a set destroyed and made again of
// another family while set load reads its list is not loaded with a list
// parsed for the old family: refused, the new set left as it is. (An IPv6
// set's load skipping IPv4 lines loaded the rest into an inet set.)
func TestLoadBlocklistSetMadeAgain(t *testing.T) {
	s := openLive(t)
	if err := s.CreateSet("feed", rules.FamilyIPv6); err != nil {
		t.Fatal(err)
	}
	s.lock.Close() // let go; the cleanup's Close closes it again, harmlessly
	done := make(chan error, 1)
	pr, pw := io.Pipe()
	go func() {
		_, _, err := LoadBlocklist(s.Dir(), "feed", pr, blocklist.Options{Name: "feed.txt", SkipInvalid: true}, nil)
		done <- err
	}()
	if _, err := io.WriteString(pw, "192.0.2.0/24\n"); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.DestroySet("feed"); err != nil {
		t.Fatal(err)
	}
	if err := s2.CreateSet("feed", rules.FamilyAny); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := io.WriteString(pw, "2001:db8::/32\n"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "made again as inet") {
		t.Fatalf("load into a set made again: %v, want it refused", err)
	}
	if got, err := s.SetElements("feed"); err != nil || len(got) != 0 {
		t.Fatalf("set feed holds %v (%v), want it empty", got, err)
	}
}
