package serve

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	// ctx ends the reload's wait for the state's lock: the service is
	// stopping (nil: it waits as long as it takes).
	ctx       context.Context
	dir, path string
	maxSize   int64 // Config.MaxSize
	// allowDefaultRoute is Config.AllowDefaultRoute.
	allowDefaultRoute bool
	log               *logger

	mu     sync.Mutex
	status reloadStatus
	seen   [sha256.Size]byte // contents last tried
	unread string            // or why the file could not be read then
	held   bool              // unread as another process held it open for writing
	tried  bool
	sets   setFiles // the set files it names, polled (setfiles.go)
	// ifaces are the interfaces the file last parsed names (watchLinks).
	ifaces map[string]bool
	// warned is what the last good reload warned of (warnAbout).
	warned []string
}

// triggerRetry is the reload of a file that failed, after retryEvery.
const triggerRetry = "retry"

// triggerLink is the reload of an interface the config names that
// appeared (watchLinks).
func triggerLink(name string) string { return "interface " + name + " added" }

// routine reports whether a reload's trigger is the service's own (a
// retry, a set file's poll, the link watch), not the operator's (start,
// SIGHUP, a change of the config).
func routine(why string) bool {
	return why == triggerRetry || why == triggerSetFile || strings.HasPrefix(why, "interface ")
}

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
	max := cmp.Or(r.maxSize, input.MaxRuleset)
	data, err := readSettled(r.path, max)
	sum := sha256.Sum256(data)
	unread := ""
	if err != nil {
		unread = err.Error()
	}
	r.mu.Lock()
	same := r.tried && sum == r.seen && unread == r.unread
	r.seen, r.unread, r.tried = sum, unread, true
	var h *heldOpen
	r.held = errors.As(err, &h)
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
		setOpt := blocklist.Options{AllowDefaultRoute: r.allowDefaultRoute}
		if max > input.MaxBlocklist {
			setOpt.MaxSize = max
		}
		opt := blocklist.RulesetOptionsWith(setOpt)
		opt.Dir = filepath.Dir(r.path)
		// The set files read, a failed parse's too: polls then wait for
		// one to change again, while the retries try the whole file.
		var read func(bool)
		opt.ReadSet, read = r.sets.reading(opt.ReadSet)
		rs, err = rules.ParseYAML(r.path, data, opt)
		read(err == nil)
		if err == nil {
			r.list(rs)
		}
	}
	if err == nil {
		err = loader.ProvisionContext(r.context(), r.dir, func(s *loader.State) (err error) {
			res, ch, err = s.ApplyFile(rs)
			return err
		})
		if stopped := r.context().Err(); stopped != nil && errors.Is(err, stopped) {
			// Given up waiting for the lock: nothing changed, and the
			// status stays what it was.
			r.log.Warn("config not applied: stopping while another process holds the state's lock", "file", r.path, "trigger", why, "error", err)
			return
		}
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
			} else if enforcing(r.context(), r.dir) {
				r.log.Error("config not applied: keeping the last good ruleset", "file", r.path, "trigger", why, "error", err)
			} else {
				r.log.Error("config not applied: nothing is enforced until it is (no ruleset applied yet)", "file", r.path, "trigger", why, "error", err)
			}
		}
		return
	}
	r.status.goodAt = now
	r.status.successes++
	r.warnAbout(rs, why)
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
	// All it changed, in counts: a reload with the file as it was puts
	// back what other commands changed meanwhile (rule add, set add,
	// policy), which the rules' counts alone did not show.
	r.log.Info("config applied", "file", r.path, "trigger", why, "rules", len(rs.Rules), "policy", rs.Policy.String(),
		"unchanged", res.Unchanged, "added", res.Added, "removed", res.Removed,
		"sets_created", res.SetsCreated, "sets_removed", res.SetsRemoved, "sets_changed", res.SetsChanged,
		"set_elements_added", res.ElementsAdded, "set_elements_removed", res.ElementsRemoved,
		"policy_changed", res.PolicyChanged, "conntrack_changed", res.ConntrackChanged)
}

// maxSettleWait bounds how long readSettled waits for a file written
// without a pause, or held open for writing: the service does nothing
// else meanwhile.
const maxSettleWait = 2 * time.Second

// readSettled reads the config once it has stayed as it is for settle
// and no other process holds it open for writing. The watch waits so
// before it reports a change, but the start, SIGHUP, the retry and the
// set files' poll read it whenever they come: one written in place
// (scp, an editor that does not rename) was then read half written, and
// a file cut after a whole line parses (cut after "rules:", a drop
// policy with no rule). Its change time is looked at after the read:
// older than settle, the file was quiet that long and all through the
// read. A writer that pauses longer than settle in the middle of the
// file has it quiet as a finished one is; that it still holds the file
// open for writing (writingNow: for up to heldQuiet) is what tells the
// two apart. One still
// holding it at maxSettleWait fails the read; it writing again is a
// change the watch reports, and it closing the file is not
// (reloader.writerDone picks that up). A writer that closes the file
// between its chunks (echo >> file) is not seen: writing the file aside
// and renaming it over (as editors, install(1) and ConfigMaps do) never
// shows it half written.
func readSettled(path string, max int64) ([]byte, error) {
	var waited time.Duration
	for {
		data, err := input.ReadFile(path, max)
		wait, writer := settle-changedAgo(path), 0
		if err == nil && wait <= 0 {
			// Only once quiet: the scan costs more than a stat.
			if writer = writingNow(path); writer != 0 {
				wait = settle
			}
		}
		if err != nil || wait <= 0 {
			return data, err
		}
		if waited >= maxSettleWait {
			// The bound, not the wait, which varies by the millisecond:
			// a retry failing so again is not news (reloader.reload).
			if writer != 0 {
				return nil, &heldOpen{path, writer}
			}
			return nil, fmt.Errorf("%s is still being written after %s: not read half written", path, maxSettleWait)
		}
		time.Sleep(wait)
		waited += wait
	}
}

