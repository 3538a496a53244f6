package replay

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// captureExts are the names a directory's captures go by: replay of a
// directory takes these and leaves its other files (a README, notes).
// Each may be followed by a number: tcpdump -C names the files after
// the first of a capture x.pcap1, x.pcap2, ...
var captureExts = []string{".pcap", ".pcapng", ".cap"}

// directoryTakes says which files a directory gives, for the error that
// finds none.
const directoryTakes = "a directory gives the .pcap, .pcapng and .cap files under it (and tcpdump -C's x.pcap1, x.pcap2, ...), subdirectories and symbolic links to files included"

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
// tcpdump -C wrote them, by their number: lexical order put x.pcap10
// before x.pcap2, and a replay's clock, which never goes back, ran the
// earlier file's flows at the later one's time.
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
		slices.SortStableFunc(paths[i:j], func(a, b string) int {
			_, na := rotation(a)
			_, nb := rotation(b)
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			return cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb))
		})
		i = j
	}
}

// noCaptureError is a replay given only directories that hold no capture
// file: it would report nothing and pass, which must not pass for proof
// that a ruleset meets real traffic.
func noCaptureError(dirs []string) error {
	return fmt.Errorf("no capture file in %s: %s", strings.Join(dirs, ", "), directoryTakes)
}
