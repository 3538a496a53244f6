package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// bigSetLists are two lists of n elements each, sorted, that share half
// their elements: IPv4 /24s, IPv4 hosts inside /24s of either list (or of
// neither), IPv6 /64s and IPv6 hosts, a quarter each. base offsets every
// address (base < 4 keeps them apart), so lists for several sets differ.
func bigSetLists(n int, base byte) (a, b []netip.Prefix) {
	pool := make([]netip.Prefix, n*3/2)
	groups := uint32(len(pool)+3) / 4
	for i := range pool {
		g := uint32(i / 4)
		switch i % 4 {
		case 0:
			pool[i] = netip.PrefixFrom(addr4(uint32(11+base)<<24+g<<8), 24)
		case 1:
			pool[i] = netip.PrefixFrom(addr4(uint32(11+base)<<24+(g*7919%groups)<<8+7), 32)
		case 2:
			pool[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: base, 6: byte(g >> 8), 7: byte(g)}), 64)
		default:
			pool[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 1: base, 14: byte(g >> 8), 15: byte(g)}), 128)
		}
	}
	return rules.SortPrefixes(slices.Clone(pool[:n])), rules.SortPrefixes(slices.Clone(pool[n/2:]))
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// writeSetFile writes a blocklist file of ps.
func writeSetFile(t *testing.T, dir, name string, ps []netip.Prefix) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# generated\n")
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return writeFile(t, dir, name, b.String())
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// edgeFrames are UDP frames whose source or destination is on an edge of
// some elements of each list (a few from each part of it).
func edgeFrames(lists ...[]netip.Prefix) [][]byte {
	other := map[bool]netip.Addr{true: netip.MustParseAddr("192.0.2.1"), false: netip.MustParseAddr("2001:db8:ffff::1")}
	var frames [][]byte
	for _, ps := range lists {
		for i := 0; i < len(ps); i += len(ps)/16 + 1 {
			for _, a := range rulegen.PrefixEdges(ps[i]) {
				for _, f := range []rulegen.Frame{{Src: a, Dst: other[a.Is4()], Proto: 17, Sport: 1000, Dport: 53}, {Src: other[a.Is4()], Dst: a, Proto: 17, Sport: 53, Dport: 1000}} {
					frames = append(frames, f.Bytes())
				}
			}
		}
	}
	return frames
}

// liveClassifier runs frames through a program that classifies with the
// live maps (State.NewInstance), loaded again only when a map it shares
// with the state is no longer the one pinned: a load takes about a
// second, and a growth (or the next change finishing a growth or a
// conntrack resize a kill cut short) pins new maps.
type liveClassifier struct {
	pin    string
	tr     *loader.Instance
	shared map[string]ebpf.MapID // the maps tr shares with the state
	frames [][]byte
}

func newLiveClassifier(t *testing.T, pin string, frames [][]byte) *liveClassifier {
	t.Helper()
	c := &liveClassifier{pin: pin, frames: frames}
	t.Cleanup(func() {
		if c.tr != nil {
			c.tr.Close()
		}
	})
	c.load(t)
	return c
}

// load makes tr an instance on the maps pinned now, and notes which
// maps it shares with the state.
func (c *liveClassifier) load(t *testing.T) {
	t.Helper()
	if c.tr != nil {
		c.tr.Close()
		c.tr = nil
	}
	s, err := loader.Open(c.pin)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // the lock: the commands the test runs wait for it
	if c.tr, err = s.NewInstance(true); err != nil {
		t.Fatal(err)
	}
	c.shared = map[string]ebpf.MapID{}
	for name, m := range c.tr.Maps() {
		if id := mapID(m); id != 0 && id == pinnedMapID(c.pin, name) {
			c.shared[name] = id
		}
	}
	if len(c.shared) == 0 {
		t.Fatal("the live classifier shares no map with the state")
	}
}

