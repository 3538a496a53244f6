package serve

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/rules"
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
	// Nothing was ever applied: it said it kept "the last good ruleset".
	if !strings.Contains(out.String(), "nothing is enforced until it is") || strings.Contains(out.String(), "last good") {
		t.Errorf("a failed first reload on no state, logged:\n%s", out.String())
	}
	r.reload("SIGHUP", true)
	if st := r.current(); st.failures != 2 {
		t.Errorf("a forced reload of the missing file: %d failures, want 2", st.failures)
	}
}

// TestReloadWaitsForSettle: a reload the watch did not settle (a SIGHUP)
// coming while the config is being written in place reads it once it
// has stayed as it is for the settle, not half written: cut after its
// first rule, it parses, and was applied one rule short.
func TestReloadWaitsForSettle(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	conf := filepath.Join(dir, "xdpfw.yaml")
	const head = "policy: pass\nrules:\n  - {proto: udp, dport: 9, action: drop}\n"
	const tail = "  - {proto: udp, dport: 10, action: drop}\n"
	if err := os.WriteFile(conf, []byte(head+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	if err := os.WriteFile(conf, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		time.Sleep(settle / 10)
		f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.WriteString(tail)
			f.Close()
		}
		wrote <- err
	}()
	r.reload("SIGHUP", true)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	st, err := loader.ReadStatus(pin)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rules != 2 || strings.Contains(out.String(), "rules=1") {
		t.Errorf("a SIGHUP while the config was being written: %d rules live, want 2\n%s", st.Rules, out.String())
	}
}

// TestReloadMaxSize: Config.MaxSize (serve --max-size) is the config's
// limit, as apply's is: a file over it is refused saying so, and read
// once it is raised. The default alone left a
// saved set of a few million elements (over 64 MiB) unservable, the
// error naming a --max-size serve did not have.
func TestReloadMaxSize(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	conf := filepath.Join(dir, "xdpfw.yaml")
	text := "policy: pass\nrules:\n  - {proto: udp, dport: 9, action: drop}\n" + strings.Repeat("# padding\n", 300)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, maxSize: 1 << 10, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	if st := r.current(); st.ok || !strings.Contains(st.err, conf+": larger than the 1 KiB limit (--max-size raises it)") {
		t.Fatalf("a config over --max-size 1K: ok %v, error %q", st.ok, st.err)
	}
	r.maxSize = 4 << 10
	r.reload("SIGHUP", true)
	if st := r.current(); !st.ok {
		t.Fatalf("the config under --max-size 4K: %s\n%s", st.err, out.String())
	}
}

// TestReloadAllowDefaultRoute: Config.AllowDefaultRoute (serve
// --allow-default-route) takes a set file holding 0.0.0.0/0, as apply's
// flag does. Without it the file is refused saying to give the flag,
// which serve did not have: such a config could never be served.
func TestReloadAllowDefaultRoute(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	conf := filepath.Join(dir, "xdpfw.yaml")
	text := "sets:\n  all:\n    file: all.txt\nrules:\n  - {src: \"@all\", action: drop}\npolicy: pass\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "all.txt"), []byte("0.0.0.0/0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	if st := r.current(); st.ok || !strings.Contains(st.err, "only with --allow-default-route") {
		t.Fatalf("a set file of 0.0.0.0/0 without --allow-default-route: ok %v, error %q", st.ok, st.err)
	}
	r.allowDefaultRoute = true
	r.reload("SIGHUP", true)
	if st := r.current(); !st.ok {
		t.Fatalf("a set file of 0.0.0.0/0 with --allow-default-route: %s\n%s", st.err, out.String())
	}
}

// TestReloadSaysWhatItPutBack: a reload of the config as it was puts back
// what other commands changed meanwhile, and its log line counts it: the
// rules, the sets made, removed and changed, their elements, the policy.
// It counted the rules alone, so a set add or a policy undone logged as
// nothing changed ("unchanged=1 added=0 removed=0").
func TestReloadSaysWhatItPutBack(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	conf := filepath.Join(dir, "xdpfw.yaml")
	const text = "policy: drop\nsets:\n  feed:\n    family: ipv4\n    elements: [192.0.2.1, 192.0.2.2]\nrules:\n  - {src: \"@feed\", action: pass}\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reloader{dir: pin, path: conf, log: newLogger(&out, time.Minute)}
	r.reload("start", true)
	s, err := loader.Open(pin)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rule, err := rules.NewRule(5, "drop", map[string]string{"proto": "udp", "dport": "53"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rule); err != nil {
		t.Fatal(err)
	}
	add := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.7/32")}
	del := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
	if _, err := s.ChangeSet("feed", add, del); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSet("extra", rules.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeSet("extra", add[:1], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPolicy(rules.Pass); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out.Reset()
	r.reload("SIGHUP", true)
	for _, want := range []string{"msg=\"config applied\"", "rules=1 ", "unchanged=1 added=0 removed=1 ",
		"sets_created=0 sets_removed=1 sets_changed=1 ", "set_elements_added=1 set_elements_removed=3 ",
		"policy_changed=true ", "conntrack_changed=false"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the reload putting back a rule, a set, elements and the policy logged %q, want %q in it", out.String(), want)
		}
	}
}
