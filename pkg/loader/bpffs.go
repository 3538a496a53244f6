package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The filesystem under the pin directory. Every state's open checks it
// (checkEnv) and doctor reports it, both from here, so the two give the
// same diagnosis.

// bpffsRoot is where the system mounts the BPF filesystem: the only path
// whose fix is to mount one there. Anywhere else a missing bpffs means
// the pin directory is in the wrong place, not that / or /tmp wants one.
const bpffsRoot = "/sys/fs/bpf"

// PinFS is where a pin directory is, or will be made.
type PinFS struct {
	// Path is the pin directory, or the deepest part of it that exists:
	// what the first attach creates the rest in.
	Path     string
	Mounted  bool // Path is on a BPF filesystem
	Writable bool // and this process may make pins there
}

// CheckPinFS examines the filesystem dir is, or would be created, on. The
// error, nil when pins can be made there, is one line saying what is
// wrong and what to do.
func CheckPinFS(dir string) (PinFS, error) {
	fs := PinFS{}
	var (
		st  unix.Statfs_t
		err error
	)
	fs.Path, err = checkBPFFS(dir, &st, unix.Statfs)
	if err != nil {
		return fs, err
	}
	fs.Mounted = true
	if err := checkWritable(fs.Path, dir, &st, effectiveAccess); err != nil {
		return fs, err
	}
	fs.Writable = true
	return fs, nil
}

// checkBPFFS fails unless dir is, or would be created, on a BPF
// filesystem. It returns the deepest existing part of dir and fills st
// with its filesystem's statistics.
func checkBPFFS(dir string, st *unix.Statfs_t, statfs func(string, *unix.Statfs_t) error) (string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return dir, fmt.Errorf("pin directory %s: %w", dir, err)
	}
	for {
		err := statfs(p, st)
		switch {
		case err == nil && st.Type == unix.BPF_FS_MAGIC:
			return p, nil
		case err == nil && p == bpffsRoot:
			return p, fmt.Errorf("%s is not a BPF filesystem (mount it: mount -t bpf bpf %s)", p, p)
		case err == nil:
			return p, fmt.Errorf("pin directory %s is not on a BPF filesystem (%s is not one): create it on a mounted bpffs, or choose a --pin-dir on one (such as %s)", dir, p, DefaultPinDir)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return p, denied(p, dir)
		case !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR):
			return p, fmt.Errorf("pin directory %s: %w", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, fmt.Errorf("pin directory %s: no part of it exists", dir)
		}
		p = parent
	}
}

// checkWritable fails unless pins can be made at path, the pin directory
// dir or the deepest part of it that exists, on a BPF filesystem whose
// statistics are st: a read-only mount (fixed by remounting) is told from
// a directory this user may not write in (fixed by running as root, or
// by giving the user the pin directory).
func checkWritable(path, dir string, st *unix.Statfs_t, access func(string, uint32) error) error {
	// Search too: a pin is made by its path in the directory.
	err := access(path, unix.W_OK|unix.X_OK)
	switch {
	case st.Flags&unix.ST_RDONLY != 0 || errors.Is(err, unix.EROFS):
		mnt := mountPoint(path)
		return fmt.Errorf("%s is on a read-only BPF filesystem (remount it read-write: mount -o remount,rw %s)", path, mnt)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return denied(path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// effectiveAccess is access(2) judged as the mkdir and pins that follow
// are: by the effective uid and capabilities (AT_EACCESS). Plain access
// judges the real uid and, for one not root, drops every capability, so
// a user given CAP_DAC_OVERRIDE (a unit's AmbientCapabilities) was told
// permission denied where attach made its pins.
func effectiveAccess(path string, mode uint32) error {
	return unix.Faccessat(unix.AT_FDCWD, path, mode, unix.AT_EACCESS)
}

// denied is the error of a path this process may not read or write, on
// the way to the pin directory dir. A user given xdpfw's capabilities
// (doctor's root check passes them) is not told to use sudo alone: the
// pin directory can be made theirs.
func denied(path, dir string) error {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	uid := os.Geteuid()
	return fmt.Errorf("%s: permission denied to uid %d (run xdpfw as root, or make the pin directory this user's: install -d -o %d -m 0700 %s)", path, uid, uid, dir)
}

// mountPoint is the mount point of the filesystem path is on: the last
// directory up from it on the same device. Unknown, it is path itself.
func mountPoint(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return path
	}
	for {
		parent := filepath.Dir(path)
		var up unix.Stat_t
		if parent == path || unix.Stat(parent, &up) != nil || up.Dev != st.Dev {
			return path
		}
		path = parent
	}
}
