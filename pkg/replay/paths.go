package replay

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// captureExts are the names a directory's captures go by: replay of a
// directory takes these and leaves its other files (a README, notes).
// Each may be followed by a number: tcpdump -C names the files after
// the first of a capture x.pcap1, x.pcap2, ..., and with -W all of them
// x.pcap0, x.pcap1, ...
var captureExts = []string{".pcap", ".pcapng", ".cap"}

// directoryTakes says which files a directory gives, for the error that
// finds none.
const directoryTakes = "a directory gives the .pcap, .pcapng and .cap files under it (and tcpdump -C's x.pcap1, x.pcap2, ..., -W's x.pcap0, ...), subdirectories and symbolic links to files included"

func isCaptureName(name string) bool {
	stem, _ := rotation(name)
	lower := strings.ToLower(stem)
	for _, ext := range captureExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// expandDir lists the captures under dir, recursively, in lexical order
// (filepath.WalkDir's), so a replay of a directory is repeatable. A
// symbolic link with a capture's name is taken when it leads to a regular
// file, as ls or cat would follow it, or when it leads nowhere, so the
// open names the broken link; links to directories are not followed (a
// link back up would never end). A part of the tree that cannot be read
// goes to bad, and the rest follows.
func expandDir(dir string, bad func(error)) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			bad(fmt.Errorf("%s: %w", path, err))
			return nil
		}
		if !isCaptureName(d.Name()) {
			return nil
		}
		switch {
		case d.Type().IsRegular():
			out = append(out, path)
		case d.Type()&fs.ModeSymlink != 0:
			if fi, err := os.Stat(path); err != nil || fi.Mode().IsRegular() {
				out = append(out, path)
			}
		}
		return nil
	})
	sortRotations(out)
	return out
}

// rotation splits a file name into its stem and the number tcpdump -C
// puts after it ("x.pcap12": "x.pcap", "12"; "x.pcap": "x.pcap", "").
func rotation(name string) (stem, num string) {
	stem = strings.TrimRight(name, "0123456789")
	return stem, name[len(stem):]
}

// sortRotations puts each of paths' runs of one capture's files (one
// directory, one stem: lexical order keeps them together) in the order
// tcpdump -C wrote them: lexical order put x.pcap10 before x.pcap2, and
// a replay's clock, which never goes back, ran the earlier file's flows
// at the later one's time. That order is the time of each file's first
// frame, then the number: with -W N, tcpdump wraps round, writing
// x.pcap0 again after x.pcapN-1, so the numbers alone put the newest
// first. A file with no time (no frame, or one that cannot be read)
// adds no frame to the clock: it goes after the others, by number, where
// the replay reports it.
func sortRotations(paths []string) {
	key := func(p string) string {
		stem, _ := rotation(p)
		return stem
	}
	for i := 0; i < len(paths); {
		j := i + 1
		for j < len(paths) && key(paths[j]) == key(paths[i]) {
			j++
		}
		if j-i > 1 {
			sortRotation(paths[i:j])
		}
		i = j
	}
}

// sortRotation orders one capture's files (sortRotations).
func sortRotation(paths []string) {
	type file struct {
		path  string
		first time.Time // zero: none
		num   string
	}
	files := make([]file, len(paths))
	for i, p := range paths {
		_, num := rotation(p)
		files[i] = file{p, firstTime(p), strings.TrimLeft(num, "0")}
	}
	slices.SortStableFunc(files, func(a, b file) int {
		if a.first.IsZero() != b.first.IsZero() {
			if a.first.IsZero() {
				return 1
			}
			return -1
		}
		return cmp.Or(a.first.Compare(b.first), cmp.Compare(len(a.num), len(b.num)), strings.Compare(a.num, b.num))
	})
	for i, f := range files {
		paths[i] = f.path
	}
}

// firstTime is the time of the first frame of the capture at path: zero
// when it has none, or none can be read.
func firstTime(path string) time.Time {
	rd, err := Open(path)
	if err != nil {
		return time.Time{}
	}
	defer rd.Close()
	f, err := rd.Next()
	if err != nil {
		return time.Time{}
	}
	return f.Time
}

// noCaptureError is a replay given only directories that hold no capture
// file: it would report nothing and pass, which must not pass for proof
// that a ruleset meets real traffic.
func noCaptureError(dirs []string) error {
	return fmt.Errorf("no capture file in %s: %s", strings.Join(dirs, ", "), directoryTakes)
}
