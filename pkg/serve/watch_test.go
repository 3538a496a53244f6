package serve

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitChange waits for the watch to report a change; the bound only keeps
// a broken watch from hanging the test.
func waitChange(t *testing.T, changed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Fatalf("no change reported after %s", what)
	}
}

// TestWatchDir: the directory watch sees the ways a config file is
// replaced: written in place, renamed over by an editor, and swapped
// under a symlink the way Kubernetes updates a mounted ConfigMap
// (xdpfw.yaml -> ..data/xdpfw.yaml, ..data -> ..2024_01; a new ..data is
// renamed over the old).
func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, gen := range []string{"..gen1", "..gen2"} {
		must(os.Mkdir(filepath.Join(dir, gen), 0o755))
		must(os.WriteFile(filepath.Join(dir, gen, "xdpfw.yaml"), []byte("policy: "+gen+"\n"), 0o644))
	}
	must(os.Symlink("..gen1", filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "xdpfw.yaml")
	must(os.Symlink("..data/xdpfw.yaml", path))

	stop := make(chan struct{})
	defer close(stop)
	changed, err := watchDir(path, newLogger(io.Discard, time.Hour), stop)
	must(err)

	must(os.Symlink("..gen2", filepath.Join(dir, "..data_tmp")))
	must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	waitChange(t, changed, "a ConfigMap-style symlink swap")
	if b, err := os.ReadFile(path); err != nil || string(b) != "policy: ..gen2\n" {
		t.Fatalf("after the swap the file reads %q, %v", b, err)
	}

	must(os.Remove(path))
	must(os.WriteFile(filepath.Join(dir, ".xdpfw.yaml.swp"), []byte("policy: drop\n"), 0o644))
	must(os.Rename(filepath.Join(dir, ".xdpfw.yaml.swp"), path))
	waitChange(t, changed, "a rename over the file")

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	_, err = f.WriteString("rules: []\n")
	must(err)
	must(f.Close())
	waitChange(t, changed, "a write in place")
}
