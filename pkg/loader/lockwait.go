package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// LockWaitNotice, when set, is told once that this process waits for the
// pin directory's lock and who holds it ("pid 123 (xdpfw set load feed -)"),
// so a command that waits says why instead of hanging without a word.
// The CLI sets it; a program embedding the package may.
var LockWaitNotice func(dir, holder string)

// lockGrace is how long lock waits before it tells LockWaitNotice: a
// holder about to let go (most changes take milliseconds) is no wait
// worth a line. Telling at once, before the wait, said a holder held the
// lock when it had just let go (about 4 in 100 waits, the holder often
// "another process", gone from /proc/locks by the time it was read).
const lockGrace = 150 * time.Millisecond

// LockWaitLimit, when positive, is the longest lock waits for another
// holder to let go: past it the wait ends with an error naming the
// holder (ErrLockWaitLimit), so a script or a config-management run
// fails in bounded time instead of queueing behind a stuck command. Zero
// waits as long as the holder holds, as a change must when run by hand.
// The CLI sets it (--wait); a program embedding the package may.
var LockWaitLimit time.Duration

// ErrLockWaitLimit is what lock's error wraps when LockWaitLimit ended
// the wait.
var ErrLockWaitLimit = errors.New("gave up waiting")

// lock takes the pin directory's exclusive lock, waiting for it if another
// process holds it, and telling LockWaitNotice when the wait outlasts
// lockGrace. The wait ends when ctx does (ctx.Err()) or LockWaitLimit
// passes (ErrLockWaitLimit): flock itself cannot be interrupted (Go
// restarts it after a signal), so it goes on aside, on a duplicate of fd,
// which it closes once it has the lock. The lock is the open file's,
// which both descriptors share: the caller closing f on the error leaves
// the duplicate the last, and closing it lets the lock go at once, so a
// wait given up never holds it. The lock free, as it mostly is, none of
// this runs.
func lock(ctx context.Context, f *os.File, dir string) error {
	fd := int(f.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return nil
	}
	if err != unix.EWOULDBLOCK {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	// Close-on-exec, as Go opens every file: a process this one starts
	// meanwhile (serve's hooks, a test's writer) inheriting the
	// duplicate kept the open file, and with it the lock once taken,
	// for as long as it ran, whatever this process closed.
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	got := make(chan error, 1)
	go func() {
		err := unix.Flock(dup, unix.LOCK_EX)
		unix.Close(dup)
		got <- err
	}()
	locked := func(err error) error {
		if err != nil {
			return fmt.Errorf("lock %s: %w", dir, err)
		}
		return nil
	}
	grace := time.NewTimer(lockGrace)
	defer grace.Stop()
	var limit <-chan time.Time // nil, never ready, with no limit
	if LockWaitLimit > 0 {
		t := time.NewTimer(LockWaitLimit)
		defer t.Stop()
		limit = t.C
	}
	for {
		select {
		case err := <-got:
			return locked(err)
		case <-grace.C:
			holder, free := otherHolder(fd)
			if free { // got it as the grace ended: no wait to tell
				return nil
			}
			if LockWaitNotice != nil {
				LockWaitNotice(dir, holder)
			}
		case <-limit:
			holder, free := otherHolder(fd)
			if free { // let go as the limit came: taken
				return nil
			}
			return fmt.Errorf("lock %s: %w after %s: still held by %s", dir, ErrLockWaitLimit, LockWaitLimit, holder)
		case <-ctx.Done():
			return fmt.Errorf("lock %s: given up waiting for %s: %w", dir, lockHolder(fd), ctx.Err())
		}
	}
}

// otherHolder names the process holding the lock fd waits for, unless
// the lock is fd's (free): the wait aside may have taken it already, its
// answer not yet in, or the holder let go just now. /proc/locks then
// named this very process, read as the wait had the lock ("still held by
// pid 7 (xdpfw --wait 5 ...)", the command itself). A non-blocking flock
// on fd, whose open file the wait's duplicate shares, succeeds at once
// when that open file holds the lock, and takes it when none does; tried
// again after the read, failing, it says the lock was another's all
// through the read, so the name read is not this process's wait. The
// wait aside, taking the lock its open file holds, then ends too.
func otherHolder(fd int) (holder string, free bool) {
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		return "", true
	}
	holder = lockHolder(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		return "", true
	}
	return holder, false
}

// lockHolder names the process holding a flock on fd's file, from
// /proc/locks ("1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF"), or
// says it is unknown.
func lockHolder(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "another process"
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "another process"
	}
	for _, line := range strings.Split(string(locks), "\n") {
		f := strings.Fields(line)
		// A waiter's line starts "1: -> FLOCK": only holders have FLOCK second.
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != want {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			continue
		}
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if cmd := cmdline(raw); cmd != "" {
			return fmt.Sprintf("pid %d (%s)", pid, cmd)
		}
		return fmt.Sprintf("pid %d", pid)
	}
	return "another process"
}

// cmdline is a process's /proc cmdline for a one-line notice: its
// arguments joined by spaces, each control character (a newline or an
// escape in an argument, which would break the line or the terminal) a
// '?', cut to 80 characters.
func cmdline(raw []byte) string {
	raw = bytes.TrimRight(raw, "\x00")
	cmd := []rune(strings.Map(func(r rune) rune {
		switch {
		case r == 0:
			return ' '
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == utf8.RuneError:
			return '?'
		}
		return r
	}, string(raw)))
	if len(cmd) > 80 {
		cmd = append(cmd[:77:77], []rune("...")...)
	}
	return string(cmd)
}
