package loader

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Mode is how the program is attached to an interface.
type Mode string

const (
	ModeAuto    Mode = "auto"    // native, falling back to generic
	ModeNative  Mode = "native"  // in the driver (XDP_FLAGS_DRV_MODE)
	ModeGeneric Mode = "generic" // in the stack, any device (XDP_FLAGS_SKB_MODE)
)

// ParseMode accepts auto, native or generic, any case.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case ModeAuto, ModeNative, ModeGeneric:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want auto, native or generic)", s)
}

func (m Mode) flags() int {
	if m == ModeGeneric {
		return nl.XDP_FLAGS_SKB_MODE
	}
	return nl.XDP_FLAGS_DRV_MODE
}

func modeOf(attachMode uint32) Mode {
	if attachMode == nl.XDP_ATTACHED_SKB {
		return ModeGeneric
	}
	return ModeNative
}

// Attachment describes xdpfw on one interface.
type Attachment struct {
	Iface   string `json:"interface"`
	Ifindex int    `json:"ifindex"`
	Mode    Mode   `json:"mode"`
	// ProgID is the id of xdpfw's program on the interface (the one-buffer
	// or the frags one, by MTU), 0 when it is not attached.
	ProgID uint32 `json:"program_id"`
	// Attached is false when the interface is gone or another program
	// replaced xdpfw's since it was attached.
	Attached bool `json:"attached"`
	// Egress is the hook xdpfw's egress learner is on (EgressTCX,
	// EgressClsact), as the kernel has it: EgressNone when it is not.
	Egress string `json:"egress"`
	egress uint32 // the hook to record (layout.Egress*)
	// recorded is the name in the record, Iface's when the interface is
	// gone, or its ifindex another interface's (another name, not the
	// state's program); Iface is otherwise the interface's name now,
	// which a rename changes.
	recorded string
}

func (s *State) progIDs() (progIDs, error) { return progIDsOf(&s.progs) }

func linkByName(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil, fmt.Errorf("unknown interface %q", name)
		}
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	return link, nil
}

// EthernetOnly refuses an interface whose frames do not start with an
// Ethernet header, which the program parses every frame from: a tun or
// WireGuard device's packets start at the IP header (link type "none"),
// an IP tunnel's likewise, so every one would read as a frame of some
// unknown EtherType, no rule would match and a drop policy would drop
// them all. Loopback's frames carry an Ethernet header (zero addresses).
func EthernetOnly(link netlink.Link) error {
	switch t := link.Attrs().EncapType; t {
	case "ether", "loopback":
		return nil
	case "none":
		return fmt.Errorf("%s has no Ethernet header (a tun or WireGuard device: its packets start at the IP header), which xdpfw reads every frame from: attach xdpfw to the Ethernet interface its traffic arrives on", link.Attrs().Name)
	default:
		return fmt.Errorf("%s is not an Ethernet link (link type %s), and xdpfw reads every frame from its Ethernet header: attach xdpfw to the Ethernet interface its traffic arrives on", link.Attrs().Name, strings.TrimPrefix(t, "unknown"))
	}
}

// askedBy is where an attach was asked for, which the hints of its
// refusals name: the attach command's flags, or a ruleset file's
// interfaces: list (apply -f, serve), which has a mode: key and no force.
type askedBy int

const (
	byFlags askedBy = iota
	byFile
)

// CanAttach reports why Attach would refuse the interface, if it would.
func (s *State) CanAttach(name string, force bool) error {
	return s.canAttach(name, force, byFlags, nil)
}

// canAttach is CanAttach, its refusals' hints for where it was asked;
// also are the ifindexes of the other interfaces the same attach names,
// which it is checked against as if attached, and (false) those of this
// state's that come off first, as if not (stackedRefusal).
func (s *State) canAttach(name string, force bool, by askedBy, also map[int]bool) error {
	link, err := linkByName(name)
	if err != nil {
		return err
	}
	if err := EthernetOnly(link); err != nil {
		return err
	}
	ids, err := s.progIDs()
	if err != nil {
		return err
	}
	x := link.Attrs().Xdp
	ours := x != nil && ids.ours(x.ProgId)
	if x != nil && x.ProgId != 0 && !ours {
		if ours, err = s.leftByCutShort(x.ProgId); err != nil {
			return err
		}
	}
	if x != nil && x.ProgId != 0 && !ours {
		if err := foreignRefusal(name, link.Attrs().Index, x.ProgId, force, by); err != nil {
			return err
		}
	}
	if !ours {
		others := map[int]bool{}
		for idx, on := range also {
			others[idx] = on && idx != link.Attrs().Index
		}
		return stackedRefusal(link, ids, others)
	}
	return nil
}

