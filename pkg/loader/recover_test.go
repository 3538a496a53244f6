package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// inThrowawayNetns runs fn in a new network namespace, removed (with its
// veths, and so the programs attached to them) when the test ends. fn
// reports with t.Errorf and returns errors, never t.Fatal.
func inThrowawayNetns(t *testing.T, fn func() error) {
	t.Helper()
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := perf.InNetns(ns, fn); err != nil {
		t.Fatal(err)
	}
}

func addVeths(names ...string) error {
	for _, name := range names {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
			return fmt.Errorf("add veth %s: %w", name, err)
		}
	}
	return nil
}

// attachedState makes veths of these names and a state in dir attached
// to them in generic mode; the caller closes it.
func attachedState(dir string, ifaces ...string) (*State, error) {
	if err := addVeths(ifaces...); err != nil {
		return nil, err
	}
	s, err := OpenOrCreate(dir)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.AttachAll(ifaces, ModeGeneric, false); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func delLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(link)
}

func pinDirGone(t *testing.T, dir, after string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after %s: %s: %v, want it gone", after, dir, err)
	}
}

// TestDetachVanishedInterface: an interface deleted while attached is
// listed as missing, with the fix (by ifindex), and `detach IFACE` forgets
// it by name as well; the last such detach removes the pins.
func TestDetachVanishedInterface(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		s, err := attachedState(dir, "gone0", "gone1")
		if err != nil {
			return err
		}
		defer s.Close()
		defer s.unpinAll()
		link, err := netlink.LinkByName("gone0")
		if err != nil {
			return err
		}
		if err := delLink("gone0"); err != nil {
			return err
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		fix := fmt.Sprintf("xdpfw detach --ifindex %d", link.Attrs().Index)
		if len(st.Problems) != 1 || st.Problems[0].Kind != "missing" || st.Problems[0].Iface != "gone0" || st.Problems[0].Fix != fix {
			t.Errorf("problems %+v, want gone0 missing, fixed by %s", st.Problems, fix)
		}
		if d, err := s.Detach("gone0"); err != nil || d.Last {
			t.Errorf("detach gone0: last %v, %v; want false, nil", d.Last, err)
		}
		if st, err := s.Status(); err != nil || len(st.Problems) != 0 || len(st.Interfaces) != 1 {
			t.Errorf("after detach gone0: %+v, %v; want gone1 alone and no problems", st, err)
		}
		if _, err := s.Detach("gone0"); err == nil || !strings.Contains(err.Error(), `unknown interface "gone0"`) {
			t.Errorf("detach gone0 again: %v, want unknown interface", err)
		}
		// The last interface, gone too (a new one of the same name is
		// another interface), and the pins go with it.
		if err := delLink("gone1"); err != nil {
			return err
		}
		if err := addVeths("gone1"); err != nil {
			return err
		}
		if d, err := s.Detach("gone1"); err != nil || !d.Last {
			t.Errorf("detach gone1: last %v, %v; want true, nil", d.Last, err)
		}
		pinDirGone(t, dir, "detaching the last, vanished, interface")
		return nil
	})
}

// TestOrphans: a program left running when its pins were removed, or its
// record forgotten, is listed as an orphan and DetachOrphans removes it.
func TestOrphans(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		s, err := attachedState(dir, "orph0", "orph1")
		if err != nil {
			return err
		}
		// A record forgotten: orph1 runs xdpfw unlisted.
		link, err := netlink.LinkByName("orph1")
		if err != nil {
			return err
		}
		if err := s.forget(link.Attrs().Index, "orph1"); err != nil {
			return err
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		if len(st.Problems) != 1 || st.Problems[0].Kind != "orphan" || st.Problems[0].Iface != "orph1" || st.Problems[0].Fix != "xdpfw detach --orphans" {
			t.Errorf("problems %+v, want orph1 an orphan", st.Problems)
		}
		// This state's own program, unlisted on orph1, enforces this
		// state's rules: an apply does not warn of it.
		if _, ch, err := s.ApplyFile(mustRuleset(t, "policy: pass\nrules:\n  - {proto: udp, dport: 53, action: drop}\n")); err != nil || len(ch.Warnings) != 0 {
			t.Errorf("apply with this state's program unlisted on orph1: warnings %q (%v), want none", ch.Warnings, err)
		}
		// The pin directory removed under the running program.
		s.unpinAll()
		s.Close()
		pinDirGone(t, dir, "unpinAll")
		orphans, err := Orphans(dir)
		if err != nil {
			return err
		}
		if len(orphans) != 2 || orphans[0].Iface != "orph0" || orphans[1].Iface != "orph1" || orphans[0].Mode != ModeGeneric {
			t.Errorf("orphans %+v, want orph0 and orph1 in generic mode", orphans)
		}
		// An apply makes a fresh state, which attaches nowhere: it says
		// the orphans run on, enforcing the ruleset they had.
		var ch IfaceChange
		err = Provision(dir, func(s *State) (err error) {
			_, ch, err = s.ApplyFile(mustRuleset(t, "policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n"))
			return err
		})
		if err != nil {
			return err
		}
		defer removeState(dir)
		if len(ch.Warnings) != 2 || !strings.HasPrefix(ch.Warnings[0], "orph0 runs an orphaned xdpfw program") || !strings.HasSuffix(ch.Warnings[1], "xdpfw attach orph1)") {
			t.Errorf("apply's warnings %q, want orph0 and orph1 named", ch.Warnings)
		}
		done, err := DetachOrphans(dir)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(done, orphans) {
			t.Errorf("detached %+v, want %+v", done, orphans)
		}
		for _, name := range []string{"orph0", "orph1"} {
			if id, err := xdpProgOn(name); err != nil || id != 0 {
				t.Errorf("%s runs program %d (%v) after DetachOrphans", name, id, err)
			}
		}
		if orphans, err := Orphans(dir); err != nil || len(orphans) != 0 {
			t.Errorf("orphans after DetachOrphans: %+v, %v", orphans, err)
		}
		return nil
	})
}

