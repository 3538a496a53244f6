package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnpinErrorsOneLine: pins that cannot be removed are all named, in
// one line; errors.Join put a newline between them.
func TestUnpinErrorsOneLine(t *testing.T) {
	s := openLive(t)
	// A directory with an entry where each map's pin was: unlink fails.
	for _, name := range []string{"trace", "scratch"} {
		pin := filepath.Join(s.dir, name)
		if err := os.Remove(pin); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(pin, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.RemoveIfUnused()
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "trace") || !strings.Contains(err.Error(), "scratch") {
		t.Errorf("RemoveIfUnused: %q, want one line naming both pins", err)
	}
}
