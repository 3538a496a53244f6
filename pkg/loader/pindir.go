package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The pin directory: where it must live (a BPF filesystem) and who may
// change it (root alone). Anyone who can write the directory can unlink
// `meta` or `active` and orphan the firewall, or plant pins of their own.

// openPinDir opens dir (never through a symbolic link) and checks that it
// and its parents up to the bpffs mount are root's and not writable by
// group or others.
func openPinDir(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, &noStateError{dir}
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("%s is not a directory (a symbolic link or a file): refusing to use it as the pin directory; remove it", dir)
	case err != nil:
		return nil, fmt.Errorf("open pin directory: %w", err)
	}
	f := os.NewFile(uintptr(fd), dir)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := safeDir(dir, &st); err != nil {
		f.Close()
		return nil, err
	}
	if err := safeParents(dir, st.Dev); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// safeDir refuses a directory others can change.
func safeDir(path string, st *unix.Stat_t) error {
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is owned by uid %d / mode %04o: refusing to use a pin directory others can change; remove it or fix its owner and mode",
			path, st.Uid, st.Mode&0o7777)
	}
	return nil
}

// safeParents checks the parents of dir on the same filesystem, below its
// mount point (the bpffs root is the administrator's, not xdpfw's).
func safeParents(dir string, dev uint64) error {
	p, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		var st, up unix.Stat_t
		if err := unix.Lstat(parent, &st); err != nil {
			return fmt.Errorf("stat %s: %w", parent, err)
		}
		if st.Dev != dev {
			return nil // p is the mount point
		}
		if err := unix.Lstat(filepath.Dir(parent), &up); err != nil {
			return fmt.Errorf("stat %s: %w", filepath.Dir(parent), err)
		}
		if up.Dev != dev {
			return nil // parent is the mount point
		}
		if err := safeDir(parent, &st); err != nil {
			return err
		}
		p = parent
	}
}

// safeAncestor checks, before dir and its missing parents are made, the
// deepest part of dir that exists (and its parents) as openPinDir checks
// dir: nothing is made inside a directory others can change.
func safeAncestor(dir string) error {
	p, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if err == nil {
			if p == filepath.Clean(dir) {
				return nil // openPinDir checks it
			}
			var up unix.Stat_t
			if parent := filepath.Dir(p); parent != p {
				if err := unix.Lstat(parent, &up); err != nil {
					return fmt.Errorf("stat %s: %w", parent, err)
				}
				if up.Dev != st.Dev {
					return nil // p is the mount point
				}
			}
			if err := safeDir(p, &st); err != nil {
				return err
			}
			return safeParents(p, st.Dev)
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}
