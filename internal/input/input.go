// Package input reads the files xdpfw takes as input (ruleset files and
// blocklists) whole and bounded: regular files only, so that a device
// (/dev/zero, /dev/urandom) or a FIFO without a writer can neither fill
// memory nor block a command, and never more than a size limit.
package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Limits on what one input may hold; a flag raises them.
const (
	MaxRuleset   = 64 << 20  // a ruleset file
	MaxBlocklist = 256 << 20 // a blocklist (about 10M entries)
)

// TooLargeError is an input over its limit.
type TooLargeError struct {
	Name  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than the %s limit (--max-size raises it)", e.Name, FormatSize(e.Limit))
}

// ReadFile reads the regular file at path, at most max bytes (0: no
// limit). Anything else (a directory, a device, a FIFO, a socket) is
// refused without reading it, and a FIFO that appears between the check
// and the open does not block: the file is opened non-blocking.
func ReadFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, named(path, err)
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, named(path, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	if max > 0 && fi.Size() > max {
		return nil, &TooLargeError{Name: path, Limit: max}
	}
	return read(path, f, max, fi.Size())
}

// Read reads r to its end, at most max bytes (0: no limit); name is what
// the error calls it.
func Read(name string, r io.Reader, max int64) ([]byte, error) {
	return read(name, r, max, 0)
}

// read is Read with room for size bytes made first: a file of known size
// is read into one buffer, not grown and copied as it comes in.
func read(name string, r io.Reader, max, size int64) ([]byte, error) {
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	var buf bytes.Buffer
	if size > 0 && (max <= 0 || size <= max) {
		buf.Grow(int(size) + bytes.MinRead) // the read that finds the end needs MinRead free
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if max > 0 && int64(buf.Len()) > max {
		return nil, &TooLargeError{Name: name, Limit: max}
	}
	return buf.Bytes(), nil
}

// named is a failed stat or open of path as "path: errno", as every other
// error here names its input: "stat x.yaml: no such file or directory"
// read as the program's own call, not as the file given.
func named(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return err
}

func regular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s: not a regular file but %s: only regular files are read (- reads standard input)", path, Kind(fi.Mode()))
}

// Kind names a file type for errors: "a directory", "a named pipe"...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// ParseSize reads a size: bytes, or a number with K, M, G or T (powers
// of 1024; "KiB", "MB" and the like are the same).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	shift := 0
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			u = u[:n-1]
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || v <= 0 || v > (1<<62)>>shift {
		return 0, errors.New("want a positive size such as 1048576, 512K, 64M or 2G")
	}
	return v << shift, nil
}

// FormatSize writes n in the largest binary unit dividing it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		shift int
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
