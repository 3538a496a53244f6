package serve

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
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

// procBlind is why this process cannot look at the open files of every
// other process under proc (where /proc is mounted), nil when it can.
// Then writerOf may miss a writer, and a config or set file written in
// place be read at its writer's first pause: serve says so once at its
// start. It is writerOf's look at each process, a denial told from a
// process or file gone: listing another user's files takes
// CAP_DAC_READ_SEARCH, what they are (fd, fdinfo) CAP_SYS_PTRACE of a
// process with more capabilities, and a /proc mounted hidepid=1 denies
// them, hidepid=2 leaves them out of the listing (pid 1, which every PID
// namespace has, is missing then). A PID namespace's processes are all
// serve can find, which no probe tells.
func procBlind(proc string) error {
	self := os.Getpid()
	if self != 1 {
		if _, err := os.Stat(filepath.Join(proc, "1")); err != nil {
			return err
		}
	}
	procs, err := os.ReadDir(proc)
	if err != nil {
		return err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if err := lookAt(filepath.Join(proc, p.Name())); err != nil {
			return err
		}
	}
	return nil
}

// lookAt is writerOf's look at the open files of the process whose /proc
// directory is dir, up to the first it may see: the error denying it,
// nil when allowed or when the process or its files are gone.
func lookAt(dir string) error {
	denied := func(err error) error {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		return nil
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return denied(err)
	}
	for _, fd := range fds {
		var st syscall.Stat_t
		path := filepath.Join(dir, "fd", fd.Name())
		if err := syscall.Stat(path, &st); err != nil {
			if err := denied(&os.PathError{Op: "stat", Path: path, Err: err}); err != nil {
				return err
			}
			continue // closed since it was listed
		}
		f, err := os.Open(filepath.Join(dir, "fdinfo", fd.Name()))
		if err == nil {
			return f.Close()
		}
		if err := denied(err); err != nil {
			return err
		}
	}
	return nil
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
