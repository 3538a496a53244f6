package loader

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestGrowLeavesReplacedProgram: a growth gives the grown program only
// to the interfaces that run the state's own when it begins, each in
// one step that expects that program (XDP_FLAGS_REPLACE): one whose
// program another process replaced before the growth (grr0), or while
// it ran (grr1), keeps that program, the operator is told (LeftNotice),
// its record stays, and status lists it as replaced; the growth
// completes on the rest (grr2). The other programs are named as xdpfw's,
// as another xdpfw's whose pins this process cannot see (another mount
// namespace's bpffs): the growth replaced any program of that name.
func TestGrowLeavesReplacedProgram(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "grr0", "grr1", "grr2")
		if err != nil {
			return err
		}
		defer s.Close()
		other := func() (*ebpf.Program, error) {
			return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xdpfw", Type: ebpf.XDP, License: "MIT",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		}
		before, err := other()
		if err != nil {
			return err
		}
		defer before.Close()
		during, err := other()
		if err != nil {
			return err
		}
		defer during.Close()
		if err := netlink.LinkSetXdpFdWithFlags(linkNamed(t, "grr0"), before.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		stopChangesAt(s, func(point string) {
			if point == "grow:programs" {
				if err := netlink.LinkSetXdpFdWithFlags(linkNamed(t, "grr1"), during.FD(), ModeGeneric.flags()); err != nil {
					t.Errorf("replace grr1's program during the growth: %v", err)
				}
			}
		})
		var left []string
		LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
		defer func() { LeftNotice = nil }()

		small := s.maps.Vectors.MaxEntries()
		if _, err := s.Apply(hostPortRules(1200, 2000)); err != nil {
			return err
		}
		if s.maps.Vectors.MaxEntries() <= small {
			return fmt.Errorf("the vectors map did not grow: %d entries", s.maps.Vectors.MaxEntries())
		}
		want := map[string]*ebpf.Program{"grr0": before, "grr1": during}
		var wantLeft []string
		for _, name := range []string{"grr0", "grr1"} {
			id, err := progID(want[name])
			if err != nil {
				return err
			}
			if got := xdpProgOf(linkNamed(t, name)); got != id {
				t.Errorf("%s runs XDP program %d after the growth, want the other program %d put there", name, got, id)
			}
			wantLeft = append(wantLeft, fmt.Sprintf("%s:%d", name, id))
		}
		slices.Sort(left)
		if !slices.Equal(left, wantLeft) {
			t.Errorf("LeftNotice told %v, want %v", left, wantLeft)
		}
		ids, err := s.progIDs()
		if err != nil {
			return err
		}
		if got := xdpProgOf(linkNamed(t, "grr2")); got != ids.plain {
			t.Errorf("grr2 runs XDP program %d after the growth, want the grown one %d", got, ids.plain)
		}
		meta, err := readMeta(&s.maps)
		if err != nil {
			return err
		}
		if meta.Version != metaVersion {
			t.Errorf("meta version %#x after the growth, want %d (unmarked)", meta.Version, metaVersion)
		}
		st, err := s.Status()
		if err != nil {
			return err
		}
		var replaced []string
		for _, p := range st.Problems {
			if p.Kind == "replaced" {
				replaced = append(replaced, p.Iface)
			}
		}
		if slices.Sort(replaced); !slices.Equal(replaced, []string{"grr0", "grr1"}) {
			t.Errorf("status problems after the growth: %+v, want grr0 and grr1 replaced", st.Problems)
		}
		if len(st.Interfaces) != 3 {
			t.Errorf("status lists %+v after the growth, want the three records kept", st.Interfaces)
		}
		return nil
	})
}

// TestMigrateLeavesReplacedProgram: a migration, as a growth, swaps only
// the program it found on an interface as it began: one another put on
// while it ran (a program named as xdpfw's, which the migration replaced
// by name) stays, the operator is told, and the migration completes.
func TestMigrateLeavesReplacedProgram(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		_, old, _, err := previousFixture(dir, "mgr0")
		if err != nil {
			return err
		}
		defer old.Close()
		during, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xdpfw", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer during.Close()
		stopChangesAt(old, func(point string) {
			if point == "migrate:programs" {
				if err := netlink.LinkSetXdpFdWithFlags(linkNamed(t, "mgr0"), during.FD(), ModeGeneric.flags()); err != nil {
					t.Errorf("replace mgr0's program during the migration: %v", err)
				}
			}
		})
		var left []string
		LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
		defer func() { LeftNotice = nil }()
		if err := old.migrate(); err != nil {
			return err
		}
		id, err := progID(during)
		if err != nil {
			return err
		}
		if got := xdpProgOf(linkNamed(t, "mgr0")); got != id {
			t.Errorf("mgr0 runs XDP program %d after the migration, want the other program %d put there", got, id)
		}
		if want := []string{fmt.Sprintf("mgr0:%d", id)}; !slices.Equal(left, want) {
			t.Errorf("LeftNotice told %v, want %v", left, want)
		}
		meta, err := readMeta(&old.maps)
		if err != nil {
			return err
		}
		if meta.Version != metaVersion || old.old != nil {
			t.Errorf("meta version %#x (%v) after the migration, want %d", meta.Version, old.old, metaVersion)
		}
		return nil
	})
}

// TestMigrateLeavesUnprovenProgram: a migration takes over, of the
// programs it cannot see pinned, only one on the state's maps (a
// migration cut short left it): a program named as xdpfw's that uses
// none of them, on an interface the state lists as the migration
// begins (an orphan, or another xdpfw's whose pins this process cannot
// see), stays, and the operator is told. It was taken by its name, as
// the state's, and replaced.
func TestMigrateLeavesUnprovenProgram(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		_, old, _, err := previousFixture(dir, "mgu0")
		if err != nil {
			return err
		}
		defer old.Close()
		other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "xdpfw", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
		if err != nil {
			return err
		}
		defer other.Close()
		if err := netlink.LinkSetXdpFdWithFlags(linkNamed(t, "mgu0"), other.FD(), ModeGeneric.flags()); err != nil {
			return err
		}
		var left []string
		LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
		defer func() { LeftNotice = nil }()
		if err := old.migrate(); err != nil {
			return err
		}
		id, err := progID(other)
		if err != nil {
			return err
		}
		if got := xdpProgOf(linkNamed(t, "mgu0")); got != id {
			t.Errorf("mgu0 runs XDP program %d after the migration, want the other program %d left there", got, id)
		}
		if want := []string{fmt.Sprintf("mgu0:%d", id)}; !slices.Equal(left, want) {
			t.Errorf("LeftNotice told %v, want %v", left, want)
		}
		return nil
	})
}
