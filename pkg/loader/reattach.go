package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LeftNotice, when set, is told of an interface the state in dir lists
// that a replacement of its programs (a growth of the maps, a conntrack
// resize, a migration) left as it was, running XDP program prog (0:
// none), not the state's: another replaced xdpfw's program there, before
// the change or while it ran. Its record stays; status lists it as
// replaced. An interface whose ifindex a new interface took (another
// name, not the state's program) is gone, not told.
var LeftNotice func(dir, iface string, prog uint32)

// Reach is how many interfaces a replacement of the state's programs gave
// the new ones (On), of those the state lists that it found here, and
// still here when it gave them (Of: one gone meanwhile is no more
// counted than one gone before): the others it left (LeftNotice).
type Reach struct{ On, Of int }

// String is what a notice says of r: nothing when the state is attached
// to none (a first apply), "every interface" only when it is every one.
func (r Reach) String() string {
	switch {
	case r.Of == 0:
		return ""
	case r.On == r.Of:
		return "the program replaced on every interface (its id changes)"
	case r.On == 0:
		return fmt.Sprintf("the program replaced on none of the %d interfaces (each left as it is)", r.Of)
	}
	return fmt.Sprintf("the program replaced on %d of the %d interfaces (its id changes there; the others left as they are)", r.On, r.Of)
}

// onIface is an interface the state lists as a replacement of its
// programs found it when it began: the XDP program there (0: none), its
// mode, and, when it was the state's, that program held, so the swap can
// expect it and no other.
type onIface struct {
	ifindex int
	name    string
	id      uint32
	mode    Mode
	old     *ebpf.Program // nil: not the state's
	frags   bool          // old is xdpfw's frags program
}

type onIfaces []onIface

func (o onIfaces) Close() {
	for _, on := range o {
		if on.old != nil {
			on.old.Close()
		}
	}
}

// programsOn reads the XDP program on every interface the state lists,
// before its programs are replaced (replaceBuild). The state's are its
// pinned programs', by id; unpinned, also a program named as xdpfw's
// that uses the state's own maps (usesMapsOf): a change cut short (a
// growth, a conntrack resize, a migration) left the interfaces it had
// not reached running the programs it began with, whose pins it had
// replaced, on the maps it kept. Any other (another's, another state's,
// an orphan, or another xdpfw's whose pins this process does not see,
// named as xdpfw's all the same) is not the state's to replace.
func (s *State) programsOn(unpinned bool) (onIfaces, error) {
	ids, err := s.progIDs()
	if err != nil {
		return nil, err
	}
	atts, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	n := namesOf()
	var (
		out  onIfaces
		mine map[ebpf.MapID]bool // read for the first candidate only
	)
	for _, a := range atts {
		link, err := netlink.LinkByIndex(a.Ifindex)
		if err != nil {
			continue // gone: status lists it, detach forgets it
		}
		on := onIface{ifindex: a.Ifindex, name: link.Attrs().Name}
		if x := link.Attrs().Xdp; x != nil {
			on.id, on.mode = x.ProgId, modeOf(x.AttachMode)
		}
		ours := ids.ours(on.id)
		if !ours && unpinned && on.id != 0 && n.isXdpfw(on.id) {
			if mine == nil {
				if mine, err = s.mapIDs(); err != nil {
					return nil, err
				}
			}
			ours = usesMapsOf(on.id, mine)
		}
		if !ours && on.name != a.recorded {
			// Gone too: the kernel gave its ifindex to a new interface
			// (or it was renamed and lost the program), which xdpfw
			// never ran on, as status has it (missing). Its program is
			// not the state's to tell of, nor to replace.
			continue
		}
		if ours {
			// Gone since (another replaced it): not the state's.
			on.old, _ = ebpf.NewProgramFromID(ebpf.ProgramID(on.id))
			on.frags = on.id == ids.frags
			if on.old != nil && !on.frags && on.id != ids.plain {
				info, err := on.old.Info()
				on.frags = err == nil && info.Name == xdpfwProgXdpfwFrags
			}
		}
		out = append(out, on)
	}
	return out, nil
}

