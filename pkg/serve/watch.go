package serve

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the directory must be quiet before a change is
// acted on: an editor's save is several events (write a temporary file,
// rename it over, chmod), and so is a ConfigMap update.
const settle = 200 * time.Millisecond

// watchDir reports on the returned channel, once the events settle,
// that something in the config file's directory changed. The directory
// is watched rather than the file: editors and Kubernetes replace the
// file by renaming another over it (or over a symlink it resolves
// through), which a watch on the file itself does not survive. Whether
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
				timer = time.After(settle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow loses events: check the file anyway.
				log.limited("watch", "watching the config directory", "dir", dir, "error", err)
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