// TestOrphansOfAnotherState: two states in one network namespace (two
// pin directories) do not take each other's programs for orphans; once
// the other's pins are gone, its program is one.
func TestOrphansOfAnotherState(t *testing.T) {
	dirA, dirB := privtest.PinDir(t), privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		a, err := attachedState(dirA, "twoa0")
		if err != nil {
			return err
		}
		defer a.Close()
		defer a.unpinAll()
		b, err := attachedState(dirB, "twob0")
		if err != nil {
			return err
		}
		defer b.Close()
		for _, s := range []*State{a, b} {
			if st, err := s.Status(); err != nil || len(st.Problems) != 0 {
				t.Errorf("status of %s beside another state: %+v, %v; want no problems", s.dir, st.Problems, err)
			}
		}
		if err := b.unpinAll(); err != nil {
			return err
		}
		orphans, err := a.Orphans()
		if err != nil {
			return err
		}
		if len(orphans) != 1 || orphans[0].Iface != "twob0" {
			t.Errorf("orphans once %s is gone: %+v, want twob0", dirB, orphans)
		}
		return nil
	})
}

// TestAttachOverOrphan: attaching to an interface an orphan runs on (its
// pins removed by hand while attached) is refused naming it as xdpfw's
// orphan and the command that removes it, not as a program xdpfw did not
// make (which sent the operator to --force over a firewall still
// enforcing a ruleset no state lists); a program that is not xdpfw's is
// still refused as one.
func TestAttachOverOrphan(t *testing.T) {
	dirA, dirB := privtest.PinDir(t), privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		a, err := attachedState(dirA, "orpa0")
		if err != nil {
			return err
		}
		a.unpinAll()
		a.Close()
		pinDirGone(t, dirA, "removing the pins by hand")
		b, err := OpenOrCreate(dirB)
		if err != nil {
			return err
		}
		defer b.Close()
		defer b.unpinAll()
		for _, by := range []askedBy{byFlags, byFile} {
			err := b.canAttach("orpa0", false, by, nil)
			if err == nil || strings.Contains(err.Error(), "not xdpfw's") ||
				!strings.Contains(err.Error(), "orpa0 runs an xdpfw program (id ") || !strings.Contains(err.Error(), "xdpfw detach --orphans") {
				t.Errorf("attach over an orphan (%d): %v; want it named an xdpfw orphan, with detach --orphans", by, err)
			}
		}
		if _, _, err := b.Attach("orpa0", ModeGeneric, false); err == nil || !strings.Contains(err.Error(), "orpa0 runs an xdpfw program") {
			t.Errorf("Attach over an orphan: %v", err)
		}
		// Another's program: a throwaway XDP program not named as xdpfw's.
		if err := addVeths("orpb0"); err != nil {
			return err
		}
		link, err := netlink.LinkByName("orpb0")
		if err != nil {
			return err
		}
		other, err := otherXDP()
		if err != nil {
			return err
		}
		defer other.Close()
		if err := netlink.LinkSetXdpFdWithFlags(link, other.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		if err := b.CanAttach("orpb0", false); err == nil || !strings.Contains(err.Error(), "not xdpfw's; use --force") {
			t.Errorf("attach over another's program: %v, want it refused as not xdpfw's", err)
		}
		return nil
	})
}

