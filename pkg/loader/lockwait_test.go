package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLockWaitSaysWhoHolds: a second Open of a pin directory another
// holder has locked says, once, that it waits and who holds the lock,
// then gets the state when the holder lets go.
func TestLockWaitSaysWhoHolds(t *testing.T) {
	s := openLive(t)
	notices := make(chan string, 4)
	LockWaitNotice = func(dir, holder string) { notices <- dir + ": " + holder }
	t.Cleanup(func() { LockWaitNotice = nil })
	opened := make(chan error, 1)
	go func() {
		s2, err := Open(s.Dir())
		if err == nil {
			s2.Close()
		}
		opened <- err
	}()
	var notice string
	select {
	case notice = <-notices:
	case err := <-opened:
		t.Fatalf("the second Open did not wait for the lock (err %v)", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no notice in 10 s")
	}
	if want := fmt.Sprintf("%s: pid %d (", s.Dir(), os.Getpid()); !strings.HasPrefix(notice, want) {
		t.Errorf("notice %q, want it to start %q", notice, want)
	}
	select {
	case err := <-opened:
		t.Fatalf("the second Open returned while the lock was held (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	s.lock.Close() // let go; the cleanup's Close closes it again, harmlessly
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
}