// stale reports whether a map tr shares is no longer the one pinned.
func (c *liveClassifier) stale() bool {
	for name, id := range c.shared {
		if pinnedMapID(c.pin, name) != id {
			return true
		}
	}
	return false
}

func mapID(m *ebpf.Map) ebpf.MapID {
	info, err := m.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return id
}

// pinnedMapID is the id of the map pinned as name in pin (0: none).
func pinnedMapID(pin, name string) ebpf.MapID {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pin, name), nil)
	if err != nil {
		return 0
	}
	defer m.Close()
	return mapID(m)
}

// check: the datapath gives every frame the reference model's verdict
// under the live ruleset and sets, as save and set list show them (what
// replay --verify checks). It returns that ruleset.
func (c *liveClassifier) check(t *testing.T) *rules.Ruleset {
	t.Helper()
	if c.stale() {
		c.load(t)
	}
	s, err := loader.Open(c.pin)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.RulesetWithSets()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.frames {
		got, err := c.tr.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Evaluate(rs, f); got != want {
			t.Fatalf("frame %x: datapath %+v, model of the live ruleset and sets %+v", f, got, want)
		}
	}
	return rs
}

// startCLI starts `xdpfw ARGS` as a child process (this test binary, see
// TestMain); its standard error goes to stderr, if not nil.
func startCLI(t *testing.T, pin string, stderr *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	return startCLIOut(t, pin, nil, stderr, args...)
}

