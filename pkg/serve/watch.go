package serve

import (
	"fmt"
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
// symlinks are followed again at each event, so a link pointed
// elsewhere (by config management, or a ConfigMap's ..data swap) has
// its new target's directory watched and its old one's dropped. Whether
// the file really changed is for the reader to find out (reloader
// compares contents).
func watchDir(path string, log *logger, stop <-chan struct{}) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	followLinks(w, dir, path, log)
	changed := make(chan struct{}, 1)
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
				followLinks(w, dir, path, log)
				timer = time.After(settle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow loses events: check the file anyway.
				log.limited("watch", "watching the config directory", "dir", dir, "error", err)
				followLinks(w, dir, path, log)
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

// followLinks has w watch, besides dir (path's own directory, watched
// for as long as w runs), the directories linkDirs finds for path now,
// and no longer the ones it found before.
func followLinks(w *fsnotify.Watcher, dir, path string, log *logger) {
	want := linkDirs(path)
	// dir is watched already, perhaps by another name: adding it again
	// and removing that would end its watch too (one inode, one watch).
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		delete(want, real)
	}
	for _, d := range w.WatchList() {
		switch {
		case d == dir:
		case want[d]:
			delete(want, d) // watched already
		default:
			w.Remove(d) // an error: the directory is gone, and its watch with it
		}
	}
	for d := range want {
		if err := w.Add(d); err != nil {
			log.limited("watch", "watching the directory a symlink to the config file leads to", "dir", d, "error", err)
		}
	}
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
	if fi, err := os.Stat(cur); err == nil && fi.IsDir() {
		dirs[cur] = true // the way ended short of the file
	} else {
		dirs[filepath.Dir(cur)] = true // the file's own directory
	}
	return dirs
}