// leftByCutShort reports whether program id is one a replacement of the
// maps cut short (a growth, a conntrack resize, marked in meta) left on an
// interface: named as xdpfw's, on the state's maps, its pin replaced
// (programsOn). The attach's change finishes the replacement, which gives
// the interface the pinned program: refused as an orphan or another pin
// directory's, the attach status names for it failed.
func (s *State) leftByCutShort(id uint32) (bool, error) {
	meta, err := readMeta(&s.maps)
	if err != nil || meta.Version&metaGrowing == 0 || !namesOf().isXdpfw(id) {
		return false, err
	}
	mine, err := s.mapIDs()
	if err != nil {
		return false, err
	}
	return usesMapsOf(id, mine), nil
}

// ifindexesOf are the ifindexes of the interfaces named that are here.
func ifindexesOf(names []string) map[int]bool {
	out := map[int]bool{}
	for _, name := range names {
		if l, err := netlink.LinkByName(name); err == nil {
			out[l.Attrs().Index] = true
		}
	}
	return out
}

// foreignRefusal is why an interface running program id, not this
// state's, is not attached: a BPF link holds it (heldByLink), or force
// is not given (foreignProgram); nil when force replaces it.
func foreignRefusal(name string, ifindex int, id uint32, force bool, by askedBy) error {
	if err := heldByLink(name, ifindex, id); err != nil {
		return err
	}
	if !force {
		return foreignProgram(name, id, by)
	}
	return nil
}

// foreignProgram is the refusal of an interface running a program this
// state does not hold. One the kernel names as xdpfw's is not called
// foreign: it is an orphan (its pin directory removed, by hand or by a
// detach from another namespace) or another --pin-dir's, still enforcing
// its own ruleset, and the way out names the orphans' command.
func foreignProgram(name string, id uint32, by askedBy) error {
	if namesOf().isXdpfw(id) {
		fix := "replace it with --force, or remove it if it is an orphan (xdpfw status lists them; xdpfw detach --orphans)"
		if by == byFile {
			fix = fmt.Sprintf("a file does not replace it: replace it by hand (xdpfw attach %s --force), or remove it if it is an orphan (xdpfw status lists them; xdpfw detach --orphans)", name)
		}
		return fmt.Errorf("%s runs an xdpfw program (id %d) that this pin directory does not hold: an orphan, or another --pin-dir's state, enforcing its own ruleset; %s", name, id, fix)
	}
	fix := "use --force to replace it"
	if by == byFile {
		fix = fmt.Sprintf("a file does not replace it: remove it, or replace it by hand (xdpfw attach %s --force)", name)
	}
	return fmt.Errorf("%s already has XDP program id %d, not xdpfw's; %s", name, id, fix)
}

// Attach puts the live program on the interface: the frags one if the
// MTU allows frames longer than one buffer (NeedsFrags), else the
// one-buffer one. It refuses to replace a program xdpfw did not attach
// unless force is set; xdpfw's other program is replaced. The returned
// warning is non-empty when auto mode fell back to generic. Once the
// program is on, a conntrack table that is read gets this host's
// established TCP connections it has no record of (seedConnections).
func (s *State) Attach(name string, mode Mode, force bool) (Attachment, string, error) {
	return s.attachBy(name, mode, force, byFlags)
}

// attachBy is Attach, its refusals' hints for where it was asked.
func (s *State) attachBy(name string, mode Mode, force bool, by askedBy) (Attachment, string, error) {
	att, warning, err := s.attach(name, mode, force, by)
	if err == nil {
		s.seedConnections()
	}
	return att, warning, err
}

