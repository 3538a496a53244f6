package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// runCount is how many times the kernel has run p (BPF statistics on).
func runCount(t *testing.T, p *ebpf.Program) uint64 {
	t.Helper()
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.RunCount
}

// TestInstanceRunsEachFrameThroughItsProgram: frames that fit one buffer run
// through the one-buffer program (so the corpus and fixture tests prove
// it), longer ones through the frags program, and both count into the
// same maps.
func TestInstanceRunsEachFrameThroughItsProgram(t *testing.T) {
	privtest.Require(t)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	tr, err := NewInstance(&rules.Ruleset{Policy: rules.Pass}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	small := fixtures.UDP("10.1.2.3", "192.0.2.1", 1000, 53)
	// Bytes past the IPv4 total length are padding: still a valid frame.
	padded := func(n int) []byte { return append(append([]byte(nil), small...), make([]byte, n-len(small))...) }
	for _, tc := range []struct {
		name  string
		frame []byte
		prog  *ebpf.Program
	}{
		{"small", small, tr.objs.Xdpfw},
		{"one full buffer", padded(maxLinearFrame()), tr.objs.Xdpfw},
		{"jumbo", padded(9000), tr.objs.XdpfwFrags},
	} {
		plain, frags := runCount(t, tr.objs.Xdpfw), runCount(t, tr.objs.XdpfwFrags)
		v, err := tr.Run(tc.frame)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if v.Reason != model.ReasonDefault || v.Action != rules.Pass {
			t.Errorf("%s: %v, want the default policy pass", tc.name, v)
		}
		plain, frags = runCount(t, tr.objs.Xdpfw)-plain, runCount(t, tr.objs.XdpfwFrags)-frags
		wantPlain := uint64(0)
		if tc.prog == tr.objs.Xdpfw {
			wantPlain = 1
		}
		if plain != wantPlain || frags != 1-wantPlain {
			t.Errorf("%s (%d bytes): one-buffer program ran %d times, frags program %d", tc.name, len(tc.frame), plain, frags)
		}
	}
	counts, err := tr.VerdictCounters()
	if err != nil {
		t.Fatal(err)
	}
	if got := counts["pass"].Packets; got != 3 {
		t.Errorf("pass counted %d packets, want 3 (both programs count into one map)", got)
	}
}

// TestAttachPicksProgramByMTU attaches to veths in a throwaway namespace:
// the one-buffer program where the MTU fits a buffer, the frags program
// where it does not, and both are recognised as xdpfw's.
func TestAttachPicksProgramByMTU(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	dir := privtest.PinDir(t)
	// The checks run on the namespace's own thread: they report with
	// t.Errorf and return errors, never t.Fatal.
	if err := perf.InNetns(ns, func() error { return attachByMTU(t, dir) }); err != nil {
		t.Fatal(err)
	}
}

func attachByMTU(t *testing.T, dir string) error {
	for _, v := range []struct {
		name string
		mtu  int
	}{{"small0", 1500}, {"jumbo0", 9000}} {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name, MTU: v.mtu}, PeerName: v.name + "p", PeerMTU: uint32(v.mtu)}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
	}
	s, err := OpenOrCreate(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	defer s.unpinAll()
	ids, err := s.progIDs()
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		mode Mode
		want uint32
	}{
		{"small0", ModeNative, ids.plain},
		{"jumbo0", ModeNative, ids.frags},
		// Attaching again finds xdpfw's program already there.
		{"jumbo0", ModeAuto, ids.frags},
	}
	for _, st := range steps {
		if err := checkAttach(t, s, st.name, st.mode, st.want); err != nil {
			return err
		}
	}
	if err := s.CanAttach("jumbo0", false); err != nil {
		t.Errorf("CanAttach on xdpfw's frags program: %v", err)
	}
	atts, err := s.Attachments()
	if err != nil {
		return err
	}
	if len(atts) != 2 || !atts[0].Attached || atts[0].ProgID != ids.plain || !atts[1].Attached || atts[1].ProgID != ids.frags {
		t.Errorf("attachments %+v, want small0 with program %d and jumbo0 with %d", atts, ids.plain, ids.frags)
	}
	// Generic mode lets the MTU grow under the one-buffer program;
	// attaching again swaps in the frags program.
	if _, err := s.Detach("small0"); err != nil {
		return err
	}
	if err := checkAttach(t, s, "small0", ModeGeneric, ids.plain); err != nil {
		return err
	}
	link, err := netlink.LinkByName("small0")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(link, 9000); err != nil {
		return err
	}
	if err := checkAttach(t, s, "small0", ModeGeneric, ids.frags); err != nil {
		return err
	}
	if _, err := s.DetachAll(); err != nil {
		return err
	}
	for _, name := range []string{"small0", "jumbo0"} {
		if id, err := xdpProgOn(name); err != nil || id != 0 {
			t.Errorf("%s has XDP program %d (%v) after detach --all, want none", name, id, err)
		}
	}
	return nil
}

// checkAttach attaches xdpfw to name and checks the program the kernel
// holds there.
func checkAttach(t *testing.T, s *State, name string, mode Mode, want uint32) error {
	att, _, err := s.Attach(name, mode, false)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	got, err := xdpProgOn(name)
	if err != nil {
		return err
	}
	if att.ProgID != want || got != want {
		t.Errorf("attach %s: reported program %d, the kernel has %d, want %d", name, att.ProgID, got, want)
	}
	return nil
}

func xdpProgOn(name string) (uint32, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return 0, err
	}
	if x := link.Attrs().Xdp; x != nil {
		return x.ProgId, nil
	}
	return 0, nil
}

// TestProgID: the id read from a program's fdinfo is the kernel's, as
// the program's full info gives it, for each of the object's programs,
// and progID gives it.
func TestProgID(t *testing.T) {
	privtest.Require(t)
	inst, err := NewInstance(&rules.Ruleset{Policy: rules.Pass}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for _, p := range []*ebpf.Program{inst.objs.Xdpfw, inst.objs.XdpfwFrags, inst.objs.XdpfwEgress} {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := info.ID()
		if got, ok := fdinfoProgID(p.FD()); !ok || got != uint32(want) {
			t.Errorf("%s: fdinfo prog_id %d (%v), want %d", p, got, ok, want)
		}
		if got, err := progID(p); err != nil || got != uint32(want) {
			t.Errorf("%s: progID %d (%v), want %d", p, got, err, want)
		}
	}
}
