package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// egressProgs lists the egress programs xdpfw's would be on l: on tcx
// (by program name) and as clsact filters (by filter name).
func egressProgs(t *testing.T, l netlink.Link) (tcx, clsact []ebpf.ProgramID) {
	t.Helper()
	var res *link.QueryResult
	if kernelEgress(t) == EgressTCX { // before 6.6 the kernel has no tcx to ask
		var err error
		if res, err = link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: ebpf.AttachTCXEgress}); err != nil {
			t.Errorf("query tcx egress of %s: %v", l.Attrs().Name, err)
		}
	}
	for _, ap := range progsOf(res) {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == xdpfwProgXdpfwEgress {
			tcx = append(tcx, ap.ID)
		}
		p.Close()
	}
	if has, _ := hasClsact(l); has {
		fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
		if err != nil {
			t.Error(err) // not Fatal: callers may run in a namespace's goroutine
		}
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == egressFilterName {
				clsact = append(clsact, ebpf.ProgramID(bf.Id))
			}
		}
	}
	return tcx, clsact
}

// progsOf is a query's programs, none when there was no query.
func progsOf(res *link.QueryResult) []link.AttachedProgram {
	if res == nil {
		return nil
	}
	return res.Programs
}

// checkOneEgress: l has exactly one egress learner, s's pinned one, on
// the hook want, and status says so.
func checkOneEgress(t *testing.T, s *State, l netlink.Link, want string) {
	t.Helper()
	tcx, clsact := egressProgs(t, l)
	id, err := progID(s.progs.XdpfwEgress)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]ebpf.ProgramID{EgressTCX: tcx, EgressClsact: clsact}
	if len(tcx)+len(clsact) != 1 || len(got[want]) != 1 || got[want][0] != ebpf.ProgramID(id) {
		t.Errorf("%s: egress programs tcx %v, clsact %v; want program %d on %s alone", l.Attrs().Name, tcx, clsact, id, want)
	}
	if on := s.egressOn(l); on != want {
		t.Errorf("%s: egress seen on %s, want %s", l.Attrs().Name, on, want)
	}
}

// checkNoEgress: l has no xdpfw egress program, and dir no link pin.
func checkNoEgress(t *testing.T, dir string, l netlink.Link) {
	t.Helper()
	if tcx, clsact := egressProgs(t, l); len(tcx)+len(clsact) != 0 {
		t.Errorf("%s: egress programs left: tcx %v, clsact %v", l.Attrs().Name, tcx, clsact)
	}
	if _, err := os.Lstat(egressLinkPin(dir, l.Attrs().Index)); err == nil {
		t.Errorf("%s: the egress link pin is left", l.Attrs().Name)
	}
}

// foreignFilter puts another's direct-action BPF filter (and clsact) on
// l's egress; the program is closed when the test ends.
func foreignFilter(t *testing.T, l netlink.Link) {
	t.Helper()
	p := namedProgram(t, "")
	if err := attachClsact(l, p); err != nil {
		t.Fatal(err)
	}
	// Renamed: attachClsact names filters as xdpfw's.
	fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
	if err != nil || len(fs) != 1 {
		t.Fatalf("filters %v, %v", fs, err)
	}
	f := fs[0].(*netlink.BpfFilter)
	nf := &netlink.BpfFilter{FilterAttrs: f.FilterAttrs, Fd: p.FD(), Name: "theirs", DirectAction: true}
	if err := netlink.FilterReplace(nf); err != nil {
		t.Fatal(err)
	}
}

func foreignFilters(t *testing.T, l netlink.Link) int {
	t.Helper()
	return filtersWhere(t, l, func(f *netlink.BpfFilter) bool { return f.Name == "theirs" })
}

// filtersWhere counts l's egress BPF filters that match.
func filtersWhere(t *testing.T, l netlink.Link, match func(*netlink.BpfFilter) bool) int {
	t.Helper()
	fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && match(bf) {
			n++
		}
	}
	return n
}

