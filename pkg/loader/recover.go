package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Ways out of states the normal commands cannot open or do not list: an
// xdpfw program running on an interface no pin directory lists (an
// orphan), and a pin directory whose state cannot be opened (a map
// missing, a stray pin, another build's maps). Each removes only what is
// provably xdpfw's: pins named as the object names its maps and programs,
// and programs the kernel names as the object does.

// brokenState is the error of a pin directory whose state exists (meta is
// pinned) but cannot be opened.
type brokenState struct{ err error }

func (e *brokenState) Error() string { return e.err.Error() }
func (e *brokenState) Unwrap() error { return e.err }

// objectNames are the names xdpfw gives things, read from the object.
type objectNames struct {
	mapPins  map[string]bool // the pins of its maps: the maps' names
	progPins map[string]bool // the pins of its programs
	progs    map[string]bool // its programs' names, as the kernel has them
}

func namesOf() objectNames {
	n := objectNames{mapPins: map[string]bool{}, progPins: map[string]bool{}, progs: map[string]bool{}}
	for name := range objectMaps {
		n.mapPins[name] = true
	}
	for pin := range (&State{}).programPins() {
		n.progPins[pin] = true
		n.progPins[pin+newPinSuffix] = true // a migration cut short
	}
	for _, name := range objectPrograms {
		n.progs[name] = true
	}
	return n
}

// ours reports whether the pin at path, named name, is provably xdpfw's:
// a map pinned under one of the object's map names, or a program named as
// the object's programs are, pinned under one of their pin names.
func (n objectNames) ours(path, name string) bool {
	switch {
	case n.mapPins[name]:
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err != nil {
			return false
		}
		m.Close()
		return true
	case isEgressLinkPin(name):
		return egressLinkOurs(path, n)
	case n.progPins[name]:
		p, err := ebpf.LoadPinnedProgram(path, nil)
		if err != nil {
			return false
		}
		defer p.Close()
		info, err := p.Info()
		return err == nil && n.progs[info.Name]
	}
	return false
}

// egressLinkOurs reports whether the pinned link at path runs a program
// named as xdpfw's (its egress learner, on tcx).
func egressLinkOurs(path string, n objectNames) bool {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return false
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return false
	}
	p, err := ebpf.NewProgramFromID(info.Program)
	if err != nil {
		return false
	}
	defer p.Close()
	pi, err := p.Info()
	return err == nil && n.progs[pi.Name]
}

// classifyPins splits the entries of dir into xdpfw's pins (meta first:
// without it no state is seen as complete) and the others.
func classifyPins(dir string, n objectNames) (ours, stray []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read pin directory: %w", err)
	}
	for _, e := range entries {
		if n.ours(filepath.Join(dir, e.Name()), e.Name()) {
			ours = append(ours, e.Name())
		} else {
			stray = append(stray, e.Name())
		}
	}
	sort.SliceStable(ours, func(i, j int) bool { return ours[i] == xdpfwMapMeta && ours[j] != xdpfwMapMeta })
	return ours, stray, nil
}

// removeLeftovers clears pins an interrupted create left behind (meta,
// pinned last, is absent, so they never formed a valid state). It removes
// only xdpfw's pins, and refuses a directory holding anything else.
func removeLeftovers(dir string) error {
	n := namesOf()
	ours, stray, err := classifyPins(dir, n)
	if err != nil {
		return err
	}
	if len(stray) > 0 {
		return fmt.Errorf("%s holds %s, which xdpfw did not make: refusing to create state there (remove it, or use another --pin-dir)", dir, strings.Join(stray, ", "))
	}
	for _, name := range ours {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove stale pin: %w", err)
		}
	}
	return nil
}

// xdpfwProgOn returns the id of the XDP program on link if the kernel
// names it as the object names xdpfw's programs.
func xdpfwProgOn(link netlink.Link, n objectNames) (uint32, bool) {
	x := link.Attrs().Xdp
	if x == nil || x.ProgId == 0 {
		return 0, false
	}
	return x.ProgId, n.isXdpfw(x.ProgId)
}

// isXdpfw reports whether the kernel names program id as the object
// names xdpfw's programs.
func (n objectNames) isXdpfw(id uint32) bool {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false
	}
	defer p.Close()
	info, err := p.Info()
	return err == nil && n.progs[info.Name]
}

