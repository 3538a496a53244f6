package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestAttachVethJumboPeer: a veth of MTU 1500 whose peer's MTU is 9000
// receives the peer's 9000-byte frames, and the kernel takes only a frags
// program on it in native mode (ERANGE for the other). attach --mode
// native gives it the frags program, auto attaches it native without a
// warning, and a growth of the maps replaces it in place: native failed
// ("numerical result out of range (the MTU may be too large ...)", its
// own MTU being 1500), auto fell back to generic, and a growth failed on
// it.
func TestAttachVethJumboPeer(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("jpr0"); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpr0p"), 9000); err != nil {
			return err
		}
		for _, mode := range []Mode{ModeNative, ModeAuto} {
			if err := attachJumboPeer(t, dir, mode); err != nil {
				return err
			}
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, _, err := s.Attach("jpr0", ModeNative, false); err != nil {
			return err
		}
		return growKeepsFrags(t, s, "jpr0")
	})
}

// attachJumboPeer attaches jpr0 in mode to a new state in dir, checks it
// runs the frags program natively, and detaches it (removing the state).
func attachJumboPeer(t *testing.T, dir string, mode Mode) error {
	s, err := OpenOrCreate(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	ids, err := s.progIDs()
	if err != nil {
		return err
	}
	atts, warnings, err := s.AttachAll([]string{"jpr0"}, mode, false)
	if err != nil {
		return fmt.Errorf("attach jpr0 --mode %s: %w", mode, err)
	}
	if len(warnings) > 0 || atts[0].Mode != ModeNative || atts[0].ProgID != ids.frags {
		t.Errorf("attach --mode %s: %+v, warnings %q; want native mode, the frags program %d, no warning", mode, atts[0], warnings, ids.frags)
	}
	if p := xdpProgOf(linkNamed(t, "jpr0")); p != ids.frags {
		t.Errorf("attach --mode %s: jpr0 runs program %d, want the frags one %d", mode, p, ids.frags)
	}
	_, err = s.Detach("jpr0")
	return err
}

// TestGrowVethKeepsFrags: a veth attached natively while its peer's MTU
// was 9000 runs the frags program, and the kernel bounds the peer's MTU
// by it; the peer's MTU lowered to 1500 since, a growth of the maps
// keeps the frags program there, as a swap in place leaves that bound:
// it gave the veth the one-buffer program, the peer's MTU could go back
// to 9000, and that program was handed frames of several buffers.
func TestGrowVethKeepsFrags(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("jpk0"); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpk0p"), 9000); err != nil {
			return err
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, _, err := s.Attach("jpk0", ModeNative, false); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpk0p"), 1500); err != nil {
			return err
		}
		if err := growKeepsFrags(t, s, "jpk0"); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpk0p"), 9000); err == nil {
			if p, frags := xdpProgOf(linkNamed(t, "jpk0")), fragsID(t, s); p != frags {
				t.Errorf("jpk0's peer took MTU 9000 with jpk0 running program %d, not the frags one %d", p, frags)
			}
		}
		return nil
	})
}

// growKeepsFrags grows s's maps (a first rule on TCP flags: the programs
// are loaded again and replace the old on every interface) and checks
// that iface runs the new frags program.
func growKeepsFrags(t *testing.T, s *State, iface string) error {
	before, err := s.progIDs()
	if err != nil {
		return err
	}
	if _, err := s.Apply(mustRuleset(t, "policy: pass\nrules:\n  - {tcp-flags: syn, action: drop}\n")); err != nil {
		return fmt.Errorf("apply a rule on TCP flags: %w", err)
	}
	after, err := s.progIDs()
	if err != nil {
		return err
	}
	if after == before {
		t.Fatalf("the programs are %+v after a rule on TCP flags, as before: no growth to test", after)
	}
	if p := xdpProgOf(linkNamed(t, iface)); p != after.frags {
		t.Errorf("after the growth %s runs program %d, want the new frags one %d", iface, p, after.frags)
	}
	return nil
}

func fragsID(t *testing.T, s *State) uint32 {
	ids, err := s.progIDs()
	if err != nil {
		t.Fatal(err)
	}
	return ids.frags
}

// TestFragsVethToGeneric: a native veth kept on the frags program
// (keepsFrags) attached again in generic mode at MTU 1500 gets the
// one-buffer program, and attach says so: it reported the frags
// program's id, the one kept only in native mode.
func TestFragsVethToGeneric(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("jpg0"); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpg0p"), 9000); err != nil {
			return err
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, _, err := s.Attach("jpg0", ModeNative, false); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(linkNamed(t, "jpg0p"), 1500); err != nil {
			return err
		}
		att, _, err := s.Attach("jpg0", ModeGeneric, false)
		if err != nil {
			return err
		}
		ids, err := s.progIDs()
		if err != nil {
			return err
		}
		if p := xdpProgOf(linkNamed(t, "jpg0")); att.Mode != ModeGeneric || att.ProgID != p || p != ids.plain {
			t.Errorf("attach --mode generic: %+v, jpg0 runs %d; want generic mode and the one-buffer program %d", att, p, ids.plain)
		}
		return nil
	})
}
