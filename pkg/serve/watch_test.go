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

// TestWatchSymlinkElsewhere: a config file that is a symlink into another
// directory is reloaded when its target is changed there, written in
// place or renamed over; a link pointed at a file in a third directory
// is followed: a change there is seen, one in the old target's
// directory no longer is.
func TestWatchSymlinkElsewhere(t *testing.T) {
	dir, old, next := t.TempDir(), t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{old, next} {
		must(os.WriteFile(filepath.Join(d, "xdpfw.yaml"), []byte("policy: pass\n"), 0o644))
	}
	path := filepath.Join(dir, "xdpfw.yaml")
	must(os.Symlink(filepath.Join(old, "xdpfw.yaml"), path))

	stop := make(chan struct{})
	defer close(stop)
	changed, err := watchDir(path, newLogger(io.Discard, time.Hour), stop)
	must(err)

	f, err := os.OpenFile(filepath.Join(old, "xdpfw.yaml"), os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	_, err = f.WriteString("rules: []\n")
	must(err)
	must(f.Close())
	waitChange(t, changed, "a write in place to the target in another directory")

	must(os.WriteFile(filepath.Join(old, ".xdpfw.yaml.swp"), []byte("policy: drop\n"), 0o644))
	must(os.Rename(filepath.Join(old, ".xdpfw.yaml.swp"), filepath.Join(old, "xdpfw.yaml")))
	waitChange(t, changed, "a rename over the target in another directory")

	// Pointed elsewhere, as config management does: a new link renamed
	// over the old one.
	must(os.Symlink(filepath.Join(next, "xdpfw.yaml"), filepath.Join(dir, ".xdpfw.yaml.new")))
	must(os.Rename(filepath.Join(dir, ".xdpfw.yaml.new"), path))
	waitChange(t, changed, "the link pointed at another directory")

	must(os.WriteFile(filepath.Join(next, "xdpfw.yaml"), []byte("policy: drop\n"), 0o644))
	waitChange(t, changed, "a write to the new target")

	must(os.WriteFile(filepath.Join(old, "xdpfw.yaml"), []byte("policy: pass\n"), 0o644))
	select {
	case <-changed:
		t.Errorf("a write to the old target's directory was reported after the link was pointed elsewhere")
	case <-time.After(5 * settle):
	}
}

// TestWatchLinkedDirectories: a link on the way to the config that is a
// directory is followed too: a deploy's "current" link renamed onto a new
// release is seen, and a target reached through "../" from a linked
// directory is where the kernel finds it, not where the names say.
func TestWatchLinkedDirectories(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"releases/v1", "releases/v2", "opt/app/etc", "opt/app/conf"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, d := range []string{"releases/v1", "releases/v2", "opt/app/conf"} {
		must(os.WriteFile(filepath.Join(root, d, "xdpfw.yaml"), []byte("policy: pass\n"), 0o644))
	}
	must(os.Symlink("releases/v1", filepath.Join(root, "current")))
	path := filepath.Join(dir, "xdpfw.yaml")
	must(os.Symlink(filepath.Join(root, "current", "xdpfw.yaml"), path))

	stop := make(chan struct{})
	defer close(stop)
	changed, err := watchDir(path, newLogger(io.Discard, time.Hour), stop)
	must(err)
	must(os.Symlink("releases/v2", filepath.Join(root, ".current.new")))
	must(os.Rename(filepath.Join(root, ".current.new"), filepath.Join(root, "current")))
	waitChange(t, changed, "the current link renamed onto another release")
	must(os.WriteFile(filepath.Join(root, "releases/v2", "xdpfw.yaml"), []byte("policy: drop\n"), 0o644))
	waitChange(t, changed, "a write to the new release's file")

	// etc -> opt/app/etc, whose xdpfw.yaml -> ../conf/xdpfw.yaml: the
	// file is opt/app/conf's, not root's conf
	must(os.Symlink(filepath.Join(root, "opt/app/etc"), filepath.Join(root, "etc")))
	must(os.Symlink("../conf/xdpfw.yaml", filepath.Join(root, "opt/app/etc", "xdpfw.yaml")))
	path2 := filepath.Join(dir, "other.yaml")
	must(os.Symlink(filepath.Join(root, "etc", "xdpfw.yaml"), path2))
	changed2, err := watchDir(path2, newLogger(io.Discard, time.Hour), stop)
	must(err)
	must(os.WriteFile(filepath.Join(root, "opt/app/conf", "xdpfw.yaml"), []byte("policy: drop\n"), 0o644))
	waitChange(t, changed2, "a write to the file a ../ link leads to")
}

// TestWatchDirReplaced: the config's own directory is followed when it
// is replaced: a "current" link on the config's path pointed at another
// release, the directory renamed away and another made in its place,
// and the directory deleted and made again. Its first inode was watched
// for good: a change seen at the replacement, none after it.
func TestWatchDirReplaced(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, text string) {
		t.Helper()
		must(os.WriteFile(filepath.Join(root, name), []byte(text), 0o644))
	}
	quiet := func(changed <-chan struct{}) {
		t.Helper()
		for {
			select {
			case <-changed:
			case <-time.After(5 * settle):
				return
			}
		}
	}
	stop := make(chan struct{})
	defer close(stop)

	for _, d := range []string{"v1", "v2"} {
		must(os.Mkdir(filepath.Join(root, d), 0o755))
		write(d+"/xdpfw.yaml", "policy: pass\n")
	}
	must(os.Symlink("v1", filepath.Join(root, "current")))
	changed, err := watchDir(filepath.Join(root, "current", "xdpfw.yaml"), newLogger(io.Discard, time.Hour), stop)
	must(err)
	must(os.Symlink("v2", filepath.Join(root, ".current.new")))
	must(os.Rename(filepath.Join(root, ".current.new"), filepath.Join(root, "current")))
	waitChange(t, changed, "the config's directory link pointed at another release")
	quiet(changed)
	write("v2/xdpfw.yaml", "policy: drop\n")
	waitChange(t, changed, "a write in the release the config's directory link now leads to")

	must(os.Mkdir(filepath.Join(root, "etc"), 0o755))
	write("etc/xdpfw.yaml", "policy: pass\n")
	changed2, err := watchDir(filepath.Join(root, "etc", "xdpfw.yaml"), newLogger(io.Discard, time.Hour), stop)
	must(err)
	must(os.Rename(filepath.Join(root, "etc"), filepath.Join(root, "etc.old")))
	must(os.Mkdir(filepath.Join(root, "etc"), 0o755))
	write("etc/xdpfw.yaml", "policy: drop\n")
	waitChange(t, changed2, "the config's directory renamed away and made again")
	quiet(changed2)
	write("etc/xdpfw.yaml", "policy: pass\n")
	waitChange(t, changed2, "a write in the directory made in place of the renamed one")

	must(os.RemoveAll(filepath.Join(root, "etc")))
	waitChange(t, changed2, "the config's directory deleted")
	quiet(changed2)
	must(os.Mkdir(filepath.Join(root, "etc"), 0o755))
	waitChange(t, changed2, "the config's directory made again")
	quiet(changed2)
	write("etc/xdpfw.yaml", "policy: drop\n")
	waitChange(t, changed2, "a write in the directory made again")
}