// Orphan is an xdpfw program running on an interface that the pin
// directory does not list: the directory is gone, or its record was
// removed. Another state's program, pinned in its own directory, is not
// one (pinnedElsewhere).
type Orphan struct {
	Iface   string `json:"interface"`
	Ifindex int    `json:"ifindex"`
	Mode    Mode   `json:"mode,omitempty"` // "": the egress learner alone
	ProgID  uint32 `json:"program_id"`
	// learner: the state in the pin directory has the interface's tcx
	// egress link pinned, though it does not list the interface: an
	// attach killed after the learner went on (before the XDP program,
	// or before the record). It goes with the orphan.
	learner bool
	// listed: the state lists the interface, whose program the orphan
	// replaced; status names it once, as replaced.
	listed bool
}

// findOrphans lists the interfaces of this network namespace running a
// program named as xdpfw's that is not a listed attachment of the state in
// dir (listed: its ifindexes; nil: no state; ids: its programs) and not
// another directory's state's (elsewhere.holds).
func findOrphans(dir string, n objectNames, listed map[int]bool, ids progIDs) ([]Orphan, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var (
		out    []Orphan
		others *elsewhere // walked for the first candidate only
	)
	for _, link := range links {
		idx := link.Attrs().Index
		learner := false
		if !listed[idx] {
			_, learner = tcxEgressOn(dir, link)
		}
		id, ok := xdpfwProgOn(link, n)
		if !ok && learner {
			// The learner alone: nothing else says it runs, and
			// detach IFACE finds no record to detach.
			lid, _ := tcxEgressOn(dir, link)
			out = append(out, Orphan{Iface: link.Attrs().Name, Ifindex: idx, ProgID: lid, learner: true})
			continue
		}
		if !ok || listed[idx] && ids.ours(id) {
			continue
		}
		if !ids.ours(id) {
			if others == nil {
				e := pinnedElsewhere(dir, n)
				others = &e
			}
			if others.holds(id) {
				continue
			}
		}
		out = append(out, Orphan{Iface: link.Attrs().Name, Ifindex: idx,
			Mode: modeOf(link.Attrs().Xdp.AttachMode), ProgID: id, learner: learner, listed: listed[idx]})
	}
	return out, nil
}

// Orphans lists the interfaces of this network namespace that run an
// xdpfw program the state does not list.
func (s *State) Orphans() ([]Orphan, error) {
	n := namesOf()
	ids, err := s.progIDs()
	if err != nil {
		return nil, err
	}
	atts, err := s.Attachments()
	if err != nil {
		return nil, err
	}
	listed := map[int]bool{}
	for _, a := range atts {
		listed[a.Ifindex] = true
	}
	return findOrphans(s.dir, n, listed, ids)
}

// Orphans lists the interfaces of this network namespace running an
// xdpfw program the state in dir does not list; with no state there,
// every xdpfw program is one.
func Orphans(dir string) ([]Orphan, error) {
	var out []Orphan
	err := withOrphans(dir, func(o []Orphan) error {
		out = o
		return nil
	})
	return out, err
}

// DetachOrphans removes xdpfw's programs from the interfaces Orphans
// lists, and returns them.
func DetachOrphans(dir string) ([]Orphan, error) {
	var done []Orphan
	err := withOrphans(dir, func(orphans []Orphan) error {
		for _, o := range orphans {
			link, err := netlink.LinkByIndex(o.Ifindex)
			if err != nil {
				return fmt.Errorf("interface %s: %w", o.Iface, err)
			}
			if o.Mode != "" {
				if err := netlink.LinkSetXdpFdWithFlags(link, -1, o.Mode.flags()); err != nil {
					return fmt.Errorf("detach from %s: %w", o.Iface, err)
				}
			}
			// Its egress learner: a clsact filter, or a tcx link whose
			// pin went with the directory, or is still in it.
			if o.learner {
				if err := removeEgressLink(dir, o.Ifindex); err != nil {
					return fmt.Errorf("detach from %s: %w", o.Iface, err)
				}
			}
			if err := removeEgressFilter(link, dir); err != nil {
				return fmt.Errorf("detach from %s: %w", o.Iface, err)
			}
			done = append(done, o)
		}
		return nil
	})
	return done, err
}

// withOrphans runs fn on the orphans, holding the state's lock if there
// is a state.
func withOrphans(dir string, fn func([]Orphan) error) error {
	s, err := Open(dir)
	if err == nil {
		defer s.Close()
		orphans, err := s.Orphans()
		if err != nil {
			return err
		}
		return fn(orphans)
	}
	if !errors.Is(err, ErrNotAttached) {
		return err
	}
	n := namesOf()
	orphans, err := findOrphans(dir, n, nil, progIDs{})
	if err != nil {
		return err
	}
	return fn(orphans)
}