func (s *State) attach(name string, mode Mode, force bool, by askedBy) (Attachment, string, error) {
	if s.old != nil {
		return Attachment{}, "", s.old
	}
	link, err := linkByName(name)
	if err != nil {
		return Attachment{}, "", err
	}
	if err := EthernetOnly(link); err != nil {
		return Attachment{}, "", err
	}
	// A counter slot no attached interface counts in starts from zero
	// (its old counts go to the totals) before the program goes on, so
	// every frame counted in it from then on is this interface's: folded
	// after, a frame arriving in between (IPv6 autoconfiguration's, say)
	// was in the totals and in no interface's counters. First of all:
	// the change finishes a growth of the maps cut short, which loads
	// the programs again, so the ones read below are those it pinned.
	//
	// The same change commits the live ruleset again if an interface its
	// rules name was made again since it was written (the interface
	// being attached, typically): its rules match before frames come.
	if err := s.change(func(t *tx) error {
		if err := foldIfUnused(t.m, link.Attrs().Index); err != nil {
			return err
		}
		return t.resolveIfacesAgain()
	}); err != nil {
		return Attachment{}, "", err
	}
	// Read again: a replacement that change finished gave the interface
	// the pinned program in place of the one read above.
	if link, err = netlink.LinkByIndex(link.Attrs().Index); err != nil {
		return Attachment{}, "", fmt.Errorf("interface %q: %w", name, err)
	}
	ids, err := s.progIDs()
	if err != nil {
		return Attachment{}, "", err
	}
	prog := programFor(&s.progs, link.Attrs().MTU)
	id, err := progID(prog)
	if err != nil {
		return Attachment{}, "", err
	}
	if x := link.Attrs().Xdp; x != nil && x.ProgId == ids.frags && keepsFrags(link, modeOf(x.AttachMode)) &&
		(mode == ModeAuto || mode == modeOf(x.AttachMode)) {
		// A native veth kept native keeps the frags program whatever
		// its MTU: the bound on its peer's MTU stays as the first
		// program set it, so the one-buffer one swapped in could be
		// handed frames of several buffers (keepsFrags).
		id = ids.frags
	}
	att := Attachment{Iface: name, Ifindex: link.Attrs().Index, ProgID: id, Attached: true}

	var old *xdpProgram // the program replaced, put back if attach fails
	x := link.Attrs().Xdp
	if x != nil && x.ProgId != 0 {
		current := modeOf(x.AttachMode)
		switch {
		case x.ProgId == id && (mode == ModeAuto || mode == current):
			// Attached already: the egress learner made sure of (a
			// state migrated from a layout without it), the XDP
			// program left as it was whatever happens.
			att.Mode = current
			if att.egress, err = s.attachEgress(link, s.progs.XdpfwEgress); err != nil {
				return Attachment{}, "", egressFailed(name, err, "")
			}
			att.Egress = egressName(att.egress)
			return att, "", s.remember(att)
		case !ids.ours(x.ProgId):
			if err := foreignRefusal(name, att.Ifindex, x.ProgId, force, by); err != nil {
				return Attachment{}, "", err
			}
		}
	}
	if x == nil || !ids.ours(x.ProgId) {
		if err := stackedRefusal(link, ids, nil); err != nil {
			return Attachment{}, "", err
		}
	}
	if x != nil && x.ProgId != 0 {
		// Held by id before it comes off: another's program, replaced
		// with --force, is freed once detached unless something holds it.
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId))
		if err != nil {
			return Attachment{}, "", fmt.Errorf("the program on %s: %w", name, err)
		}
		defer p.Close()
		old = &xdpProgram{p, modeOf(x.AttachMode), x.ProgId}
	}

	// The egress learner before XDP: it cannot fail after the XDP
	// program is changed, so it never leaves an interface without the
	// program it had (another mode, the other variant) or without one at
	// all. Learning a moment early only records flows.
	hadEgress, err := s.hasEgress(link)
	if err != nil {
		return Attachment{}, "", egressFailed(name, err, "")
	}
	if att.egress, err = s.attachEgress(link, s.progs.XdpfwEgress); err != nil {
		return Attachment{}, "", egressFailed(name, err, "")
	}
	att.Egress = egressName(att.egress)
	// undo leaves the interface as it was: its old XDP program back, and
	// the learner removed if this call put it there (one that was there
	// is now the state's own, what attach would make it anyway).
	undoEgress := func() {
		if !hadEgress {
			s.detachEgress(link)
		}
	}
	undo := func() {
		if old != nil {
			netlink.LinkSetXdpFdWithFlags(link, old.prog.FD(), old.mode.flags())
		}
		undoEgress()
	}

	// on is the program on the interface as attach goes: the old one,
	// until it comes off for a program in the other mode.
	on := old
	noExist := nl.XDP_FLAGS_UPDATE_IF_NOEXIST
	if old != nil {
		noExist = 0
	}
	warning := ""
	try := mode
	if mode == ModeAuto {
		try = ModeNative
		if old != nil && ids.ours(x.ProgId) {
			// xdpfw's other variant: its mode is kept, as when
			// attached already, and the variant replaced in place.
			try = old.mode
		}
	}
	if err := takeOffForMode(link, &on, try); err != nil {
		undo()
		return Attachment{}, "", err
	}
	prog, err = s.putOn(link, try, on, noExist)
	if err != nil && (noExist != 0 || on != nil) {
		if taken := takenMeanwhile(name, err, force, by, on); taken != nil {
			undoEgress() // the program there now is another's
			return Attachment{}, "", taken
		}
	}
	if err != nil && mode == ModeAuto && try == ModeNative {
		warning = fmt.Sprintf("native XDP is not available on %s (%v); attached in generic mode", name, err)
		try = ModeGeneric
		if err = takeOffForMode(link, &on, try); err != nil {
			undo()
			return Attachment{}, "", err
		}
		prog, err = s.putOn(link, try, on, noExist)
	}
	if err != nil {
		undo()
		return Attachment{}, "", fmt.Errorf("attach to %s in %s mode: %w", name, try, explainAttach(err, by))
	}
	att.Mode = try
	if prog == s.progs.XdpfwFrags {
		att.ProgID = ids.frags // the kernel may have refused the other
	}
	if err := s.remember(att); err != nil {
		if old == nil || old.mode != try {
			netlink.LinkSetXdpFdWithFlags(link, -1, try.flags())
		} // else undo puts the old one back in its place
		undo()
		return Attachment{}, "", err
	}
	return att, warning, nil
}

