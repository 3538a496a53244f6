package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the directory must be quiet before a change is
// acted on: an editor's save is several events (write a temporary file,
// rename it over, chmod), and so is a ConfigMap update.
const settle = 200 * time.Millisecond

// watchDir reports on the returned channel, once the events settle,
// that something in the config file's directory changed, or in the
// directory of a file a symlink on the way to it leads to. Directories
// are watched rather than the file: editors and Kubernetes replace the
// file by renaming another over it (or over a symlink it resolves
// through), which a watch on the file itself does not survive. The
// directories are found again at each event (linkDirs), the file's own
// among them, so a link pointed elsewhere (by config management, a
// ConfigMap's ..data swap, a release's "current" on the way to the
// file) has its new target's directory watched and its old one's
// dropped, and so does a directory renamed away or deleted, and another
// made in its place. Whether the file really changed is for the reader
// to find out (reloader compares contents).
func watchDir(path string, log *logger, stop <-chan struct{}) (<-chan struct{}, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once
		}
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := followLinks(w, path); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %w", err)
	}
	changed := make(chan struct{}, 1)
	follow := func() {
		if err := followLinks(w, path); err != nil {
			log.limited("watch", "watching the directories on the way to the config file", "error", err)
		}
	}
	go func() {
		defer w.Close()
		var timer <-chan time.Time
		for {
			select {
			case <-stop:
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				follow()
				timer = time.After(settle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow loses events: check the file anyway.
				log.limited("watch", "watching the config directory", "dir", dir, "error", err)
				follow()
				timer = time.After(settle)
			case <-timer:
				timer = nil
				select {
				case changed <- struct{}{}:
				default: // a check is already pending
				}
			}
		}
	}()
	return changed, nil
}

// followLinks has w watch the directories linkDirs finds for path now,
// and no longer the ones it found before; it returns the first that
// cannot be watched. Each is watched by its real path (no link on the
// way): one directory watched under two names has one watch (one inode,
// one watch), which removing either name ended. The file's own
// directory is found again as the others are: watched for good by the
// name given, a directory on the way replaced ("current" pointed at
// another release, or the directory renamed away and made again) kept
// its first inode watched, and no change after the replacement was seen.
// A directory renamed or deleted has its watch gone at once (fsnotify
// drops it at the event that says so), so a name watched is its inode.
func followLinks(w *fsnotify.Watcher, path string) error {
	want := linkDirs(path)
	for _, d := range w.WatchList() {
		if want[d] {
			delete(want, d) // watched already
			continue
		}
		w.Remove(d) // an error: the directory is gone, and its watch with it
	}
	var first error
	for d := range want {
		if err := w.Add(d); err != nil && first == nil {
			first = fmt.Errorf("%s: %w", d, err)
		}
	}
	return first
}

// maxHops bounds the symlinks followed from the config file, as the
// kernel's own bound does (40): a loop of links ends there.
const maxHops = 40

// linkDirs are the directories whose change can change what path reads:
// each directory holding a symlink on the way to the file (a link
// renamed there points the way elsewhere: a deploy's "current" link, a
// ConfigMap's ..data), and the file's own. The path is resolved a name at
// a time as the kernel does, so a link's ".." climbs out of the directory
// the link leads to, not out of the link's name. Where the way ends at a
// name that does not exist (a dangling link), the directory it would be
// in is watched: the reader says it cannot read the file, and the next
// event looks again.
func linkDirs(path string) map[string]bool {
	dirs := map[string]bool{}
	abs, err := filepath.Abs(path)
	if err != nil {
		return dirs
	}
	cur := "/" // resolved so far: a real directory, no links in it
	todo := strings.Split(abs, "/")
	short := false // the way ended at a name not there
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur has no links: ".." by name is right
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil {
			short = true
			break // nothing there (yet): cur is where it would be
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxHops {
			return dirs
		}
		target, err := os.Readlink(next)
		if err != nil {
			return dirs
		}
		dirs[cur] = true
		if filepath.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if fi, err := os.Stat(cur); short && err == nil && fi.IsDir() {
		dirs[cur] = true // the way ended short of the file
	} else {
		dirs[filepath.Dir(cur)] = true // the file's own directory
	}
	return dirs
}