// Removal is what RemoveState did.
type Removal struct {
	// Broken is why the state could not be opened; "" when it could.
	Broken string
	// Detached names the interfaces xdpfw was removed from (with a state,
	// every one it listed, gone or not).
	Detached []string
	// Removed names the pins of a broken state removed.
	Removed []string
	// Left names what the pin directory holds that is not xdpfw's: left
	// in place, with the directory.
	Left []string
	// Unlisted is why the interfaces of a broken state could not be read:
	// xdpfw's programs may still run on some (DetachOrphans removes them).
	Unlisted string
	// DirRemoved reports that the pin directory is gone.
	DirRemoved bool
}

// RemoveState detaches xdpfw from every interface the state in dir lists
// and removes the state (State.DetachAll). When the state cannot be opened
// (a map missing, a stray pin, another build's maps, meta missing), it
// removes what is provably xdpfw's: it detaches programs named as xdpfw's
// from the interfaces the ifaces map lists, if that can be read, and
// removes the pins named as the object's maps and programs; anything else
// stays, named in Left.
func RemoveState(dir string) (Removal, error) {
	s, err := Open(dir)
	if err == nil && s.old != nil {
		// The previous layout is not changed, not even its records.
		err = &brokenState{s.old}
		s.Close()
	} else if err == nil {
		defer s.Close()
		atts, err := s.DetachAll()
		var left *strayPins
		if errors.As(err, &left) {
			return Removal{Detached: names(atts), Left: left.names}, nil
		}
		return Removal{Detached: names(atts), DirRemoved: err == nil}, err
	}
	var broken *brokenState
	switch {
	case errors.As(err, &broken):
	case errors.Is(err, ErrNotAttached):
		// No meta: a state cut short, or nothing. Only pins make it
		// worth a look.
		if entries, rerr := os.ReadDir(dir); rerr != nil || len(entries) == 0 {
			return Removal{}, err
		}
		err = fmt.Errorf("pinned state in %s has no %s", dir, xdpfwMapMeta)
	default:
		return Removal{}, err
	}
	return salvage(dir, err)
}

func salvage(dir string, why error) (Removal, error) {
	r := Removal{Broken: why.Error()}
	n := namesOf()
	lock, err := lockDir(context.Background(), dir, false)
	if err != nil {
		return r, err
	}
	defer lock.Close()
	idxs, err := listedIfindexes(dir)
	if err != nil {
		r.Unlisted = err.Error()
	}
	for _, idx := range idxs {
		link, err := netlink.LinkByIndex(idx)
		if err != nil {
			continue // gone: nothing runs there
		}
		// The egress learner's clsact filter (its tcx link goes with
		// the pins below).
		if err := removeEgressFilter(link, dir); err != nil {
			return r, fmt.Errorf("detach from %s: %w", link.Attrs().Name, err)
		}
		if _, ok := xdpfwProgOn(link, n); !ok {
			continue
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, -1, modeOf(link.Attrs().Xdp.AttachMode).flags()); err != nil {
			return r, fmt.Errorf("detach from %s: %w", link.Attrs().Name, err)
		}
		r.Detached = append(r.Detached, link.Attrs().Name)
	}
	ours, stray, err := classifyPins(dir, n)
	if err != nil {
		return r, err
	}
	for _, name := range ours {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return r, fmt.Errorf("remove pin: %w", err)
		}
		r.Removed = append(r.Removed, name)
	}
	r.Left = stray
	if len(stray) == 0 {
		if err := os.Remove(dir); err != nil {
			return r, fmt.Errorf("remove pin directory: %w", err)
		}
		r.DirRemoved = true
	}
	return r, nil
}

// listedIfindexes reads the keys of the pinned ifaces map, whatever build
// pinned it: they are ifindexes in every layout.
func listedIfindexes(dir string) ([]int, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, xdpfwMapIfaces), nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", xdpfwMapIfaces, err)
	}
	defer m.Close()
	if m.KeySize() != 4 {
		return nil, fmt.Errorf("map %s has %d-byte keys, not ifindexes", xdpfwMapIfaces, m.KeySize())
	}
	var (
		out  []int
		prev any // nil: the first key
	)
	for {
		var next uint32
		err := m.NextKey(prev, &next)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", xdpfwMapIfaces, err)
		}
		out = append(out, int(next))
		prev = next
	}
}

func names(atts []Attachment) []string {
	var out []string
	for _, a := range atts {
		out = append(out, a.Iface)
	}
	return out
}