// takeOffForMode removes *on, the program on link, if it is in another
// mode than m, and forgets it: native and generic programs cannot
// coexist. One in mode m stays, for putOn to replace in place.
func takeOffForMode(link netlink.Link, on **xdpProgram, m Mode) error {
	if *on == nil || (*on).mode == m {
		return nil
	}
	if err := netlink.LinkSetXdpFdWithFlags(link, -1, (*on).mode.flags()); err != nil {
		return fmt.Errorf("detach the program on %s: %w", link.Attrs().Name, err)
	}
	*on = nil
	return nil
}

// putOn puts the state's program for link (setProgram) on it in mode m:
// in place of on, the program there in that mode, in one step, so no
// frame passes unfiltered while xdpfw's program changes variant (the
// MTU changed) or replaces another's (--force); with noExist when the
// interface had none. (A veth keeps the bound on its peer's MTU its first
// program set: raising the peer's above one buffer after the one-buffer
// program was replaced by the frags one takes a detach and an attach.)
func (s *State) putOn(link netlink.Link, m Mode, on *xdpProgram, noExist int) (*ebpf.Program, error) {
	if on == nil {
		return setProgram(&s.progs, link, m.flags()|noExist, nil)
	}
	return setProgram(&s.progs, link, m.flags(), on.prog)
}

// takenMeanwhile is, when the kernel refused to put the program on an
// interface that had none, or to replace on there, as another XDP
// program is there (EBUSY, EEXIST for one of the other mode or not the
// one expected), the refusal attach gives an interface running it:
// another process attached it since attach looked (another pin
// directory's state attaching at once, its lock not this one's), or with
// force, that it came after the look. Else nil. Auto mode's fallback to
// generic took it for a driver without native XDP, and failed the same,
// saying generic mode.
func takenMeanwhile(name string, err error, force bool, by askedBy, on *xdpProgram) error {
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EEXIST) {
		return nil
	}
	link, lerr := linkByName(name)
	if lerr != nil || link.Attrs().Xdp == nil || link.Attrs().Xdp.ProgId == 0 {
		return nil
	}
	id := link.Attrs().Xdp.ProgId
	if on != nil && id == on.id {
		return nil // still the one replaced: refused for another reason
	}
	if err := foreignRefusal(name, link.Attrs().Index, id, force, by); err != nil {
		return err
	}
	// --force replaces what it finds: this came after it looked.
	return fmt.Errorf("XDP program id %d was attached to %s while this attach ran: nothing changed; attach again to replace it", id, name)
}

