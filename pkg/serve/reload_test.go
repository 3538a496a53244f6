package serve

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadMissingFileOnce: a config file that is gone is reported once,
// not again at every change the directory watch sees (an editor's swap
// file beside it); a forced reload (SIGHUP, the retry) tries it again.
func TestReloadMissingFileOnce(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	r := &reloader{dir: filepath.Join(dir, "pins"), path: filepath.Join(dir, "gone.yaml"), log: newLogger(&out, time.Minute)}
	for range 3 {
		r.reload("file changed", false)
	}
	if st := r.current(); st.failures != 1 || strings.Count(out.String(), "config not applied") != 1 {
		t.Errorf("after three changes beside a missing file: %d failures, log:\n%s", st.failures, out.String())
	}
	r.reload("SIGHUP", true)
	if st := r.current(); st.failures != 2 {
		t.Errorf("a forced reload of the missing file: %d failures, want 2", st.failures)
	}
}