// TestRemoveBrokenState: detach --all gets out of a pin directory whose
// state cannot be opened, removing only what is xdpfw's.
func TestRemoveBrokenState(t *testing.T) {
	cases := []struct {
		name   string
		stray  bool   // pin a map xdpfw does not have
		remove string // unlink this pin of xdpfw's
		broken bool   // the state cannot be opened
		clsact bool   // the egress learner on clsact (as before 6.6)
	}{
		{name: "stray map", stray: true},
		{name: "missing map", remove: xdpfwMapRuleStats, broken: true},
		{name: "missing meta", remove: xdpfwMapMeta, broken: true},
		{name: "missing atom_scratch", remove: xdpfwMapAtomScratch, broken: true}, // not an added map
		{name: "stray and missing", stray: true, remove: xdpfwMapRanks, broken: true},
		{name: "missing map, clsact", remove: xdpfwMapRuleStats, broken: true, clsact: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := privtest.PinDir(t)
			iface := fmt.Sprintf("brk%d", i)
			if tc.clsact {
				egressHooksOnly(t, layout.EgressClsact)
			}
			inThrowawayNetns(t, func() error {
				s, err := attachedState(dir, iface)
				if err != nil {
					return err
				}
				s.Close()
				if tc.stray {
					m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
					if err != nil {
						return err
					}
					err = m.Pin(filepath.Join(dir, "stray"))
					m.Close()
					if err != nil {
						return err
					}
				}
				if tc.remove != "" {
					if err := os.Remove(filepath.Join(dir, tc.remove)); err != nil {
						return err
					}
				}
				r, err := RemoveState(dir)
				if err != nil {
					t.Errorf("RemoveState: %v", err)
				}
				if (r.Broken != "") != tc.broken {
					t.Errorf("broken %q, want broken %v", r.Broken, tc.broken)
				}
				if !reflect.DeepEqual(r.Detached, []string{iface}) {
					t.Errorf("detached %v, want [%s]", r.Detached, iface)
				}
				if id, err := xdpProgOn(iface); err != nil || id != 0 {
					t.Errorf("%s runs program %d (%v) after RemoveState", iface, id, err)
				}
				if tc.clsact {
					checkNoEgress(t, dir, linkNamed(t, iface))
				}
				entries, _ := os.ReadDir(dir)
				var left []string
				for _, e := range entries {
					left = append(left, e.Name())
				}
				if tc.stray {
					if !reflect.DeepEqual(r.Left, []string{"stray"}) || !reflect.DeepEqual(left, []string{"stray"}) || r.DirRemoved {
						t.Errorf("left %v (reported %v, dir removed %v), want the stray map alone", left, r.Left, r.DirRemoved)
					}
				} else {
					if !r.DirRemoved || len(r.Left) != 0 {
						t.Errorf("removal %+v, want the directory removed", r)
					}
					pinDirGone(t, dir, "RemoveState")
				}
				return nil
			})
		})
	}
}

