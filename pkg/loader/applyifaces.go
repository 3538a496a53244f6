package loader

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// IfaceChange is what MatchInterfaces changed.
type IfaceChange struct {
	Attached []Attachment `json:"attached"` // new, or moved to another mode or program
	Detached []string     `json:"detached"`
	// Warnings are auto mode falling back to generic, and orphans
	// (orphanWarnings).
	Warnings []string `json:"warnings"`
}

// Changed reports whether any attachment changed.
func (c IfaceChange) Changed() bool { return len(c.Attached)+len(c.Detached) > 0 }

// ApplyFile is apply of a ruleset file: the ruleset (Apply), then, when
// the file lists interfaces, the attachments to match (MatchInterfaces).
// The listed interfaces are checked before anything changes, so a typo
// or a foreign program on one changes nothing; an attach that fails after
// that (the driver refuses native XDP) leaves the new ruleset applied and
// the other interfaces attached and detached as listed, and says which
// interface failed (AttachAfterApply).
func (s *State) ApplyFile(rs *rules.Ruleset) (ApplyResult, IfaceChange, error) {
	if err := s.checkInterfaces(rs); err != nil {
		return ApplyResult{}, IfaceChange{}, err
	}
	res, err := s.Apply(rs)
	if err != nil {
		return res, IfaceChange{}, err
	}
	var ch IfaceChange
	if rs.Interfaces != nil {
		if ch, err = s.MatchInterfaces(rs.Interfaces); err != nil {
			err = &AttachAfterApply{Live: true, Committed: res.Committed, Err: err}
		}
	}
	ch.Warnings = append(ch.Warnings, s.orphanWarnings()...)
	return res, ch, err
}