// mapIDs are the ids of the state's maps.
func (s *State) mapIDs() (map[ebpf.MapID]bool, error) {
	ids := map[ebpf.MapID]bool{}
	for name, m := range s.mapsByName() {
		if m == nil {
			continue
		}
		info, err := m.Info()
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		if id, ok := info.ID(); ok {
			ids[id] = true
		}
	}
	return ids, nil
}

// usesMapsOf reports whether program id uses one of the maps mine names:
// proof that it is the state's, as its name is not (another's program
// may take it; an orphan's maps are its own).
func usesMapsOf(id uint32, mine map[ebpf.MapID]bool) bool {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return false
	}
	used, _ := info.MapIDs()
	for _, m := range used {
		if mine[m] {
			return true
		}
	}
	return false
}

// reattach puts the state's programs, in the mode each had, on the
// interfaces olds says ran the state's, and the egress learner on the
// same interfaces; it returns the hooks the learner went on. Each swap
// expects the program found there (XDP_FLAGS_REPLACE): one another put
// on since is refused by the kernel, and left with the others not the
// state's (LeftNotice), its record kept, as status sees it, replaced.
// Its reach counts the interfaces it gave the programs of those still
// here: one gone meanwhile (before its lookup, or between it and the
// swap, which fails) was neither given them nor left (no notice names
// it), and counted, "the others left as they are" would point to it.
func (s *State) reattach(olds onIfaces) (hooks map[uint32]uint32, reach Reach, err error) {
	hooks = map[uint32]uint32{}
	for _, on := range olds {
		link, err := netlink.LinkByIndex(on.ifindex)
		if err != nil {
			continue // gone meanwhile
		}
		reach.Of++
		if on.old == nil {
			s.left(on.name, on.id)
			continue
		}
		if err := s.swapProgram(link, on); err != nil {
			if vanished(on.ifindex) {
				reach.Of-- // gone meanwhile, after the lookup
				continue
			}
			if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
				// Another program, attached since programsOn.
				if link, lerr := netlink.LinkByIndex(on.ifindex); lerr == nil && xdpProgOf(link) != on.id {
					s.left(on.name, xdpProgOf(link))
					continue
				}
			}
			return nil, reach, fmt.Errorf("replace the program on %s: %w", on.name, explainAttach(err, byFlags))
		}
		// The egress learner: replaced in place, or (from a layout
		// without it) added; its hook is recorded with the version.
		hook, err := s.attachEgress(link, s.progs.XdpfwEgress)
		if err != nil {
			if vanished(on.ifindex) {
				reach.Of--
				continue
			}
			return nil, reach, egressFailed(on.name, err, "")
		}
		hooks[uint32(on.ifindex)] = hook
	}
	reach.On = len(hooks)
	return hooks, reach, nil
}

// vanished reports whether no interface has ifindex any more: deleted
// after reattach looked it up, which a swap on it then fails with
// ENODEV, as it is gone, not an error of the change (nor left: no
// notice names it, as none names one gone before).
func vanished(ifindex int) bool {
	_, err := netlink.LinkByIndex(ifindex)
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound)
}

// swapProgram puts the state's program for link in place of on.old, in
// one step that expects it: the frags one on a veth in native mode that
// ran it (keepsFrags), else the one its MTU asks (setProgram).
func (s *State) swapProgram(link netlink.Link, on onIface) error {
	if on.frags && keepsFrags(link, on.mode) {
		return replaceXDP(on.ifindex, s.progs.XdpfwFrags.FD(), on.old.FD(), on.mode.flags())
	}
	_, err := setProgram(&s.progs, link, on.mode.flags(), on.old)
	return err
}

// left tells LeftNotice of an interface reattach left running prog.
func (s *State) left(iface string, prog uint32) {
	if LeftNotice != nil {
		LeftNotice(s.dir, iface, prog)
	}
}
