package serve

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// slowWriter is `cat > path` in a process of its own (serve passes its
// own files over), fed by the test a piece at a time: an operator
// typing a file in, or a copy over a slow link.
type slowWriter struct {
	t     *testing.T
	path  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	wrote string
}

func startWriter(t *testing.T, path string) *slowWriter {
	t.Helper()
	return startWriterAs(t, path, 0)
}

// startWriterAs is startWriter as uid (0: root, as the test is).
func startWriterAs(t *testing.T, path string, uid uint32) *slowWriter {
	t.Helper()
	w := &slowWriter{t: t, path: path, cmd: exec.Command("sh", "-c", `exec cat > "$1"`, "sh", path)}
	if uid != 0 {
		w.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	in, err := w.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.in = in
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.in.Close(); w.cmd.Wait() })
	return w
}

// write has cat write s, and waits until the file holds it.
func (w *slowWriter) write(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.in, s); err != nil {
		w.t.Fatal(err)
	}
	w.wrote += s
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(w.path); string(b) == w.wrote {
			return
		}
		if time.Now().After(end) {
			w.t.Fatalf("cat did not write %q to %s", w.wrote, w.path)
		}
	}
}

// close ends cat's input: it closes the file and exits.
func (w *slowWriter) close() {
	w.t.Helper()
	w.in.Close()
	if err := w.cmd.Wait(); err != nil {
		w.t.Fatal(err)
	}
}

// lockedBuffer is a log Run writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveLab is Run on a throwaway state and a config in a directory of
// its own, until the test ends.
type serveLab struct {
	t         *testing.T
	pin, conf string
	log       lockedBuffer
	stop      context.CancelFunc
	done      chan error
}

func startServe(t *testing.T, first string) *serveLab {
	privtest.Require(t)
	l := &serveLab{t: t, pin: privtest.PinDir(t), conf: filepath.Join(t.TempDir(), "xdpfw.yaml"), done: make(chan error, 1)}
	if err := os.WriteFile(l.conf, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go func() { l.done <- Run(ctx, Config{PinDir: l.pin, ConfigFile: l.conf, Log: &l.log}) }()
	t.Cleanup(l.end)
	return l
}

// end stops Run, once.
func (l *serveLab) end() {
	if l.stop == nil {
		return
	}
	l.stop()
	l.stop = nil
	if err := <-l.done; err != nil {
		l.t.Errorf("serve: %v", err)
	}
}

// live is the policy and the number of rules in force, or why they
// cannot be read (none before the first reload).
func (l *serveLab) live() (string, int, error) {
	st, err := loader.ReadStatus(l.pin)
	return st.Policy, st.Rules, err
}

// await waits, up to within, for policy and rules to be in force.
func (l *serveLab) await(what string, within time.Duration, policy string, rules int) {
	l.t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		p, n, err := l.live()
		if err == nil && p == policy && n == rules {
			return
		}
		if time.Now().After(end) {
			l.t.Fatalf("%s: after %s, policy %q and %d rules in force (%v), want %q and %d\n%s", what, within, p, n, err, policy, rules, l.log.String())
		}
	}
}

// still checks that the last good ruleset, pass with no rule, is in
// force.
func (l *serveLab) still(what string) {
	l.t.Helper()
	if p, n, err := l.live(); err != nil || p != "pass" || n != 0 {
		l.t.Errorf("%s: policy %q, %d rules in force (%v), want the last good (pass, 0)\n%s", what, p, n, err, l.log.String())
	}
}

const (
	slowHead = "policy: drop\nrules:\n"
	slowTail = "  - {proto: tcp, dport: 22, action: pass}\n  - {proto: udp, dport: 53, action: pass}\n"
)

// TestServeWaitsForWriter: a config written in place by a writer that
// pauses past the settle with the file open (cat > file typed slowly),
// cut after "rules:", is not applied: it parses, a drop policy with no
// rule, and was applied as one the settle after the pause began. The
// whole file is, once the writer closes it.
func TestServeWaitsForWriter(t *testing.T) {
	l := startServe(t, "policy: pass\n")
	l.await("started", 10*time.Second, "pass", 0)
	w := startWriter(t, l.conf)
	w.write(slowHead)
	time.Sleep(time.Second)
	l.still("the config cut after rules:, held open for writing 1 s")
	w.write(slowTail)
	w.close()
	l.await("the whole config written", 10*time.Second, "drop", 2)
	l.end()
	if s := l.log.String(); strings.Contains(s, "rules=0 policy=drop") {
		t.Errorf("the half-written config was applied:\n%s", s)
	}
}

// TestServeWriterClosesLate: a config written whole whose writer holds
// it open past the wait's bound, then closes it without writing again,
// is applied once closed: the close is no event the watch reports, so
// it waited for the retry, 30 s on.
func TestServeWriterClosesLate(t *testing.T) {
	l := startServe(t, "policy: pass\n")
	l.await("started", 10*time.Second, "pass", 0)
	w := startWriter(t, l.conf)
	w.write(slowHead + slowTail)
	time.Sleep(settle + maxSettleWait + time.Second)
	l.still("a config held open for writing")
	w.close()
	l.await("the writer closed the config", 5*time.Second, "drop", 2)
}
