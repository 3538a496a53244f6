package serve

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A file written in place by a writer that pauses mid-way (cat > file
// typed slowly, a script writing in chunks, scp or curl -o over a slow
// link) has stamps that stay still through the pause, as a finished
// file's do: no stamp tells the pause from the end, and a file cut after
// a whole line parses (cut after "rules:", a drop policy with no rule).
// What does tell them apart is that the writer still holds the file
// open for writing, which /proc shows. A writer that closes the file
// between its chunks (echo >> file, one line at a time) is not seen so:
// writing the file aside and renaming it over is the way that is never
// read half written.

// heldQuiet is how long a file another process holds open for writing
// must have stayed as it is to be read all the same. An appender that
// keeps its file open between lines (tail -F log | awk >> ban.txt) never
// closes it: waiting for the close kept its set from ever being updated,
// and at a restart, with nothing read yet, failed every reload of the
// config, the firewall's start with it. A download stalled longer is
// read cut: the bound is a trade, the rename over the file the sure way.
const heldQuiet = 30 * time.Second

// writingNow is writerOf for a file that changed within heldQuiet, 0 for
// one quiet longer (or held by nobody).
func writingNow(path string) int {
	if changedAgo(path) >= heldQuiet {
		return 0
	}
	return writerOf(path)
}

// writerOf is the process id of a process, other than this one, that
// holds path's file open for writing (O_WRONLY or O_RDWR), or 0 when
// none does or path cannot be looked at (a file gone fails its read
// anyway). Its open files are matched by device and inode, not by the
// name /proc gives them: that name is the one it opened the file by,
// which may be another link to it, or a path in another mount namespace.
// A process that exits as it is looked at, or whose files this one may
// not look at, is passed over. This process's own files are: serve only
// reads the files it watches.
func writerOf(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		dir := "/proc/" + p.Name()
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue // gone, or not ours to look at
		}
		for _, fd := range fds {
			var st syscall.Stat_t
			if syscall.Stat(dir+"/fd/"+fd.Name(), &st) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
				continue
			}
			if writable(dir + "/fdinfo/" + fd.Name()) {
				return pid
			}
		}
	}
	return 0
}

// writable reports whether the open file an fdinfo file describes was
// opened for writing: its "flags:" line (octal) has O_WRONLY or O_RDWR
// as its access mode.
func writable(fdinfo string) bool {
	f, err := os.Open(fdinfo)
	if err != nil {
		return false // closed since it was listed
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "flags:")
		if !ok {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
		if err != nil {
			return false
		}
		mode := flags & syscall.O_ACCMODE
		return mode == syscall.O_WRONLY || mode == syscall.O_RDWR
	}
	return false
}