// checkInterfaces refuses the file's interfaces: list when an attach
// of one would be refused (canAttach), before anything changes.
func (s *State) checkInterfaces(rs *rules.Ruleset) error {
	if rs.Interfaces != nil {
		if _, err := ifaceModes(rs.Interfaces); err != nil {
			return err
		}
		names := make([]string, len(rs.Interfaces))
		for i, ifc := range rs.Interfaces {
			names[i] = ifc.Name
		}
		also := ifindexesOf(names)
		// The interfaces the file no longer lists come off first
		// (MatchInterfaces): not one of a stacked pair, so a file may
		// move the firewall to the interface below or above one.
		atts, err := s.Attachments()
		if err != nil {
			return err
		}
		listed := map[string]bool{}
		for _, name := range names {
			listed[name] = true
		}
		for _, a := range atts {
			if !listed[a.Iface] && !also[a.Ifindex] {
				also[a.Ifindex] = false
			}
		}
		for _, ifc := range rs.Interfaces {
			if err := s.canAttach(ifc.Name, false, byFile, also); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLinks is checkInterfaces with no state to check against (apply
// --check of a first file): each listed interface is here, and Ethernet.
func checkLinks(rs *rules.Ruleset) error {
	if _, err := ifaceModes(rs.Interfaces); err != nil {
		return err
	}
	for _, ifc := range rs.Interfaces {
		link, err := linkByName(ifc.Name)
		if err != nil {
			return err
		}
		if err := EthernetOnly(link); err != nil {
			return err
		}
	}
	return nil
}

// orphanWarnings say which interfaces run an xdpfw program this state
// does not list, pinned nowhere (its pin directory removed while
// attached): it enforces the ruleset it had, not the one just applied,
// which a fresh state made by the apply attaches nowhere. This state's
// own program on an interface it forgot enforces this ruleset: status
// lists it, and it is not warned of here. Not finding them is no reason
// to fail an apply that is live.
func (s *State) orphanWarnings() []string {
	orphans, err := s.Orphans()
	if err != nil {
		return nil
	}
	ids, err := s.progIDs()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(orphans))
	for _, o := range orphans {
		if o.Mode == "" || ids.ours(o.ProgID) {
			continue // a learner alone enforces nothing
		}
		out = append(out, fmt.Sprintf("%s runs an orphaned xdpfw program (id %d, its pins removed): it enforces the ruleset it had, not this one (xdpfw detach --orphans, then xdpfw attach %s)", o.Iface, o.ProgID, o.Iface))
	}
	return out
}

// AttachAfterApply is ApplyFile's error when an attach of the file's
// interfaces failed after its ruleset went live. Said first, since the
// attach error alone reads as if nothing changed.
type AttachAfterApply struct {
	// Live: the ruleset stays live. Provision clears it when it removes
	// the state the call created.
	Live      bool
	Committed bool // the ruleset differed from the live one
	Err       error
}

func (e *AttachAfterApply) Error() string {
	switch {
	case !e.Live:
		return fmt.Sprintf("nothing applied (the state this apply made is removed): %v", e.Err)
	case e.Committed:
		return fmt.Sprintf("the ruleset is applied, but %v", e.Err)
	}
	return fmt.Sprintf("the ruleset is unchanged, but %v", e.Err)
}

func (e *AttachAfterApply) Unwrap() error { return e.Err }

func ifaceModes(list []rules.Interface) ([]Mode, error) {
	modes := make([]Mode, len(list))
	for i, ifc := range list {
		m, err := ParseMode(ifc.Mode)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", ifc.Name, err)
		}
		modes[i] = m
	}
	return modes, nil
}

// MatchInterfaces makes the attachments exactly want: the program is
// attached to each listed interface in its mode (an attachment already
// so is left alone) and detached from every other interface it is on;
// the record of a listed interface gone and made again is forgotten. It
// never removes the state, even when want is empty: the ruleset stays
// pinned, as one applied before any attach does. A program xdpfw did not
// attach is never replaced.
func (s *State) MatchInterfaces(want []rules.Interface) (IfaceChange, error) {
	var ch IfaceChange
	modes, err := ifaceModes(want)
	if err != nil {
		return ch, err
	}
	before, err := s.Attachments()
	if err != nil {
		return ch, err
	}
	// One interface failing does not stop the others: each left out would
	// be one more interface without the firewall it was listed for.
	var failed []error
	listed := map[string]bool{}
	// The ifindexes the listed names lead to: a name may be one of an
	// interface's alternative names (ip link property add ... altname,
	// as udev gives them), which its record does not show.
	listedAt := map[int]bool{}
	attached := map[string]int{} // name: ifindex
	for _, ifc := range want {
		listed[ifc.Name] = true
		if link, err := netlink.LinkByName(ifc.Name); err == nil {
			listedAt[link.Attrs().Index] = true
		}
	}
	// Those no longer listed come off before any goes on: one may be
	// directly above or below a listed one (the firewall moved from a
	// VLAN to its parent), and the kernel attaches nothing below an
	// interface running a program (stackedRefusal).
	for _, a := range before {
		if listed[a.Iface] || listedAt[a.Ifindex] {
			continue
		}
		if err := s.unattach(a); err != nil {
			failed = append(failed, fmt.Errorf("detach from %s: %w", a.Iface, err))
			continue
		}
		ch.Detached = append(ch.Detached, a.Iface)
	}
	for i, ifc := range want {
		att, warning, err := s.attachBy(ifc.Name, modes[i], false, byFile)
		if warning != "" {
			ch.Warnings = append(ch.Warnings, warning)
		}
		if err != nil {
			failed = append(failed, err)
			continue
		}
		attached[ifc.Name] = att.Ifindex
		if !sameAttachment(before, att) {
			ch.Attached = append(ch.Attached, att)
		}
	}
	for _, a := range before {
		if idx, ok := attached[a.Iface]; ok && idx != a.Ifindex {
			// The record of a gone interface by a listed name, attached
			// just now on another ifindex: made again (a veth, a VLAN).
			// Kept, it was one more "missing" in status, failing it, at
			// each time the interface was made again, and detach of the
			// name detached the running one. Not said detached: that
			// name was just attached.
			if err := s.forget(a.Ifindex, fmt.Sprintf("%s (ifindex %d, gone)", a.Iface, a.Ifindex)); err != nil {
				failed = append(failed, err)
			}
			continue
		}
	}
	return ch, joinOneLine(failed)
}

// joinOneLine joins errs on one line, as every error xdpfw prints is; the
// first stays the one errors.Is and errors.As find.
func joinOneLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	err := errs[0]
	for _, e := range errs[1:] {
		err = fmt.Errorf("%w; %v", err, e)
	}
	return err
}

// sameAttachment reports whether att was already in place before.
func sameAttachment(before []Attachment, att Attachment) bool {
	for _, b := range before {
		if b.Ifindex == att.Ifindex && b.Attached && b.Mode == att.Mode && b.ProgID == att.ProgID {
			return true
		}
	}
	return false
}

// unattach removes xdpfw from the interface of a, or forgets the record
// of an interface that is gone, leaving the state pinned.
func (s *State) unattach(a Attachment) error {
	link, err := netlink.LinkByIndex(a.Ifindex)
	if err == nil && a.Attached {
		return s.detachLink(link, xdpfwIface{Mode: uint32(a.Mode.flags())})
	}
	// Another name than a's (Attachments): a new interface took the
	// gone one's ifindex, and nothing there is the record's to remove;
	// unless it runs the state's own egress learner, which only the
	// recorded interface can (renamed, its XDP program replaced).
	if err == nil && (link.Attrs().Name == a.Iface || s.runsOwnEgress(link)) {
		// Its XDP program replaced by another's: the egress learner is
		// still xdpfw's to remove (a clsact filter outlives the record
		// and the pins, holding the state's maps).
		if err := s.detachEgress(link); err != nil {
			return err
		}
	}
	return s.forget(a.Ifindex, fmt.Sprintf("ifindex %d", a.Ifindex))
}
