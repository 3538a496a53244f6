package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// AttachAll attaches the live program to every interface named, after
// checking them all (CanAttach), so a typo changes nothing. It returns the
// attachments made, in order, and any warnings (auto mode falling back to
// generic). When one fails (the kernel refuses native mode, say), the
// interfaces attached before it are put back as they were, so the attach
// as a whole changes nothing; one that cannot be is named in the error.
func (s *State) AttachAll(names []string, mode Mode, force bool) (atts []Attachment, warnings []string, err error) {
	also := ifindexesOf(names)
	for _, name := range names {
		if err := s.canAttach(name, force, byFlags, also); err != nil {
			return nil, nil, err
		}
	}
	// Every interface as it was, read before any is attached: read at
	// its turn, one deleted meanwhile failed the read with the ones
	// before it left attached, and unnamed.
	var befores []*before
	defer func() {
		for _, b := range befores {
			b.close()
		}
	}()
	for _, name := range names {
		b, err := s.before(name)
		if err != nil {
			return nil, nil, err
		}
		befores = append(befores, b)
	}
	for i, name := range names {
		att, warning, err := s.Attach(name, mode, force)
		if warning != "" {
			warnings = append(warnings, warning)
		}
		if err != nil {
			for j := i - 1; j >= 0; j-- {
				if uerr := s.putBack(befores[j]); uerr != nil {
					err = fmt.Errorf("%w; %s stays attached: putting it back as it was failed: %v", err, names[j], uerr)
				}
			}
			return nil, nil, err
		}
		atts = append(atts, att)
	}
	return atts, warnings, nil
}

// before is an interface as it was before an attach: its XDP program
// (held, so one --force replaces is not freed), its mode, its record and
// whether it had the egress learner.
type before struct {
	ifindex int
	prog    *ebpf.Program // nil: none
	id      uint32
	mode    Mode
	rec     *xdpfwIface // nil: none
	egress  bool
}

func (s *State) before(name string) (*before, error) {
	link, err := linkByName(name)
	if err != nil {
		return nil, err
	}
	b := &before{ifindex: link.Attrs().Index}
	if x := link.Attrs().Xdp; x != nil && x.ProgId != 0 {
		if b.prog, err = ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err != nil {
			return nil, fmt.Errorf("the program on %s: %w", name, err)
		}
		b.id, b.mode = x.ProgId, modeOf(x.AttachMode)
	}
	var ifc xdpfwIface
	if s.maps.Ifaces.Lookup(uint32(b.ifindex), &ifc) == nil {
		b.rec = &ifc
	}
	if b.egress, err = s.hasEgress(link); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *before) close() {
	if b.prog != nil {
		b.prog.Close()
	}
}

// putBack undoes a successful attach of b's interface: its XDP program
// and mode as they were, the egress learner removed if it had none, its
// record as it was.
func (s *State) putBack(b *before) error {
	link, err := netlink.LinkByIndex(b.ifindex)
	if err != nil {
		return err
	}
	var (
		now     uint32
		nowMode Mode
	)
	if x := link.Attrs().Xdp; x != nil {
		now, nowMode = x.ProgId, modeOf(x.AttachMode)
	}
	// A program in the same mode is replaced in place, with no moment
	// without one; native and generic cannot coexist.
	if now != 0 && (b.prog == nil || nowMode != b.mode) {
		if err := netlink.LinkSetXdpFdWithFlags(link, -1, nowMode.flags()); err != nil {
			return err
		}
	}
	if b.prog != nil && (now != b.id || nowMode != b.mode) {
		if err := netlink.LinkSetXdpFdWithFlags(link, b.prog.FD(), b.mode.flags()); err != nil {
			return err
		}
	}
	if !b.egress {
		if err := s.detachEgress(link); err != nil {
			return err
		}
	}
	return s.change(func(t *tx) error {
		if b.rec == nil {
			return t.m.Ifaces.Delete(uint32(b.ifindex))
		}
		return t.m.Ifaces.Put(uint32(b.ifindex), b.rec)
	})
}
