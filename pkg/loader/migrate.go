package loader

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// MigrateNotice, when set, is told that Provision moved the state in dir
// from the previous layout to this build's, so the CLI can say so.
var MigrateNotice func(dir string, from, to int)

// newPinSuffix names a program's pin while it waits to replace the old
// one (migrate): a crash leaves it next to the old pin, where it is
// recognised as xdpfw's (namesOf) and replaced by the next migration.
// bpffs refuses names with dots.
const newPinSuffix = "_next"

// migrate moves a state of the previous layout (oldMetaVersion) to this
// build in place, keeping its ruleset, sets, counters and attachments:
// the maps are the same but addedMaps, which start empty.
//
//  1. This build's programs are loaded on the pinned maps, with the
//     added maps pinned (the stand-ins loadPinned made).
//  2. Their pins replace the old ones (pinned beside, then renamed over).
//  3. Every interface the state lists that runs an xdpfw program gets the
//     new one, in the same mode: the kernel swaps programs atomically,
//     and both programs read the same maps, so no packet sees a gap.
//  4. meta's version is written last, as a change (change.go).
//
// Every step is safe to repeat, so a migration cut short (any of the
// above done, meta still old) is finished by the next one.
func (s *State) migrate() error {
	spec, err := loadXdpfw()
	if err != nil {
		return err
	}
	byName := s.mapsByName()
	for _, name := range s.missing {
		if err := byName[name].Pin(filepath.Join(s.dir, name)); err != nil {
			return fmt.Errorf("pin map %s: %w", name, err)
		}
	}
	s.missing = nil
	var progs xdpfwPrograms
	if err := load(spec, &progs, &ebpf.CollectionOptions{MapReplacements: byName}); err != nil {
		return err
	}
	err = replacePins(s.dir, &progs)
	progs.Close() // pinned now, or failed
	if err != nil {
		return err
	}
	if err := s.loadPinnedPrograms(); err != nil {
		return err
	}
	if err := s.reattach(); err != nil {
		return err
	}
	// The maps are this build's now; the version is their last write,
	// through the write path like any other.
	s.old = nil
	if err := s.change(func(t *tx) error {
		t.meta.Version = metaVersion
		return nil
	}); err != nil {
		return err
	}
	if MigrateNotice != nil {
		MigrateNotice(s.dir, oldMetaVersion, metaVersion)
	}
	return nil
}

// replacePins pins progs where the state's programs are pinned, replacing
// the old pins atomically (rename over them). progs' record of their pins
// is then the temporary name: the caller loads them again from the pins.
func replacePins(dir string, progs *xdpfwPrograms) error {
	for pin, p := range map[string]*ebpf.Program{progPin: progs.Xdpfw, progFragsPin: progs.XdpfwFrags} {
		path := filepath.Join(dir, pin)
		tmp := path + newPinSuffix
		// Looked up first: bpffs answers unlink of a missing name with
		// a dot in it with EPERM, not ENOENT.
		if _, err := os.Lstat(tmp); err == nil {
			if err := os.Remove(tmp); err != nil {
				return fmt.Errorf("remove %s: %w", tmp, err)
			}
		}
		if err := p.Pin(tmp); err != nil {
			return fmt.Errorf("pin program: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("replace pinned program %s: %w", pin, err)
		}
	}
	return nil
}

// reattach puts the state's programs on every interface it lists that
// runs an xdpfw program (the old build's, or, after a migration cut
// short, an earlier new one), keeping the mode.
func (s *State) reattach() error {
	n, err := namesOf()
	if err != nil {
		return err
	}
	atts, err := s.Attachments()
	if err != nil {
		return err
	}
	for _, a := range atts {
		link, err := netlink.LinkByIndex(a.Ifindex)
		if err != nil {
			continue // gone: status lists it, detach forgets it
		}
		if _, ok := xdpfwProgOn(link, n); !ok {
			continue // not xdpfw's now: not ours to replace
		}
		mode := modeOf(link.Attrs().Xdp.AttachMode)
		prog := programFor(&s.progs, link.Attrs().MTU)
		if err := netlink.LinkSetXdpFdWithFlags(link, prog.FD(), mode.flags()); err != nil {
			return fmt.Errorf("replace the program on %s: %w", link.Attrs().Name, explainAttach(err))
		}
	}
	return nil
}