// startCLIOut is startCLI with standard output going to stdout, if not
// nil.
func startCLIOut(t *testing.T, pin string, stdout, stderr *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := cliChild(t, pin, args...)
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// killAfter runs `xdpfw ARGS` in a child process and SIGKILLs it after
// delay (never, if delay is negative). It reports whether the command had
// finished first; one that failed by itself fails the test.
func killAfter(t *testing.T, pin string, delay time.Duration, args ...string) (finished bool) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := startCLI(t, pin, &stderr, args...)
	if delay >= 0 {
		time.Sleep(delay)
		cmd.Process.Kill()
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return false
	}
	if err != nil {
		t.Fatalf("xdpfw %s failed: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return true
}

// timed runs `xdpfw ARGS` in a child process to its end and says how long
// it took.
func timed(t *testing.T, pin string, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	killAfter(t, pin, -1, args...)
	return time.Since(start)
}

// setIs reports which of the lists set name holds now (set list --json);
// it fails the test if the set holds none of them.
func setIs(t *testing.T, pin, name string, lists ...[]string) int {
	t.Helper()
	got := decodeJSON[struct {
		Set      string
		Elements []string
	}](t, "set list --json", mustRunCLI(t, pin, "", "set", "list", "--json", name))
	for i, l := range lists {
		if slices.Equal(got.Elements, l) {
			return i
		}
	}
	var add, del int
	if len(lists) > 0 {
		a, d := diffStrings(lists[0], got.Elements)
		add, del = len(a), len(d)
	}
	t.Fatalf("set %s holds none of the expected lists: %d elements, %d more and %d fewer than the first", name, len(got.Elements), add, del)
	return -1
}

// diffStrings: what new has that old has not, and the reverse.
func diffStrings(old, new []string) (added, removed []string) {
	in := map[string]bool{}
	for _, s := range old {
		in[s] = true
	}
	for _, s := range new {
		if !in[s] {
			added = append(added, s)
		}
		delete(in, s)
	}
	for s := range in {
		removed = append(removed, s)
	}
	return added, removed
}

// killDelay is the moment to kill the i-th of n runs that take about
// span: a random one in the i-th of n equal slices of the first 1.1 span,
// so the kills land all over the runs, the end included.
func killDelay(span time.Duration, i, n int) time.Duration {
	slice := int64(span) * 11 / 10 / int64(n)
	return time.Duration(int64(i)*slice + rand.Int64N(slice))
}

// TestSetLoadKilled: a `set load` killed (SIGKILL) at any moment leaves
// the set's old elements or its new ones, exactly, the datapath agreeing
// with them, and the next load works and gives its file's elements. Loads
// go into an empty set and over a full one (the in-place change), of a set
// live rules use as source and destination and of one no rule uses.
func TestSetLoadKilled(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	a, b := bigSetLists(80_000, 0)
	paths := []string{writeSetFile(t, dir, "a.txt", a), writeSetFile(t, dir, "b.txt", b)}
	lists := [][]string{prefixStrings(a), prefixStrings(b), {}}
	const empty = 2

	mustRunCLI(t, pin, "", "set", "create", "used")
	mustRunCLI(t, pin, "", "set", "create", "unused")
	mustRunCLI(t, pin, "", "rule", "add", "--src", "@used", "--action", "drop")
	mustRunCLI(t, pin, "", "rule", "add", "--dst", "@used", "--proto", "udp", "--dport", "53", "--action", "pass", "--priority", "1")
	live := newLiveClassifier(t, pin, edgeFrames(a, b))

	for _, name := range []string{"used", "unused"} {
		// How long loads take here: only to spread the kills over them.
		spanEmpty := timed(t, pin, "set", "load", "-q", name, paths[0])
		spanFull := timed(t, pin, "set", "load", "-q", name, paths[1])
		current := setIs(t, pin, name, lists...)
		if current != 1 {
			t.Fatalf("set %s: load of b.txt did not make b.txt's elements live", name)
		}
		outcomes := killOutcomes{}
		// killed kills a load of paths[target] after delay and checks
		// that the set holds the old elements or the new ones.
		killed := func(target int, delay time.Duration) {
			finished := killAfter(t, pin, delay, "set", "load", "-q", name, paths[target])
			now := setIs(t, pin, name, lists[current], lists[target])
			if name == "used" {
				live.check(t)
			}
			outcomes.add(finished, now == 1)
			if now == 1 {
				current = target
			}
		}
		const reloads, loads = 3, 2
		for round := range reloads {
			// A load after a killed one repairs the set first: longer.
			killed(1-current, killDelay(spanFull*3/2, round, reloads))
		}
		for round := range loads {
			if current != empty {
				mustRunCLI(t, pin, "", "set", "flush", name)
				current = empty
			}
			killed(round%2, killDelay(spanEmpty, round, loads))
		}
		t.Logf("set %s: a load into the empty set took %v, a reload %v; outcomes: %v", name, spanEmpty, spanFull, outcomes)
		target := 1 - current%2
		mustRunCLI(t, pin, "", "set", "load", "-q", name, paths[target])
		if setIs(t, pin, name, lists...) != target {
			t.Fatalf("set %s: the load after the kills did not give its file's elements", name)
		}
		live.check(t)
	}
}

// TestApplySetsKilled: an apply of a ruleset with large sets, killed at
// any moment, leaves the old ruleset and sets or the new ones, exactly,
// the datapath agreeing with them, and the next apply works. Both files
// have set bl, which their rules use, with different elements, a set the
// other lacks (each apply creates one and drops the other), and set u,
// which no rule uses, with different elements.
func TestApplySetsKilled(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	blA, blB := bigSetLists(60_000, 0)
	onlyA, onlyB := bigSetLists(20_000, 1)
	uA, uB := bigSetLists(16_000, 2)
	file := func(x, policy string, rules ...string) string {
		return fmt.Sprintf("policy: %s\nsets:\n  bl: {file: bl_%s.txt}\n  only_%s: {file: only_%s.txt}\n  u: {file: u_%s.txt}\nrules:\n  - %s\n",
			policy, x, x, x, x, strings.Join(rules, "\n  - "))
	}
	files := []string{
		file("a", "pass", `{src: "@bl", action: drop}`, `{dst: "@only_a", proto: udp, action: drop, priority: 1}`),
		file("b", "drop", `{dst: "@bl", action: pass}`, `{src: "@only_b", proto: udp, dport: 53, action: pass, priority: 1}`),
	}
	for name, ps := range map[string][]netip.Prefix{"bl_a.txt": blA, "bl_b.txt": blB, "only_a.txt": onlyA, "only_b.txt": onlyB, "u_a.txt": uA, "u_b.txt": uB} {
		writeSetFile(t, dir, name, ps)
	}
	var paths []string
	var want []*rules.Ruleset
	for i, text := range files {
		path := writeFile(t, dir, []string{"a.yaml", "b.yaml"}[i], text)
		rs, err := rules.ParseFile(path, blocklist.RulesetOptions())
		if err != nil {
			t.Fatal(err)
		}
		paths, want = append(paths, path), append(want, rs)
	}
	mustRunCLI(t, pin, "", "apply", "-f", paths[0])
	live := newLiveClassifier(t, pin, edgeFrames(blA, blB, onlyA, onlyB))
	span := timed(t, pin, "apply", "-f", paths[1])
	current := rulesetIs(t, live.check(t), want...)
	if current != 1 {
		t.Fatalf("apply of b did not make b live")
	}

	outcomes := killOutcomes{}
	const rounds = 6
	for round := range rounds {
		target := 1 - current
		// An apply after a killed one repairs the sets first: it takes
		// longer than the one measured.
		finished := killAfter(t, pin, killDelay(span*3/2, round, rounds), "apply", "-f", paths[target])
		now := rulesetIs(t, live.check(t), want[current], want[target])
		outcomes.add(finished, now == 1)
		if now == 1 {
			current = target
		}
	}
	t.Logf("one apply took %v; outcomes: %v", span, outcomes)

	target := 1 - current
	mustRunCLI(t, pin, "", "apply", "-f", paths[target])
	live.check(t)
	if liveIs(t, pin, string(rules.FormatYAML(want[0])), string(rules.FormatYAML(want[1]))) != target {
		t.Fatalf("the apply after the kills did not make its ruleset live")
	}
}

// rulesetIs reports which of want the live ruleset is, set elements
// included; it fails the test if it is none of them.
func rulesetIs(t *testing.T, live *rules.Ruleset, want ...*rules.Ruleset) int {
	t.Helper()
	var diffs []string
	for i, w := range want {
		d := rulesetDiff(live, w)
		if d == "" {
			return i
		}
		diffs = append(diffs, fmt.Sprintf("not ruleset %d: %s", i, d))
	}
	t.Fatalf("the live ruleset is none of the expected ones:\n%s", strings.Join(diffs, "\n"))
	return -1
}

// rulesetDiff says how got differs from want, "" if it does not.
func rulesetDiff(got, want *rules.Ruleset) string {
	var out []string
	bare := func(rs *rules.Ruleset) string {
		return string(rules.FormatYAML(&rules.Ruleset{Policy: rs.Policy, Rules: rs.Rules}))
	}
	if bare(got) != bare(want) {
		out = append(out, "policy or rules differ")
	}
	for name, ws := range want.Sets {
		gs := got.Sets[name]
		switch {
		case gs == nil:
			out = append(out, "no set "+name)
		case gs.Family != ws.Family || !slices.Equal(gs.Prefixes, ws.Prefixes):
			more, fewer := diffStrings(prefixStrings(ws.Prefixes), prefixStrings(gs.Prefixes))
			out = append(out, fmt.Sprintf("set %s: %d elements, %d more and %d fewer", name, len(gs.Prefixes), len(more), len(fewer)))
		}
	}
	for name := range got.Sets {
		if want.Sets[name] == nil {
			out = append(out, "extra set "+name)
		}
	}
	return strings.Join(out, "; ")
}

// killOutcomes counts how the killed commands ended.
type killOutcomes map[string]int

func (o killOutcomes) add(finished, isNew bool) {
	switch {
	case finished:
		o["finished before the kill"]++
	case isNew:
		o["killed, new state"]++
	default:
		o["killed, old state"]++
	}
}
