package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// nsCLI runs the CLI in-process in a throwaway network namespace holding
// one veth, on a pin directory of its own; both go when the test ends.
type nsCLI struct {
	t     *testing.T
	ns    netns.NsHandle
	dir   string
	iface string
}

func newNSCLI(t *testing.T, iface string) *nsCLI {
	t.Helper()
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	c := &nsCLI{t: t, ns: ns, dir: privtest.PinDir(t), iface: iface}
	c.in(func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: iface}, PeerName: iface + "p"})
	})
	return c
}

// in runs fn in the namespace; an error fails the test.
func (c *nsCLI) in(fn func() error) {
	c.t.Helper()
	if err := perf.InNetns(c.ns, fn); err != nil {
		c.t.Fatal(err)
	}
}

func (c *nsCLI) run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	c.in(func() error {
		cliMu.Lock()
		defer cliMu.Unlock()
		app := newApp(&out, &errOut)
		err = app.Run(interspersed(app, append([]string{"xdpfw", "--pin-dir", c.dir}, args...)))
		return nil
	})
	return out.String(), errOut.String(), err
}

func (c *nsCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, stderr, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("xdpfw %s: %v (stderr %q)", strings.Join(args, " "), err, stderr)
	}
	return out
}

// wantFail runs a command that must fail with a one-line error holding
// want.
func (c *nsCLI) wantFail(want string, args ...string) string {
	c.t.Helper()
	out, _, err := c.run(args...)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) {
		c.t.Errorf("xdpfw %s: error %v, want one line holding %q", strings.Join(args, " "), err, want)
	}
	return out
}

func (c *nsCLI) xdpProg() uint32 {
	var id uint32
	c.in(func() error {
		link, err := netlink.LinkByName(c.iface)
		if err == nil && link.Attrs().Xdp != nil {
			id = link.Attrs().Xdp.ProgId
		}
		return err
	})
	return id
}

// TestStatusVanishedInterface: status fails naming the fix for an
// interface deleted while attached, detach --ifindex of its record, and
// that is the fix.
func TestStatusVanishedInterface(t *testing.T) {
	c := newNSCLI(t, "vanish0")
	c.mustRun("attach", "--mode", "generic", c.iface)
	var ifindex int
	c.in(func() error {
		link, err := netlink.LinkByName(c.iface)
		if err != nil {
			return err
		}
		ifindex = link.Attrs().Index
		return netlink.LinkDel(link)
	})
	fix := fmt.Sprintf("xdpfw detach --ifindex %d", ifindex)
	out := c.wantFail("run: "+fix, "status")
	if !strings.Contains(out, "problems:\n  missing: vanish0") {
		t.Errorf("status printed:\n%s\nwant the problem listed", out)
	}
	out = c.wantFail("run: "+fix, "status", "--json")
	st := decodeJSON[statusJSON](t, "status --json", out)
	if len(st.Problems) != 1 || st.Problems[0].Kind != "missing" || st.Problems[0].Fix != fix || !st.Loaded {
		t.Errorf("status --json: loaded %v, problems %+v", st.Loaded, st.Problems)
	}
	want := fmt.Sprintf("removed the record of vanish0 (ifindex %d): xdpfw was no longer running there\nno interface left: removed %s\n", ifindex, c.dir)
	if out := c.mustRun(strings.Fields(fix)[1:]...); out != want {
		t.Errorf("%s printed %q, want %q", fix, out, want)
	}
	c.wantFail("not attached", "status")
}

// TestStatusOrphan: with the pin directory removed under a running
// program, status fails naming detach --orphans, which removes it. With
// nothing pinned, status --json fails as status does, after a document
// saying nothing is loaded.
func TestStatusOrphan(t *testing.T) {
	c := newNSCLI(t, "orphan0")
	c.mustRun("attach", "--mode", "generic", c.iface)
	id := c.xdpProg()
	if err := os.RemoveAll(c.dir); err != nil {
		t.Fatal(err)
	}
	c.wantFail("not attached", "detach", "--all")
	out := c.wantFail(fmt.Sprintf("orphan0 runs an xdpfw program (id %d) but nothing is pinned in %s (run: xdpfw detach --orphans)", id, c.dir), "status")
	if !strings.Contains(out, "orphan: orphan0") {
		t.Errorf("status printed:\n%s\nwant the orphan listed", out)
	}
	st := decodeJSON[statusJSON](t, "status --json", c.wantFail("detach --orphans", "status", "--json"))
	if len(st.Problems) != 1 || st.Problems[0].Kind != "orphan" || st.Problems[0].ProgID != id || st.Loaded {
		t.Errorf("status --json: loaded %v, problems %+v", st.Loaded, st.Problems)
	}
	if out := c.mustRun("detach", "--orphans"); out != fmt.Sprintf("detached orphaned xdpfw program %d from orphan0\n", id) {
		t.Errorf("detach --orphans printed %q", out)
	}
	if got := c.xdpProg(); got != 0 {
		t.Errorf("program %d still on %s", got, c.iface)
	}
	c.wantFail("not attached", "status")
	st = decodeJSON[statusJSON](t, "status --json", c.wantFail("not attached", "status", "--json"))
	if st.Loaded || st.PinDir != c.dir || st.Rules != 0 || st.Interfaces == nil || len(st.Interfaces) != 0 || st.Problems == nil || len(st.Problems) != 0 {
		t.Errorf("status --json with nothing pinned: %+v, want loaded false, the pin directory, and empty lists", st)
	}
	// Two of them said "name interfaces or give --all", of a detach
	// that named one and gave --all.
	c.wantFail("detach: interface names, --ifindex, --all and --orphans each go alone: give one", "detach", "--all", "--orphans")
	c.wantFail("detach: interface names, --ifindex, --all and --orphans each go alone: give one", "detach", c.iface, "--all")
	c.wantFail("detach: name interfaces or give --ifindex, --all or --orphans", "detach")
}

