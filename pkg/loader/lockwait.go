package loader

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// LockWaitNotice, when set, is told once that this process waits for the
// pin directory's lock and who holds it ("pid 123 (xdpfw set load feed -)"),
// so a command that waits says why instead of hanging without a word.
// The CLI sets it; a program embedding the package may.
var LockWaitNotice func(dir, holder string)

// lock takes the pin directory's exclusive lock, waiting for it if another
// process holds it, and telling LockWaitNotice when it must wait.
func lock(f *os.File, dir string) error {
	fd := int(f.Fd())
	err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return nil
	}
	if err != unix.EWOULDBLOCK {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	if LockWaitNotice != nil {
		LockWaitNotice(dir, lockHolder(fd))
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	return nil
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
