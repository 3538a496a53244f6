package replay

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// captureExts are the names a directory's captures go by: replay of a
// directory takes these and leaves its other files (a README, notes).
var captureExts = []string{".pcap", ".pcapng", ".cap"}

// directoryTakes says which files a directory gives, for the error that
// finds none.
const directoryTakes = "a directory gives the .pcap, .pcapng and .cap files under it, subdirectories and symbolic links to files included"

func isCaptureName(name string) bool {
	lower := strings.ToLower(name)
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
	return out
}

// noCaptureError is a replay given only directories that hold no capture
// file: it would report nothing and pass, which must not pass for proof
// that a ruleset meets real traffic.
func noCaptureError(dirs []string) error {
	return fmt.Errorf("no capture file in %s: %s", strings.Join(dirs, ", "), directoryTakes)
}