// TestStatusJSONUnreadable: with a pin of the state removed, status
// --json fails as status does, after a document saying something is
// pinned and why it cannot be read: it printed nothing, so a script got
// a JSON parse error for a reason.
func TestStatusJSONUnreadable(t *testing.T) {
	dir := privtest.PinDir(t)
	mustRunCLI(t, dir, "", "set", "create", "s")
	if err := os.Remove(filepath.Join(dir, "rule_stats")); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLIBoth(dir, "", "status", "--json")
	if err == nil || !strings.Contains(err.Error(), "run: xdpfw detach --all") {
		t.Fatalf("status --json: error %v, want the broken state's (stderr %q)", err, stderr)
	}
	type failure struct {
		PinDir string `json:"pin_dir"`
		Loaded bool   `json:"loaded"`
		Error  string `json:"error"`
	}
	st := decodeJSON[failure](t, "status --json", out)
	if st.PinDir != dir || !st.Loaded || st.Error != err.Error() {
		t.Errorf("status --json of a broken state: %+v, want pin_dir %s, loaded true and the error %q", st, dir, err)
	}
	if out, _, _ := runCLIBoth(dir, "", "status"); out != "" {
		t.Errorf("status of a broken state printed %q, want nothing but the error", out)
	}
	if _, err := runCLI(t, dir, "", "detach", "--all"); err != nil {
		t.Errorf("detach --all: %v", err)
	}
}

// TestDetachAllStrayMap: detach --all with a stray map in the pin
// directory detaches, removes xdpfw's pins and leaves the stray, saying
// so; with a map missing as well it does the same from the broken state.
func TestDetachAllStrayMap(t *testing.T) {
	for _, missing := range []string{"", "rule_stats"} {
		c := newNSCLI(t, "stray0")
		c.mustRun("attach", "--mode", "generic", c.iface)
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Pin(filepath.Join(c.dir, "stray"))
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if missing != "" {
			if err := os.Remove(filepath.Join(c.dir, missing)); err != nil {
				t.Fatal(err)
			}
			c.wantFail("run: xdpfw detach --all", "status")
		}
		out, stderr, err := c.run("detach", "--all")
		if err != nil {
			t.Errorf("detach --all: %v", err)
		}
		if !strings.HasPrefix(out, "detached from stray0\n") {
			t.Errorf("detach --all printed %q", out)
		}
		if want := "xdpfw: warning: left stray in " + c.dir + ": not xdpfw's, so not removed (remove it yourself)\n"; !strings.HasSuffix(stderr, want) {
			t.Errorf("detach --all warned %q, want %q at the end", stderr, want)
		}
		if missing != "" && !strings.Contains(stderr, "cannot be opened") {
			t.Errorf("detach --all of a broken state warned %q", stderr)
		}
		if got := c.xdpProg(); got != 0 {
			t.Errorf("program %d still on %s", got, c.iface)
		}
		entries, _ := os.ReadDir(c.dir)
		if len(entries) != 1 || entries[0].Name() != "stray" {
			t.Errorf("pin directory holds %v, want the stray map alone", entries)
		}
	}
}

// TestDetachLastStrayMap: detach of the last interface, by name or by
// ifindex, whose pins cannot all go (a stray map keeps the directory)
// says that it detached before the error naming what was left: it said
// only the error, so the operator did not learn the interface was
// detached.
func TestDetachLastStrayMap(t *testing.T) {
	for _, byIfindex := range []bool{false, true} {
		c := newNSCLI(t, "straydet0")
		c.mustRun("attach", "--mode", "generic", c.iface)
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Pin(filepath.Join(c.dir, "stray"))
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		args, want := []string{"detach", c.iface}, "detached from straydet0\n"
		if byIfindex {
			var ifindex int
			c.in(func() error {
				link, err := netlink.LinkByName(c.iface)
				if err == nil {
					ifindex = link.Attrs().Index
				}
				return err
			})
			args = []string{"detach", "--ifindex", fmt.Sprint(ifindex)}
			want = fmt.Sprintf("detached from straydet0 (ifindex %d)\n", ifindex)
		}
		out, _, err := c.run(args...)
		if wantErr := "remove pinned state: left stray in " + c.dir + ": not xdpfw's, so not removed (remove it yourself)"; err == nil || err.Error() != wantErr {
			t.Errorf("xdpfw %s: error %v, want %q", strings.Join(args, " "), err, wantErr)
		}
		if out != want {
			t.Errorf("xdpfw %s printed %q, want %q", strings.Join(args, " "), out, want)
		}
		if got := c.xdpProg(); got != 0 {
			t.Errorf("program %d still on %s", got, c.iface)
		}
		entries, _ := os.ReadDir(c.dir)
		if len(entries) != 1 || entries[0].Name() != "stray" {
			t.Errorf("pin directory holds %v, want the stray map alone", entries)
		}
	}
}
