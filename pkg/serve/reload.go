package serve

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/xdpfw/xdpfw/internal/input"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// reloadStatus is what the metrics say of the config.
type reloadStatus struct {
	ok        bool      // the last reload applied the file
	err       string    // why it did not, when it did not
	at        time.Time // the last reload, good or bad
	goodAt    time.Time // the last good one
	successes int
	failures  int
}

// reloader applies the config file to the pin directory, through the
// same write path as xdpfw apply (loader.State.ApplyFile).
type reloader struct {
	dir, path string
	log       *logger

	mu     sync.Mutex
	status reloadStatus
	seen   [sha256.Size]byte // contents last tried
	unread string            // or why the file could not be read then
	tried  bool
	sets   setFiles // the set files it names, polled (setfiles.go)
}

// triggerRetry is the reload of a file that failed, after retryEvery.
const triggerRetry = "retry"

// retryEvery is how often a file that failed is tried again. What failed
// may be outside the file: at boot an interface it lists may not exist
// yet, or another process may hold a foreign XDP program on it.
const retryEvery = 30 * time.Second

// reload applies the file. A forced reload (start, SIGHUP) applies it
// whatever it holds; otherwise a file whose contents are those last
// tried, or that fails to read as it did then (a file deleted), is left
// alone: the directory watch fires for any file in it. A bad file
// (unreadable, invalid, refused by apply) changes nothing live: the last
// good ruleset stays, and the log and the metrics say why.
func (r *reloader) reload(why string, force bool) {
	data, err := input.ReadFile(r.path, input.MaxRuleset)
	sum := sha256.Sum256(data)
	unread := ""
	if err != nil {
		unread = err.Error()
	}
	r.mu.Lock()
	same := r.tried && sum == r.seen && unread == r.unread
	r.seen, r.unread, r.tried = sum, unread, true
	r.mu.Unlock()
	if same && !force {
		return
	}
	var (
		rs  *rules.Ruleset
		res loader.ApplyResult
		ch  loader.IfaceChange
	)
	if err == nil {
		opt := blocklist.RulesetOptionsWith(blocklist.Options{})
		opt.Dir = filepath.Dir(r.path)
		// The set files read, a failed parse's too: polls then wait for
		// one to change again, while the retries try the whole file.
		var read func()
		opt.ReadSet, read = r.sets.reading(opt.ReadSet)
		rs, err = rules.ParseYAML(r.path, data, opt)
		read()
	}
	if err == nil {
		err = loader.Provision(r.dir, func(s *loader.State) (err error) {
			res, ch, err = s.ApplyFile(rs)
			return err
		})
	}
	for _, w := range ch.Warnings {
		r.log.Warn("attach", "warning", w)
	}
	for _, a := range ch.Attached {
		r.log.Info("attached", "interface", a.Iface, "mode", string(a.Mode), "program_id", a.ProgID)
	}
	for _, name := range ch.Detached {
		r.log.Info("detached", "interface", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	prev := r.status.err
	r.status.at, r.status.ok, r.status.err = now, err == nil, ""
	if err != nil {
		r.status.err = oneLine(err.Error())
		r.status.failures++
		// A retry, or a set file's change, that fails as the last
		// attempt did is not news: a config that cannot be read failed
		// so at each feed update.
		if (why != triggerRetry && why != triggerSetFile) || r.status.err != prev {
			if a := (*loader.AttachAfterApply)(nil); errors.As(err, &a) && a.Live {
				r.log.Error("config applied, but its interfaces are not all attached", "file", r.path, "trigger", why, "error", err)
			} else {
				r.log.Error("config not applied: keeping the last good ruleset", "file", r.path, "trigger", why, "error", err)
			}
		}
		return
	}
	r.status.goodAt = now
	r.status.successes++
	for _, name := range loader.UnknownInterfaces(rs) {
		r.log.Warn("a rule names an interface that does not exist here: it matches nothing until the interface exists and xdpfw is attached to it or the ruleset is applied again", "interface", name)
	}
	if !res.Committed {
		// The rules as they were; the attachments, logged above, may
		// have changed.
		msg := "config unchanged"
		if ch.Changed() {
			msg = "config applied: its interfaces changed, its rules did not"
		}
		r.log.Info(msg, "file", r.path, "trigger", why, "rules", len(rs.Rules), "policy", rs.Policy.String())
		return
	}
	r.log.Info("config applied", "file", r.path, "trigger", why, "rules", len(rs.Rules), "policy", rs.Policy.String(),
		"unchanged", res.Unchanged, "added", res.Added, "removed", res.Removed)
}

// maxErrorLabel bounds the error a metric label carries.
const maxErrorLabel = 300

// oneLine is msg on one line, cut at maxErrorLabel bytes (on a rune
// boundary), for a metric label.
func oneLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) <= maxErrorLabel {
		return msg
	}
	cut := maxErrorLabel
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}

// failing reports whether the last reload failed.
func (r *reloader) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tried && !r.status.ok
}

// current is the status as of now.
func (r *reloader) current() reloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}