// xdpProgram is the program on an interface attach replaces, held so it
// can be put back (another's is freed once off unless something holds
// it), the mode it was attached in and its id.
type xdpProgram struct {
	prog *ebpf.Program
	mode Mode
	id   uint32
}

// egressFailed is the one line an attach whose egress learner failed
// ends with.
func egressFailed(name string, err error, undone string) error {
	return fmt.Errorf("attach the connection-tracking egress program to %s: %w%s", name, err, undone)
}

func explainAttach(err error, by askedBy) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		fix := "try --mode generic"
		if by == byFile {
			fix = "give it mode: generic (or auto) in the file's interfaces list"
		}
		return fmt.Errorf("%w (the driver has no native XDP: %s)", err, fix)
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w (another XDP program is attached)", err)
	case errors.Is(err, unix.ERANGE), errors.Is(err, unix.EINVAL):
		// Generic XDP takes any MTU: the stack hands it whole frames.
		fix := "lower its MTU, or try --mode generic"
		if by == byFile {
			fix = "lower its MTU, or give it mode: generic in the file's interfaces list"
		}
		return fmt.Errorf("%w (the MTU may be too large for native XDP on this device: %s)", err, fix)
	}
	return err
}

func (s *State) remember(att Attachment) error {
	var ifc xdpfwIface
	ifc.Mode = uint32(att.Mode.flags())
	ifc.Egress = att.egress
	for i := 0; i < len(ifc.Name)-1 && i < len(att.Iface); i++ {
		ifc.Name[i] = int8(att.Iface[i])
	}
	return s.change(func(t *tx) error {
		if err := t.m.Ifaces.Put(uint32(att.Ifindex), &ifc); err != nil {
			return fmt.Errorf("record attachment: %w", mapFull(err))
		}
		return nil
	})
}

// foldIfUnused zeroes ifindex's counter slot, its counts added to the
// totals, if no recorded attachment counts in it: a new interface there
// counts from zero.
func foldIfUnused(m *xdpfwMaps, ifindex int) error {
	fresh, err := slotUnused(m, ifindex)
	if err != nil || !fresh {
		return err
	}
	return foldSlot(m, ifaceSlot(ifindex))
}

// slotUnused reports whether no recorded attachment, this interface's
// included, counts in ifindex's counter slot.
func slotUnused(m *xdpfwMaps, ifindex int) (bool, error) {
	var (
		idx uint32
		ifc xdpfwIface
	)
	it := m.Ifaces.Iterate()
	for it.Next(&idx, &ifc) {
		if ifaceSlot(int(idx)) == ifaceSlot(ifindex) {
			return false, nil
		}
	}
	if err := it.Err(); err != nil {
		return false, fmt.Errorf("read attachments: %w", err)
	}
	return true, nil
}

// forget removes the record of an attachment, and the egress learner's
// tcx link pin if the interface had one (gone, it is defunct); what names
// it is in the error.
func (s *State) forget(ifindex int, what string) error {
	if err := removeEgressLink(s.dir, ifindex); err != nil {
		return fmt.Errorf("forget %s: %w", what, err)
	}
	return s.change(func(t *tx) error {
		if err := t.m.Ifaces.Delete(uint32(ifindex)); err != nil {
			return fmt.Errorf("forget %s: %w", what, err)
		}
		return nil
	})
}

// Detached is what Detach did: removed xdpfw from the interface of the
// name (Detached), or forgot the records of that name whose interfaces
// are gone (Forgot); Last: no interface was left, and the pinned
// program, maps and ruleset are removed too. Warnings are for the
// operator. Replaced is the id of the XDP program on the interface
// Detached names when it was not xdpfw's (another replaced it): only
// xdpfw's record and egress learner went, that program stays.
type Detached struct {
	Iface    string // the name asked for
	Ifindex  int    // of the interface detached
	Detached bool
	Replaced uint32
	Forgot   []Attachment
	Last     bool
	Warnings []string
}

