package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestLockWaitDirRemoved: a command waiting for the lock while the holder
// removes the pin directory (the last detach, detach --all) works on the
// directory of that name as it is when it gets the lock: never alongside
// a process that made the directory again and holds its lock (two
// changes at once), and a creating one makes the state anew rather than
// failing on the directory gone.
func TestLockWaitDirRemoved(t *testing.T) {
	s := openLive(t)
	dir := s.Dir()
	waiting := make(chan struct{}, 4)
	LockWaitNotice = func(string, string) { waiting <- struct{}{} }
	t.Cleanup(func() { LockWaitNotice = nil })
	type opened struct {
		s   *State
		err error
	}
	waiter := make(chan opened, 1)
	// wait starts an OpenOrCreate of dir and returns once it waits for
	// the lock.
	wait := func() {
		t.Helper()
		// A waiter that waited twice (phase two) left a notice: read
		// now, it would say the new one waits before it did.
		for len(waiting) > 0 {
			<-waiting
		}
		go func() {
			s2, err := OpenOrCreate(dir)
			waiter <- opened{s2, err}
		}()
		select {
		case <-waiting:
		case o := <-waiter:
			t.Fatalf("OpenOrCreate did not wait for the lock (%v)", o.err)
		case <-time.After(10 * time.Second):
			t.Fatal("OpenOrCreate did not wait for the lock in 10 s")
		}
	}
	wait()
	if removed, err := s.RemoveIfUnused(); err != nil || !removed {
		t.Fatalf("remove the state: %v, %v", removed, err)
	}
	// Another command makes the state again while the waiter still
	// waits for the old directory's lock.
	s3, err := OpenOrCreate(dir)
	if err != nil {
		t.Fatalf("create the state again: %v", err)
	}
	t.Cleanup(func() {
		s3.unpinAll()
		s3.Close()
	})
	s.Close() // the waiter gets the removed directory's lock
	select {
	case o := <-waiter:
		if o.err == nil {
			o.s.Close()
		}
		t.Fatalf("OpenOrCreate returned (%v) while another process held the state's lock", o.err)
	case <-time.After(300 * time.Millisecond):
	}
	s3.Close()
	o := <-waiter
	if o.err != nil {
		t.Fatalf("OpenOrCreate after the state was made again: %v", o.err)
	}
	o.s.Close()

	// Removed with no one making it again: the waiter makes it anew.
	s4, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	wait()
	if removed, err := s4.RemoveIfUnused(); err != nil || !removed {
		t.Fatalf("remove the state: %v, %v", removed, err)
	}
	s4.Close()
	o = <-waiter
	if o.err != nil {
		t.Fatalf("OpenOrCreate of a state removed while it waited: %v", o.err)
	}
	defer o.s.Close()
	if !o.s.created {
		t.Error("the waiter did not make the state anew")
	}
	if _, err := os.Stat(filepath.Join(dir, xdpfwMapMeta)); err != nil {
		t.Errorf("state made anew: %v", err)
	}
	o.s.unpinAll()
}

// TestLockWaitNoticeOnlyWhenWaiting: lock says it waits only for a wait
// that lasts: a holder letting go as the waiter blocks is not told of
// (it was, before the wait began, a notice naming a holder already gone
// in about 4 waits in 100), one that keeps the lock is, once.
func TestLockWaitNoticeOnlyWhenWaiting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	notices := make(chan string, 4)
	LockWaitNotice = func(dir, holder string) { notices <- holder }
	t.Cleanup(func() { LockWaitNotice = nil })
	for _, holds := range []bool{false, true} {
		holder, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(holder.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		waiter, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		locked := make(chan error, 1)
		go func() { locked <- lock(context.Background(), waiter, "dir") }()
		if holds {
			select {
			case holder := <-notices:
				if want := fmt.Sprintf("pid %d (", os.Getpid()); !strings.HasPrefix(holder, want) {
					t.Errorf("notice names %q, want it to start %q", holder, want)
				}
			case err := <-locked:
				t.Fatalf("lock returned (%v) while the lock was held", err)
			case <-time.After(10 * time.Second):
				t.Fatal("no notice in 10 s of a lock held")
			}
		} else {
			blockedOn(t, waiter)
		}
		holder.Close()
		if err := <-locked; err != nil {
			t.Fatal(err)
		}
		waiter.Close()
		select {
		case holder := <-notices:
			t.Errorf("holds %v: a notice more (%q)", holds, holder)
		default:
		}
	}
}

