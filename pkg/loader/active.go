package loader

import (
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The `active` word and `meta` are shared by the two crash-safety
// protocols, the rules' commit (commit.go) and the in-place set change
// (setchange.go); this file is their one owner: the bits of `active`,
// reading it, switching it, and reading and writing `meta`. Only the
// write path (change.go) calls the writers.

// The bits of `active`.
const (
	activeRules = layout.ActiveRules // the rules' generation
	activeSets  = layout.ActiveSets  // the sets' generation
	// a capture runs (capture.go); flipped alone, so a switch of it
	// changes one byte of the word, as the generations' do
	activeCapture = layout.ActiveCapture
)

// activeWord is a value of `active`.
type activeWord uint32

// rules is the live rules' generation.
func (w activeWord) rules() uint32 { return uint32(w) & activeRules }

// sets is the live set generation.
func (w activeWord) sets() uint32 { return uint32(w) & activeSets >> 1 }

// gens is the word's generation bits alone: what a set definition's
// marks record (setLive), which a capture starting or stopping must not
// change.
func (w activeWord) gens() activeWord { return w & (activeRules | activeSets) }

// capturing reports whether a capture runs.
func (w activeWord) capturing() bool { return w&activeCapture != 0 }

func readActive(m *xdpfwMaps) (activeWord, error) {
	var w uint32
	if err := m.Active.Lookup(uint32(0), &w); err != nil {
		return 0, fmt.Errorf("read active generation: %w", err)
	}
	return activeWord(w), nil
}

// switchActive flips the bits flip (activeRules, activeSets or both) of
// `active`, which holds from, in one write: the values differ in one
// byte, so even a byte-wise copy in the kernel switches atomically, and a
// packet reads the word once.
func switchActive(m *xdpfwMaps, from activeWord, flip uint32) error {
	if flip == 0 {
		return nil
	}
	if err := m.Active.Put(uint32(0), uint32(from)^flip); err != nil {
		return fmt.Errorf("switch generation: %w", err)
	}
	return nil
}

func readMeta(m *xdpfwMaps) (xdpfwMeta, error) {
	var meta xdpfwMeta
	if err := m.Meta.Lookup(uint32(0), &meta); err != nil {
		return meta, fmt.Errorf("read meta: %w", err)
	}
	return meta, nil
}

func writeMeta(m *xdpfwMaps, meta *xdpfwMeta) error {
	if err := m.Meta.Put(uint32(0), meta); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return nil
}

// initMeta is the meta of a new state: no rule id handed out yet.
func initMeta(m *xdpfwMaps) error {
	if err := m.Meta.Put(uint32(0), &xdpfwMeta{Magic: metaMagic, Version: metaVersion, NextId: 1}); err != nil {
		return fmt.Errorf("init meta: %w", err)
	}
	return nil
}

// oldMetaVersion is the previous layout: the same maps but those
// addedMaps names, which start empty. Its state is read (save, rule list,
// status) as it is; Provision (attach, apply, set create) moves it to
// this build (migrate.go). Until then it is not changed: its program is
// the older build's.
const oldMetaVersion = 18

// addedMaps are the maps this layout added to the previous one, which
// start empty; a state of the previous layout lacks them until migrate
// pins them. Layout 19 added none: it seeds the IPv6 set arrays it makes,
// and reads those of layout 18, which have none, by their unseeded fold.
var addedMaps = map[string]bool{}

// checkMeta refuses pinned state of another layout. State of the previous
// one is accepted, with or without addedMaps (a migration cut short may
// have pinned some): old is the error its changes get until it is
// migrated. missing: some of addedMaps are not pinned.
func checkMeta(m *xdpfwMaps, dir string, missing bool) (old error, err error) {
	meta, err := readMeta(m)
	if err != nil {
		return nil, err
	}
	// Marked growing too (that build's growth or resize cut short): the
	// pinned maps, old or new, hold its live generation, and the
	// migration loads this build's programs on them, as the growth's
	// recovery would.
	if meta.Magic == metaMagic && meta.Version&^metaGrowing == oldMetaVersion {
		return &previousLayoutError{fmt.Sprintf("pinned state in %s has layout version %d, from an older xdpfw: this build reads it but changes it only after moving it to this build, which xdpfw attach IFACE or xdpfw apply -f FILE do (ruleset, sets and counters kept)", dir, oldMetaVersion)}, nil
	}
	if meta.Magic != metaMagic || meta.Version&^metaGrowing != metaVersion || missing {
		return nil, fmt.Errorf("pinned state in %s has layout version %d, this build expects %d; detach it with that build, or run: xdpfw detach --all", dir, meta.Version, metaVersion)
	}
	return nil, nil
}

// setDirty marks (or clears the mark of) a set change in progress:
// meta.sets_dirty, which makes the next change repair the sets first.
func setDirty(m *xdpfwMaps, dirty bool) error {
	meta, err := readMeta(m)
	if err != nil {
		return err
	}
	meta.SetsDirty = 0
	if dirty {
		meta.SetsDirty = 1
	}
	return writeMeta(m, &meta)
}