func linkNamed(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEgressTCX: attach puts the egress learner on tcx, pinned beside
// the programs and recorded, before another's program; attaching again
// and replacing the program keep exactly one; detach removes it and its
// pin.
func TestEgressTCX(t *testing.T) {
	privtest.Require(t)
	if kernelEgress(t) != EgressTCX {
		t.Skip("no tcx before Linux 6.6: TestEgressClsact covers this kernel's hook")
	}
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "egt0")
		if err != nil {
			return err
		}
		defer s.Close()
		l := linkNamed(t, "egt0")
		checkOneEgress(t, s, l, EgressTCX)
		var ifc xdpfwIface
		if err := s.maps.Ifaces.Lookup(uint32(l.Attrs().Index), &ifc); err != nil || ifc.Egress != layout.EgressTcx {
			t.Errorf("record %+v (%v), want egress tcx", ifc, err)
		}
		if _, _, err := s.Attach("egt0", ModeGeneric, false); err != nil {
			return fmt.Errorf("attach again: %w", err)
		}
		checkOneEgress(t, s, l, EgressTCX)
		// Another program in its place (as a migration does): the link
		// is updated, not doubled.
		if hook, err := s.attachEgress(l, s.progs.XdpfwEgress); err != nil || hook != layout.EgressTcx {
			return fmt.Errorf("replace: %d, %v", hook, err)
		}
		checkOneEgress(t, s, l, EgressTCX)
		st, err := s.Status()
		if err != nil || len(st.Interfaces) != 1 || st.Interfaces[0].Egress != EgressTCX {
			t.Errorf("status %+v (%v), want egt0 with egress tcx", st, err)
		}
		if err := addVeths("egt1"); err != nil {
			return err
		}
		l1 := linkNamed(t, "egt1")
		foreignTCX(t, l1)
		if _, _, err := s.Attach("egt1", ModeGeneric, false); err != nil {
			return err
		}
		checkEgressFirst(t, s, l1, EgressTCX)
		if _, err := s.Detach("egt0"); err != nil {
			return err
		}
		checkNoEgress(t, dir, l)
		checkOneEgress(t, s, l1, EgressTCX)
		// An interface that vanishes: detach forgets it and its pin.
		if err := delLink("egt1"); err != nil {
			return err
		}
		if d, err := s.Detach("egt1"); err != nil || !d.Last {
			return fmt.Errorf("detach a vanished interface: %v, %v", d.Last, err)
		}
		pinDirGone(t, dir, "detaching the last interface")
		return nil
	})
}

// TestEgressClsact: with tcx not tried (as on 6.1), the learner is a
// clsact filter before another's, which stays, as does the qdisc;
// attaching again keeps one; DetachAll removes only xdpfw's.
func TestEgressClsact(t *testing.T) {
	egressHooksOnly(t, layout.EgressClsact)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("egc0"); err != nil {
			return err
		}
		l := linkNamed(t, "egc0")
		foreignFilter(t, l)
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, _, err := s.AttachAll([]string{"egc0"}, ModeGeneric, false); err != nil {
			return err
		}
		checkOneEgress(t, s, l, EgressClsact)
		checkEgressFirst(t, s, l, EgressClsact)
		if _, _, err := s.Attach("egc0", ModeGeneric, false); err != nil {
			return err
		}
		checkOneEgress(t, s, l, EgressClsact)
		if hook, err := s.attachEgress(l, s.progs.XdpfwEgress); err != nil || hook != layout.EgressClsact {
			return fmt.Errorf("replace: %d, %v", hook, err)
		}
		checkOneEgress(t, s, l, EgressClsact)
		st, err := s.Status()
		if err != nil || len(st.Interfaces) != 1 || st.Interfaces[0].Egress != EgressClsact {
			t.Errorf("status %+v (%v), want egc0 with egress clsact", st, err)
		}
		if _, err := s.DetachAll(); err != nil {
			return err
		}
		checkNoEgress(t, dir, l)
		if n := foreignFilters(t, l); n != 1 {
			t.Errorf("another's filters left: %d, want 1", n)
		}
		if has, err := hasClsact(l); err != nil || !has {
			t.Errorf("the clsact qdisc others use: %v, %v; want kept", has, err)
		}
		return nil
	})
}