// Detach removes xdpfw from the named interface. When no interface is
// left, the pinned program, maps and live ruleset are removed too. An
// interface gone since xdpfw was attached (deleted, or moved to another
// namespace) is found by the name its record keeps, and the record is
// forgotten (a new interface given its ifindex left as it is: forget
// touches the record and its pins alone), unless an interface of that name is here and attached: then
// that one is detached, and each gone record of the name stays, named in
// a warning with the command that forgets it alone (DetachIfindex).
// Forgetting it too could remove the pins, the ruleset with them, where
// the operator asked to detach one interface.
func (s *State) Detach(name string) (d Detached, err error) {
	d.Iface = name
	if s.old != nil {
		return d, s.old
	}
	if err := s.detachable(name); err != nil {
		return d, err
	}
	if err := s.finishReplacing(); err != nil {
		return d, err
	}
	if link, err := linkByName(name); err == nil {
		var ifc xdpfwIface
		if err := s.maps.Ifaces.Lookup(uint32(link.Attrs().Index), &ifc); err == nil {
			gone, err := s.goneRecords(name)
			if err != nil {
				return d, err
			}
			ids, err := s.progIDs()
			if err != nil {
				return d, err
			}
			if x := link.Attrs().Xdp; x != nil && !ids.ours(x.ProgId) {
				d.Replaced = x.ProgId
			}
			if err := s.detachLink(link, ifc); err != nil {
				return d, err
			}
			d.Detached, d.Ifindex = true, link.Attrs().Index
			for _, a := range gone {
				d.Warnings = append(d.Warnings, fmt.Sprintf("a record of %s whose interface is gone (ifindex %d) stays, keeping the state pinned (forget it: xdpfw detach --ifindex %d)", name, a.Ifindex, a.Ifindex))
			}
			d.Last, err = s.RemoveIfUnused()
			return d, err
		}
	}
	// A record of that name whose interface is gone (a new interface of
	// that name has another ifindex).
	gone, err := s.goneRecords(name)
	if err != nil {
		return d, err
	}
	for _, a := range gone {
		// unattach: a record of an interface renamed since, its XDP
		// program replaced, has its egress learner there to remove.
		if err := s.unattach(a); err != nil {
			return d, err
		}
		d.Forgot = append(d.Forgot, a)
	}
	d.Last, err = s.RemoveIfUnused()
	return d, err
}

// detachable is why Detach would refuse name, if it would: no interface
// of that name is attached here, and no record of it is of one gone.
func (s *State) detachable(name string) error {
	link, linkErr := linkByName(name)
	if linkErr == nil {
		var ifc xdpfwIface
		if s.maps.Ifaces.Lookup(uint32(link.Attrs().Index), &ifc) == nil {
			return nil
		}
	}
	gone, err := s.goneRecords(name)
	if err != nil || len(gone) > 0 {
		return err
	}
	if linkErr != nil {
		return linkErr
	}
	return fmt.Errorf("xdpfw is not attached to %s", name)
}

// DetachEach detaches the named interfaces in turn (Detach), each name
// once, after checking every one: a name Detach would refuse (a typo, an
// interface not attached) is refused before anything changes. It returns
// what each detach did, up to a failure.
func (s *State) DetachEach(names []string) ([]Detached, error) {
	if s.old != nil {
		return nil, s.old
	}
	for _, name := range names {
		if err := s.detachable(name); err != nil {
			return nil, err
		}
	}
	var done []Detached
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue
		}
		d, err := s.Detach(name)
		done = append(done, d)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// goneRecords lists the records of name whose interface is gone: no
// interface has the ifindex, or a new one took it (another name, not
// running the state's program, as status has it: missing), which
// forgetting the record leaves as it is (unattach: but for the state's
// egress learner, which tells the recorded interface renamed).
func (s *State) goneRecords(name string) ([]Attachment, error) {
	atts, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	var gone []Attachment
	for _, a := range atts {
		if a.recorded != name {
			continue
		}
		if link, err := netlink.LinkByIndex(a.Ifindex); err == nil && (a.Attached || link.Attrs().Name == name) {
			continue
		}
		gone = append(gone, a)
	}
	return gone, nil
}