// blockedOn returns once /proc/locks lists a process waiting for f's
// flock ("1: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF").
func blockedOn(t *testing.T, f *os.File) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(locks)) {
			if f := strings.Fields(line); len(f) >= 7 && f[1] == "->" && f[2] == "FLOCK" && f[6] == want {
				return
			}
		}
	}
	t.Fatal("no wait for the lock in /proc/locks in 10 s")
}

// TestCmdline: a holder's command line is one line however its
// arguments were made: NULs between them spaces, a newline, an escape or
// bytes that are not UTF-8 a '?', cut to 80 characters.
func TestCmdline(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"xdpfw\x00set\x00load\x00feed\x00-\x00", "xdpfw set load feed -"},
		{"xdpfw\x00rule\x00add\x00--comment\x00two\nlines\x00", "xdpfw rule add --comment two?lines"},
		{"sh\x00-c\x00\x1b[2Jcleared\x00", "sh -c ?[2Jcleared"},
		{"x\x00\xff\xfe\x00", "x ??"},
		{strings.Repeat("é", 100), strings.Repeat("é", 77) + "..."},
		{"", ""},
	} {
		if got := cmdline([]byte(c.raw)); got != c.want {
			t.Errorf("cmdline(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// TestLockWaitNotInherited: a process started while this one waits for
// the lock does not inherit the wait's descriptor, so once this process
// takes the lock and lets it go, it is free, the child still running.
// The child held the lock (the duplicate's open file) for as long as it
// ran: a test's writer `cat` kept serve and every reader waiting.
func TestLockWaitNotInherited(t *testing.T) {
	s := openLive(t)
	dir := s.Dir()
	waiting := make(chan struct{}, 1)
	LockWaitNotice = func(string, string) { waiting <- struct{}{} }
	t.Cleanup(func() { LockWaitNotice = nil })
	opened := make(chan *State, 1)
	go func() {
		s2, err := Open(dir)
		if err != nil {
			t.Error(err)
		}
		opened <- s2
	}()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Open did not wait for the lock in 10 s")
	}
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	s.lock.Close() // let go; the cleanup's Close closes it again, harmlessly
	if s2 := <-opened; s2 != nil {
		s2.Close()
	}
	f, err := os.Open(dir) // the lock is the pin directory's (openPinDir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("the lock let go by every holder is still held (the child started during the wait?): %v", err)
	}
}

// TestLockWaitLimit: with LockWaitLimit set, a wait for a lock another
// holds ends after about that long with ErrLockWaitLimit naming the
// holder, and leaves the lock free for the next once the holder lets go;
// a lock let go within the limit is taken.
func TestLockWaitLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	holder, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := unix.Flock(int(holder.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	LockWaitLimit = 300 * time.Millisecond
	t.Cleanup(func() { LockWaitLimit = 0 })
	waiter, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = lock(context.Background(), waiter, "dir")
	waited := time.Since(start)
	waiter.Close()
	if !errors.Is(err, ErrLockWaitLimit) {
		t.Fatalf("lock = %v, want ErrLockWaitLimit", err)
	}
	if want := fmt.Sprintf("pid %d (", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%q)", err, want)
	}
	if waited < LockWaitLimit {
		t.Errorf("gave up after %v, before the limit of %v", waited, LockWaitLimit)
	}
	// Let go within the limit: taken.
	waiter, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	locked := make(chan error, 1)
	go func() { locked <- lock(context.Background(), waiter, "dir") }()
	blockedOn(t, waiter)
	holder.Close()
	if err := <-locked; err != nil {
		t.Fatalf("lock after the holder let go within the limit: %v", err)
	}
}
