package loader

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// otherXDP is an XDP program of another's (it passes every frame), which
// the caller closes.
func otherXDP() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "other", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
}

// reuseIfindex deletes the interface gone and makes a veth name (peer
// name+"p") at its ifindex, which it returns, running an XDP program of
// its own (generic mode), another's, which the caller closes: the kernel
// giving a gone interface's ifindex to a new one.
func reuseIfindex(gone, name string) (idx int, other *ebpf.Program, err error) {
	link, err := netlink.LinkByName(gone)
	if err != nil {
		return 0, nil, err
	}
	idx = link.Attrs().Index
	if err := netlink.LinkDel(link); err != nil {
		return 0, nil, err
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, Index: idx}, PeerName: name + "p"}); err != nil {
		return 0, nil, fmt.Errorf("add veth %s at ifindex %d: %w", name, idx, err)
	}
	made, err := netlink.LinkByName(name)
	if err != nil {
		return 0, nil, err
	}
	if made.Attrs().Index != idx {
		return 0, nil, fmt.Errorf("%s made at ifindex %d, want %d", name, made.Attrs().Index, idx)
	}
	other, err = otherXDP()
	if err != nil {
		return 0, nil, err
	}
	if err := netlink.LinkSetXdpFdWithFlags(made, other.FD(), ModeGeneric.flags()); err != nil {
		other.Close()
		return 0, nil, err
	}
	return idx, other, nil
}

// reusedState attaches a state in dir to veths prefix+"0" and
// prefix+"1", gives prefix+"0"'s ifindex to a new veth prefix+"2" that
// runs another's program (reuseIfindex), and runs fn with the state, that
// ifindex and the other program's id: the tests of a reused ifindex.
func reusedState(dir, prefix string, fn func(s *State, idx int, id uint32) error) error {
	s, err := attachedState(dir, prefix+"0", prefix+"1")
	if err != nil {
		return err
	}
	defer s.Close()
	idx, other, err := reuseIfindex(prefix+"0", prefix+"2")
	if err != nil {
		return err
	}
	defer other.Close()
	id, err := progID(other)
	if err != nil {
		return err
	}
	return fn(s, idx, id)
}

// TestReplaceSkipsReusedIfindex: a growth, a conntrack resize and a
// migration pass over a record whose interface is gone, its ifindex a
// new interface's since, as over one whose ifindex nothing has: the new
// interface's program stays, and no notice says it replaced xdpfw's
// there, nor counts it. Each told LeftNotice of the new interface.
func TestReplaceSkipsReusedIfindex(t *testing.T) {
	dir, mdir := privtest.PinDir(t), privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		defer removeState(mdir)
		return reusedState(dir, "rsk", func(s *State, _ int, id uint32) error {
			var left []string
			LeftNotice = func(_, iface string, prog uint32) { left = append(left, fmt.Sprintf("%s:%d", iface, prog)) }
			defer func() { LeftNotice = nil }()
			var reaches []string
			reached := func(what, d string, r Reach) {
				if d == dir || d == mdir {
					reaches = append(reaches, fmt.Sprintf("%s %d/%d", what, r.On, r.Of))
				}
			}
			CTResizeNotice = func(d string, _, _ uint32, _ int, r Reach) { reached("resize", d, r) }
			defer func() { CTResizeNotice = nil }()
			GrowNotice = func(d string, g Growth) { reached("grow", d, g.Interfaces) }
			defer func() { GrowNotice = nil }()
			MigrateNotice = func(d string, _, _ int, r Reach) { reached("migrate", d, r) }
			defer func() { MigrateNotice = nil }()

			if _, err := s.Apply(ctRuleset(t, "conntrack:\n  max-flows: 8192\n")); err != nil {
				return err
			}
			if _, err := s.Apply(hostPortRules(1200, 2000)); err != nil {
				return err
			}
			// The apply without max-flows sizes the table back.
			if got, want := fmt.Sprint(reaches), "[resize 1/1 grow 1/1 resize 1/1]"; got != want {
				t.Errorf("notices counted %s, want %s", got, want)
			}
			_, old, _, err := previousFixture(mdir, "rsk3")
			if err != nil {
				return err
			}
			defer old.Close()
			if _, other, err := reuseIfindex("rsk3", "rsk4"); err != nil {
				return err
			} else {
				defer other.Close()
			}
			reaches = nil
			if err := old.migrate(); err != nil {
				return err
			}
			if len(left) != 0 {
				t.Errorf("LeftNotice told %v, want nothing: the interfaces are new, xdpfw never ran there", left)
			}
			if got, want := fmt.Sprint(reaches), "[migrate 0/0]"; got != want {
				t.Errorf("notices counted %s, want %s", got, want)
			}
			if got := xdpProgOf(linkNamed(t, "rsk2")); got != id {
				t.Errorf("rsk2 runs XDP program %d, want its own %d", got, id)
			}
			return nil
		})
	})
}