// TestPinDirOwnership: a pin directory, or a parent of it, that others
// can change is refused with one line saying why, and nothing is made in
// it.
func TestPinDirOwnership(t *testing.T) {
	privtest.Require(t)
	squat := privtest.PinDir(t)
	if err := os.Mkdir(squat, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squat, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(squat, 0o777); err != nil {
		t.Fatal(err)
	}
	want := squat + " is owned by uid 65534 / mode 0777: refusing to use a pin directory others can change; remove it or fix its owner and mode"
	for _, dir := range []string{squat, filepath.Join(squat, "xdpfw")} {
		for name, open := range map[string]func(string) (*State, error){"Open": Open, "OpenOrCreate": OpenOrCreate} {
			s, err := open(dir)
			if err == nil {
				s.unpinAll()
				s.Close()
			}
			if dir == squat || name == "OpenOrCreate" {
				if err == nil || err.Error() != want {
					t.Errorf("%s(%s): %v, want %q", name, dir, err, want)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(squat, "xdpfw")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a pin directory was made in the refused one: %v", err)
	}
	// A symbolic link is refused too, whoever owns it.
	target, link := privtest.PinDir(t), privtest.PinDir(t)
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOrCreate(link); err == nil || !strings.Contains(err.Error(), "refusing to use it as the pin directory") {
		t.Errorf("OpenOrCreate on a symbolic link: %v", err)
	}
}

// TestCheckBPFFS: a mount is suggested for /sys/fs/bpf alone, where the
// system mounts the bpffs; a pin directory elsewhere, however many of its
// levels are missing, is told to be made on a bpffs instead (never
// "mount -t bpf bpf /tmp").
func TestCheckBPFFS(t *testing.T) {
	fs := map[string]int64{"/": 0xEF53, "/sys": 0x62656572, "/sys/fs": 0x62656572, "/sys/fs/bpf": 0x62656572,
		"/mnt/bpf": unix.BPF_FS_MAGIC, "/mnt": 0xEF53, "/tmp": 0x01021994}
	statfs := func(path string, st *unix.Statfs_t) error {
		typ, ok := fs[path]
		if !ok {
			return unix.ENOENT
		}
		st.Type = typ
		return nil
	}
	mount := "/sys/fs/bpf is not a BPF filesystem (mount it: mount -t bpf bpf /sys/fs/bpf)"
	elsewhere := func(dir, at string) string {
		return fmt.Sprintf("pin directory %s is not on a BPF filesystem (%s is not one): create it on a mounted bpffs, or choose a --pin-dir on one (such as /sys/fs/bpf/xdpfw)", dir, at)
	}
	cases := []struct{ dir, path, want string }{
		{"/sys/fs/bpf", "/sys/fs/bpf", mount},
		{"/sys/fs/bpf/xdpfw", "/sys/fs/bpf", mount},
		{"/sys/fs/bpf/a/b", "/sys/fs/bpf", mount},
		{"/srv/xdpfw", "/", elsewhere("/srv/xdpfw", "/")},
		{"/tmp", "/tmp", elsewhere("/tmp", "/tmp")},
		{"/tmp/a/b/c", "/tmp", elsewhere("/tmp/a/b/c", "/tmp")},
		{"/mnt/bpf/xdpfw", "/mnt/bpf", ""},
		{"/mnt/bpf/a/b", "/mnt/bpf", ""},
		{"/mnt/bpf", "/mnt/bpf", ""},
	}
	for _, tc := range cases {
		var st unix.Statfs_t
		path, err := checkBPFFS(tc.dir, &st, statfs)
		if path != tc.path {
			t.Errorf("%s: checked at %s, want %s", tc.dir, path, tc.path)
		}
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want nil", tc.dir, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.dir, err, tc.want)
		}
	}
}

// TestCheckWritable: a read-only bpffs is told to be remounted, and a pin
// directory the user may not write (doctor run without root) is told
// apart from it, not called read-only.
func TestCheckWritable(t *testing.T) {
	ro := unix.Statfs_t{Type: unix.BPF_FS_MAGIC, Flags: unix.ST_RDONLY}
	rw := unix.Statfs_t{Type: unix.BPF_FS_MAGIC}
	ok := func(string, uint32) error { return nil }
	deny := func(string, uint32) error { return unix.EACCES }
	for _, tc := range []struct {
		name   string
		st     unix.Statfs_t
		access func(string, uint32) error
		want   string // "" for nil
	}{
		{"read-write", rw, ok, ""},
		{"read-only", ro, deny, "is on a read-only BPF filesystem (remount it read-write: mount -o remount,rw "},
		{"EROFS", rw, func(string, uint32) error { return unix.EROFS }, "is on a read-only BPF filesystem"},
		{"not root", rw, deny, fmt.Sprintf("/sys/fs/bpf/xdpfw: permission denied to uid %d (run xdpfw as root, or make the pin directory this user's: install -d -o %[1]d -m 0700 /sys/fs/bpf/xdpfw)", os.Geteuid())},
	} {
		err := checkWritable("/sys/fs/bpf/xdpfw", "/sys/fs/bpf/xdpfw", &tc.st, tc.access)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: %q is not one line", tc.name, err)
		}
	}
}

// TestOldLayoutReadable: a state of the previous layout (without the maps
// this one added, if any) opens for reading, as save needs, refuses changes saying
// how to move it to this build, and detach --all removes it.
func TestOldLayoutReadable(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	s, err := OpenOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRule(rules.Rule{Priority: 3, Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("192.0.2.0/24")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSet("bad", rules.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	want, err := s.RulesetWithSets()
	if err != nil {
		t.Fatal(err)
	}
	if err := setMetaVersion(&s.maps, oldMetaVersion); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name := range addedMaps {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	old, err := Open(dir)
	if err != nil {
		t.Fatalf("open a previous layout's state: %v", err)
	}
	got, err := old.RulesetWithSets()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("previous layout ruleset %+v (%v), want %+v", got, err, want)
	}
	if _, err := old.AddRule(rules.Rule{Action: rules.Pass}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("layout version %d, from an older xdpfw: this build reads it but changes it only after moving it", oldMetaVersion)) {
		t.Errorf("rule add on a previous layout's state: %v", err)
	}
	if _, err := old.DetachAll(); err == nil {
		t.Error("DetachAll changed a previous layout's state")
	}
	old.Close()
	r, err := RemoveState(dir)
	if err != nil || r.Broken == "" || !r.DirRemoved {
		t.Errorf("RemoveState of a previous layout's state: %+v, %v; want it removed as a broken state", r, err)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/bpf`:        "/sys/fs/bpf",
		`/run/my\040bpf`:     "/run/my bpf",
		`/a\134b`:            `/a\b`,
		`/trailing\04`:       `/trailing\04`,
		`/not\x41octal\0999`: `/not\x41octal\0999`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