// TestEgressFailureRollsBack: an attach that fails leaves the interface
// as it was. A first attach without an egress hook leaves no XDP program
// and no record, with a one-line error; a re-attach in another mode
// whose learner cannot be put back keeps the XDP program and mode it
// had; one whose new XDP program cannot go on puts the old one back and
// keeps the learner.
func TestEgressFailureRollsBack(t *testing.T) {
	oneLine := func(err error, iface string) {
		t.Helper()
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), iface) {
			t.Errorf("attach: %v, want one line naming %s", err, iface)
		}
	}
	t.Run("attach", func(t *testing.T) {
		egressHooksOnly(t)
		dir := privtest.PinDir(t)
		inThrowawayNetns(t, func() error {
			defer removeState(dir)
			if err := addVeths("egf0"); err != nil {
				return err
			}
			s, err := OpenOrCreate(dir)
			if err != nil {
				return err
			}
			defer s.Close()
			_, _, err = s.Attach("egf0", ModeGeneric, false)
			oneLine(err, "egf0")
			l := linkNamed(t, "egf0")
			if x := l.Attrs().Xdp; x != nil && x.ProgId != 0 {
				t.Errorf("egf0 kept XDP program %d", x.ProgId)
			}
			if atts, err := s.Attachments(); err != nil || len(atts) != 0 {
				t.Errorf("attachments %+v (%v), want none", atts, err)
			}
			return nil
		})
	})
	// kept checks that l still runs the XDP program it ran before, in
	// the same mode, as the record says.
	kept := func(t *testing.T, s *State, name string, before *netlink.LinkXdp) {
		t.Helper()
		x := linkNamed(t, name).Attrs().Xdp
		if x == nil || x.ProgId != before.ProgId || x.AttachMode != before.AttachMode {
			t.Errorf("%s runs XDP %+v, want %+v as before", name, x, before)
		}
		atts, err := s.Attachments()
		if err != nil || len(atts) != 1 || !atts[0].Attached || atts[0].Mode != ModeGeneric {
			t.Errorf("attachments %+v (%v), want %s attached in generic mode", atts, err, name)
		}
	}
	t.Run("reattach without a learner", func(t *testing.T) {
		dir := privtest.PinDir(t)
		inThrowawayNetns(t, func() error {
			defer removeState(dir)
			s, err := attachedState(dir, "egf1")
			if err != nil {
				return err
			}
			defer s.Close()
			l := linkNamed(t, "egf1")
			before := *l.Attrs().Xdp
			// The learner gone (removed by hand, or a state from before
			// it) and no hook to put it back on.
			if err := s.detachEgress(l); err != nil {
				return err
			}
			egressHooksOnly(t)
			_, _, err = s.Attach("egf1", ModeNative, false)
			oneLine(err, "egf1")
			kept(t, s, "egf1", &before)
			return nil
		})
	})
	t.Run("reattach where XDP fails", func(t *testing.T) {
		dir := privtest.PinDir(t)
		inThrowawayNetns(t, func() error {
			defer removeState(dir)
			// The namespace's loopback has no native XDP: the new mode
			// fails.
			s, err := OpenOrCreate(dir)
			if err != nil {
				return err
			}
			defer s.Close()
			if _, _, err := s.Attach("lo", ModeGeneric, false); err != nil {
				return err
			}
			l := linkNamed(t, "lo")
			before := *l.Attrs().Xdp
			_, _, err = s.Attach("lo", ModeNative, false)
			oneLine(err, "lo")
			kept(t, s, "lo", &before)
			checkOneEgress(t, s, l, kernelEgress(t))
			return nil
		})
	})
}
