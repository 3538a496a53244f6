package replay

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// captureExts are the names a directory's captures go by: replay of a
// directory takes these and leaves its other files (a README, notes).
var captureExts = []string{".pcap", ".pcapng", ".cap"}

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
// (filepath.WalkDir's), so a replay of a directory is repeatable. A part
// of the tree that cannot be read goes to bad, and the rest follows.
func expandDir(dir string, bad func(error)) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			bad(fmt.Errorf("%s: %w", path, err))
			return nil
		}
		if d.Type().IsRegular() && isCaptureName(d.Name()) {
			out = append(out, path)
		}
		return nil
	})
	return out
}