// heldOpen is readSettled's failure for a file another process still
// holds open for writing.
type heldOpen struct {
	path string
	pid  int
}

func (e *heldOpen) Error() string {
	return fmt.Sprintf("%s is still open for writing (by process %d) after %s: not read half written", e.path, e.pid, maxSettleWait)
}

// writerDone reports whether the last reload failed for a writer
// holding the file open and none holds it now, or it has stayed as it
// is for heldQuiet (writingNow): a close is no change the watch reports
// (fsnotify reports writes, not closes), so a writer that wrote its last
// line, paused past maxSettleWait and then closed the file (cat > file
// ended by a late ^D) had it applied only at the next retry, up to
// retryEvery later.
func (r *reloader) writerDone() bool {
	r.mu.Lock()
	held := r.held
	r.mu.Unlock()
	return held && writingNow(r.path) == 0
}

// writerRecheck is how often writerDone is asked.
const writerRecheck = time.Second

// triggerClosed is the reload of a file whose writer closed it, or left
// it quiet for heldQuiet (writerDone).
const triggerClosed = "closed by its writer, or quiet"

// changedAgo is how long ago path last changed (its inode's change
// time, which a writer cannot set back as it can the modification
// time), or settle when that cannot be told: a file gone fails to read
// anyway, and one changed in the future was changed before the clock
// was set back.
func changedAgo(path string) time.Duration {
	s := stampOf(path)
	if !s.there || s.ctime == 0 {
		return settle
	}
	ago := time.Since(time.Unix(0, s.ctime))
	if ago < 0 {
		return settle
	}
	return ago
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

// list records the interfaces a file parsed names: those it attaches to,
// and those its rules match on, which a commit resolves to their
// ifindexes (one made again has a new one).
func (r *reloader) list(rs *rules.Ruleset) {
	names := map[string]bool{}
	for _, i := range rs.Interfaces {
		names[i.Name] = true
	}
	for _, rule := range rs.Rules {
		if rule.Match.Iface != "" {
			names[rule.Match.Iface] = true
		}
	}
	r.mu.Lock()
	r.ifaces = names
	r.mu.Unlock()
}

// lists reports whether the file last parsed names the interface.
func (r *reloader) lists(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ifaces[name]
}

// context is r.ctx, or one that never ends.
func (r *reloader) context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
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

// enforcing reports whether dir holds a state (a ruleset applied, which
// pins keep enforced), as far as can be told: a state that cannot be
// opened for another reason, its lock waited for until ctx ended among
// them, is taken to be there.
func enforcing(ctx context.Context, dir string) bool {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return false
	}
	s, err := loader.OpenContext(ctx, dir)
	if err != nil {
		return !errors.Is(err, loader.ErrNotAttached)
	}
	s.Close()
	return true
}

// warnAbout logs what in rs an operator should hear of: rules read
// otherwise in nftables, rules and set elements that match only crafted
// frames, rules on interfaces not here. A routine reload that finds the same as the last
// good one says nothing: a feed updated every few minutes repeated them
// at each update. The operator's own (start, SIGHUP, a change of the
// config) says them again. The caller holds r.mu.
func (r *reloader) warnAbout(rs *rules.Ruleset, why string) {
	type warning struct{ msg, key, val string }
	var ws []warning
	for _, w := range rs.Warnings {
		msg := "a rule's tcp-flags read otherwise in nftables: applied as all set"
		if w.Kind == rules.WarnCrafted {
			msg = "a rule or a set's element matches only crafted frames"
		}
		// The warning names the file and the line, as an error does.
		ws = append(ws, warning{msg, "warning", w.FileError.Error()})
	}
	for _, name := range loader.UnknownInterfaces(rs) {
		ws = append(ws, warning{"a rule names an interface that does not exist here: it matches nothing until the interface exists and xdpfw is attached to it or the ruleset is applied again", "interface", name})
	}
	said := make([]string, len(ws))
	for i, w := range ws {
		said[i] = w.msg + "\x00" + w.val
	}
	same := slices.Equal(said, r.warned)
	r.warned = said
	if same && routine(why) {
		return
	}
	for _, w := range ws {
		if w.key == "interface" {
			r.log.Warn(w.msg, "interface", w.val)
			continue
		}
		r.log.Warn(w.msg, w.key, w.val)
	}
}