// DetachAll removes xdpfw from every interface it was attached to and
// removes the pinned state. It returns the attachments it removed, those
// before a failure too: they stay removed, and the caller says so.
func (s *State) DetachAll() ([]Attachment, error) {
	if s.old != nil {
		return nil, s.old
	}
	if err := s.finishReplacing(); err != nil {
		return nil, err
	}
	atts, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	for i, a := range atts {
		if err := s.unattach(a); err != nil {
			return atts[:i], err
		}
	}
	_, err = s.RemoveIfUnused()
	return atts, err
}

// finishReplacing finishes a replacement of the maps cut short (a
// growth, a conntrack resize: changeGrowing), as attach does, before a
// detach reads which program is the state's: finished by the change that
// forgets the record, it came once the program was off, and told of the
// interface being detached as left without xdpfw. Cut after the
// programs' pins were replaced, the interface ran the program the
// replacement began with, which no pin holds: the detach took it for
// another's and left it, the replacement gave it the new one, and the
// interface went on filtering with no record.
func (s *State) finishReplacing() error {
	return s.change(func(*tx) error { return nil })
}

func (s *State) detachLink(link netlink.Link, ifc xdpfwIface) error {
	ids, err := s.progIDs()
	if err != nil {
		return err
	}
	name := link.Attrs().Name
	// Only remove the program if it is still ours: someone may have
	// replaced it since, and theirs is not ours to remove.
	if x := link.Attrs().Xdp; x != nil && ids.ours(x.ProgId) {
		if err := netlink.LinkSetXdpFdWithFlags(link, -1, modeOf(attachedMode(ifc.Mode)).flags()); err != nil {
			return fmt.Errorf("detach from %s: %w", name, err)
		}
	}
	if err := s.detachEgress(link); err != nil {
		return fmt.Errorf("detach from %s: %w", name, err)
	}
	return s.forget(link.Attrs().Index, name)
}

func attachedMode(flags uint32) uint32 {
	if flags == nl.XDP_FLAGS_SKB_MODE {
		return nl.XDP_ATTACHED_SKB
	}
	return nl.XDP_ATTACHED_DRV
}

// RemoveIfUnused removes the pinned state when no interface uses it, and
// reports whether it did.
func (s *State) RemoveIfUnused() (bool, error) {
	var (
		k   uint32
		ifc xdpfwIface
	)
	if s.maps.Ifaces.Iterate().Next(&k, &ifc) {
		return false, nil
	}
	if err := s.unpinAll(); err != nil {
		return true, fmt.Errorf("remove pinned state: %w", err)
	}
	return true, nil
}

// Attachments lists the interfaces xdpfw was attached to, checking each
// against the kernel (in the caller's network namespace).
func (s *State) Attachments() ([]Attachment, error) {
	ids, err := s.progIDs()
	if err != nil {
		return nil, err
	}
	var (
		idx uint32
		ifc xdpfwIface
		out []Attachment
	)
	it := s.maps.Ifaces.Iterate()
	for it.Next(&idx, &ifc) {
		a := Attachment{Ifindex: int(idx), Mode: modeOf(attachedMode(ifc.Mode)), Egress: EgressNone, egress: ifc.Egress}
		for _, c := range ifc.Name {
			if c == 0 {
				break
			}
			a.Iface += string(rune(byte(c)))
		}
		a.recorded = a.Iface
		if link, err := netlink.LinkByIndex(int(idx)); err == nil {
			x := link.Attrs().Xdp
			ours := x != nil && ids.ours(x.ProgId)
			// Another name, not the state's program: the interface
			// recorded is gone, the kernel gave its ifindex to a new
			// one (status: missing). The record keeps its name, and
			// nothing of the new interface is the record's.
			if ours || link.Attrs().Name == a.recorded {
				a.Iface = link.Attrs().Name
				if ours {
					a.Attached, a.ProgID = true, x.ProgId
				}
				a.Egress = s.egressOn(link)
			}
		}
		out = append(out, a)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read attachments: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ifindex < out[j].Ifindex })
	return out, nil
}
