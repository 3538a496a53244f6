package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// MigrateNotice, when set, is told that Provision moved the state in dir
// from the previous layout to this build's, its program replaced on the
// interfaces reach counts, so the CLI can say so.
var MigrateNotice func(dir string, from, to int, reach Reach)

// newPinSuffix names a program's pin while it waits to replace the old
// one (migrate): a crash leaves it next to the old pin, where it is
// recognised as xdpfw's (namesOf) and replaced by the next migration.
// bpffs refuses names with dots.
const newPinSuffix = "_next"

// rebuiltMaps are the maps migrate builds anew: the generation word and
// the classifier's tables, which are derived from the maps that hold the
// truth (rule definitions, set definitions and elements, meta) and are
// what a layout change reshapes. Those it keeps, with the counters and
// the attachments' records.
var rebuiltMaps = map[string]bool{
	xdpfwMapActive: true, xdpfwMapGenConf: true, xdpfwMapRanks: true,
	xdpfwMapAddr4Host: true, xdpfwMapAddr6Host: true, xdpfwMapAddr4Lpm: true, xdpfwMapAddr6Lpm: true,
	xdpfwMapValueAtoms: true, xdpfwMapIfaceAtoms: true, xdpfwMapVectors: true,
	xdpfwMapAtomScratch: true, xdpfwMapScratch: true, xdpfwMapTrace: true, xdpfwMapCtQuote: true,
	// The rule definitions, though they hold the truth: the commit into
	// the new maps writes the inactive generation's, which must not touch
	// the old state's before its pins are replaced. rebuild copies the
	// live generation's and commits the other's, as it does the config.
	xdpfwMapRuleDefs: true, xdpfwMapRuleDefsLong: true,
	// The slot for the ring a capture makes. A capture running across a
	// migration copies no more: the new generation word has no capture
	// bit, and its ring was in the old map.
	xdpfwMapCaptureRing: true,
}

// migrate moves a state of the previous layout (oldMetaVersion) to this
// build in place, keeping its ruleset, sets, counters and attachments.
// The old program keeps enforcing on its maps until each interface is
// given the new one:
//
//  1. The added maps are pinned (the stand-ins loadPinned made).
//  2. The live ruleset is read, and the rebuilt maps are made anew: the
//     generation word copied, the live generation's config and rule
//     definitions copied (so the state reads the same whichever pins a
//     crash leaves), and the ruleset committed into them as any change does (the other
//     generation written, then the word switched: the new word only).
//  3. This build's programs are loaded on the kept maps and the new ones.
//  4. The new maps' pins replace the old ones, `active` last, then the
//     programs' (each pinned beside, then renamed over).
//  5. Every interface the state lists that runs the state's program
//     (pinned, or on its maps: one a migration cut short left) gets
//     the new one, in the same mode (one atomic replacement each), and
//     the egress learner (replaced in place, or added).
//  6. meta's version is written last, as a change (change.go), with the
//     egress hooks in the interfaces' records.
//
// A migration cut short (any of the above done, meta still old) leaves a
// state that reads as the same ruleset and is finished by the next one,
// which builds the new maps again.
func (s *State) migrate() error {
	spec, err := objectSpec()
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
	fresh, err := s.rebuild(spec)
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range fresh {
			m.Close()
		}
	}()
	// A migration cut short may have left interfaces running the
	// previous build's program, which no pin holds now.
	hooks, reach, err := s.replaceBuild(spec, fresh, "migrate", true)
	if err != nil {
		return err
	}
	// The maps are this build's now; the version is their last write,
	// through the write path like any other, with the egress hooks.
	s.old = nil
	if err := s.change(func(t *tx) error {
		t.meta.Version = metaVersion
		return recordEgress(t, hooks)
	}); err != nil {
		return err
	}
	if MigrateNotice != nil {
		MigrateNotice(s.dir, oldMetaVersion, metaVersion, reach)
	}
	return nil
}

// replaceBuild loads spec's programs on the state's maps, fresh in place
// of theirs, and puts them in place of the state's (steps 3 to 5 of
// migrate): fresh's pins replace the old maps' (`active` last), the
// programs' theirs, the state is opened again from the pins, and every
// interface it lists that ran the state's program when it began gets the
// new ones (programsOn, reattach), whose egress hooks it returns, and
// how many it gave them of those still here (reach);
// unpinned, whether an xdpfw program no pin holds, on the state's maps,
// counts as the state's (programsOn). It passes the points kind+":maps", ":programs" and
// ":attached".
func (s *State) replaceBuild(spec *ebpf.CollectionSpec, fresh map[string]*ebpf.Map, kind string, unpinned bool) (hooks map[uint32]uint32, reach Reach, err error) {
	olds, err := s.programsOn(unpinned)
	if err != nil {
		return nil, reach, err
	}
	defer olds.Close()
	byName := s.mapsByName()
	for name, m := range fresh {
		byName[name] = m
	}
	var progs xdpfwPrograms
	if err := load(spec, &progs, &ebpf.CollectionOptions{MapReplacements: byName}); err != nil {
		return nil, reach, err
	}
	err = replaceMapPins(s.dir, fresh)
	if err == nil {
		s.reached(kind + ":maps")
		err = replacePins(s.dir, &progs)
	}
	progs.Close() // pinned now, or failed
	if err != nil {
		return nil, reach, err
	}
	// The state as pinned now, the kept maps and the new ones, opened
	// again from the pins: the new maps' own handles know only the
	// temporary names they were pinned under. A migration's meta still
	// says the old layout, so the state reads as old again until the
	// version is written.
	s.maps.Close()
	s.maps = xdpfwMaps{}
	if err := s.loadPinned(); err != nil {
		return nil, reach, err
	}
	s.reached(kind + ":programs")
	if hooks, reach, err = s.reattach(olds); err != nil {
		return nil, reach, err
	}
	s.reached(kind + ":attached")
	return hooks, reach, nil
}

// rebuild makes the rebuiltMaps anew from spec and commits the live
// ruleset into them (step 2 of migrate); the caller owns the maps.
func (s *State) rebuild(spec *ebpf.CollectionSpec) (fresh map[string]*ebpf.Map, err error) {
	var (
		rs    *rules.Ruleset
		slots map[uint32]uint32
		word  activeWord
		conf  xdpfwGenConfig
		defs  map[uint32][]byte
	)
	err = s.read(func(v *view) error {
		rs, slots, err = v.ruleset()
		word, conf, defs = v.word, v.conf[v.active], v.defs.def[v.active]
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the live ruleset: %w", err)
	}
	fresh = map[string]*ebpf.Map{}
	defer func() {
		if err != nil {
			for _, m := range fresh {
				m.Close()
			}
		}
	}()
	byName := s.mapsByName()
	for name := range rebuiltMaps {
		if fresh[name], err = ebpf.NewMap(spec.Maps[name]); err != nil {
			return nil, fmt.Errorf("create map %s: %w", name, err)
		}
		byName[name] = fresh[name]
	}
	var m xdpfwMaps
	if err := assignMaps(&m, byName); err != nil {
		return nil, err
	}
	if err := m.Active.Put(uint32(0), uint32(word.gens())); err != nil {
		return nil, fmt.Errorf("copy the generation word: %w", err)
	}
	// The new vectors map holds none of the live generation's vectors:
	// with its span cleared the commit places the new generation from
	// entry 0 and sizes the map for it alone, rather than after where
	// the live one ended in the old map.
	conf.VecEnd = 0
	// A config of layout 18 records no conntrack section (ct_max_flows
	// 0): the copy records it as the live ruleset was read, from ct_conf
	// and the table's size, as the commit below records it in the other
	// generation's.
	conf.CtMaxFlows, conf.CtTimeout = rs.MaxFlowsFor(rs.CTFlows())+1, rs.Conntrack.Timeouts
	if err := writeGenConf(m.GenConf, word.rules(), &conf); err != nil {
		return nil, fmt.Errorf("copy the live generation's config: %w", err)
	}
	if err := writeDefs(&m, word.rules(), &storedDefs{}, defs); err != nil {
		return nil, fmt.Errorf("copy the live generation's rule definitions: %w", err)
	}
	// And its rank entries: what this build's program counted by rank
	// in the live generation (a migration cut short after it was
	// attached) belongs to the rules they name, as the readers and the
	// next commit's fold find them.
	if err := copyRanks(s.maps.Ranks, m.Ranks, word.rules(), uint32(conf.Nrules)); err != nil {
		return nil, fmt.Errorf("copy the live generation's ranks: %w", err)
	}
	commit := func(t *tx) error {
		t.setRules(rs, slots)
		return nil
	}
	err = runChange(&m, nil, commit)
	var full *mapsFull
	if errors.As(err, &full) {
		// The new maps sized to the ruleset are a new state's size:
		// sized now to the live ruleset, which nothing reads from them
		// yet.
		sized := func(name string, size func(*ebpf.MapSpec)) (*ebpf.Map, error) {
			fresh[name].Close()
			ms := spec.Maps[name].Copy()
			size(ms)
			if fresh[name], err = ebpf.NewMap(ms); err != nil {
				delete(fresh, name)
				return nil, fmt.Errorf("create map %s: %w", name, err)
			}
			return fresh[name], nil
		}
		if full.need > 0 {
			if m.Vectors, err = sized(xdpfwMapVectors, func(ms *ebpf.MapSpec) {
				ms.MaxEntries, ms.ValueSize = vecCapacity(0, full.need), vecValueSize(full.words)
			}); err != nil {
				return nil, err
			}
		}
		if full.chunks > 0 {
			if m.ValueAtoms, err = sized(xdpfwMapValueAtoms, func(ms *ebpf.MapSpec) { ms.MaxEntries = numGens * full.chunks }); err != nil {
				return nil, err
			}
		}
		if full.bits4 > 0 {
			if m.Addr4Host, err = sized(xdpfwMapAddr4Host, func(ms *ebpf.MapSpec) { ms.MaxEntries = numGens << full.bits4 }); err != nil {
				return nil, err
			}
		}
		if full.bits6 > 0 {
			if m.Addr6Host, err = sized(xdpfwMapAddr6Host, func(ms *ebpf.MapSpec) { ms.MaxEntries = numGens << full.bits6 }); err != nil {
				return nil, err
			}
		}
		err = runChange(&m, nil, commit)
	}
	if err != nil {
		return nil, fmt.Errorf("commit the live ruleset to the new maps: %w", err)
	}
	return fresh, nil
}

// copyRanks copies the first n rank entries of generation gen from one
// ranks map to another.
func copyRanks(from, to *ebpf.Map, gen, n uint32) error {
	n = min(n, layout.MaxRules)
	if n == 0 {
		return nil
	}
	keys := make([]uint32, n)
	vals := make([]xdpfwRankEntry, n)
	for r := range n {
		keys[r] = gen*layout.MaxRules + r
		if err := from.Lookup(keys[r], &vals[r]); err != nil {
			return err
		}
	}
	_, err := to.BatchUpdate(keys, vals, nil)
	return err
}

// replaceMapPins pins maps in dir under their names, replacing the old
// pins atomically, in pinOrder: until `active` is replaced the pins read
// as the old generation, whose config and rule definitions the new maps
// copied.
func replaceMapPins(dir string, maps map[string]*ebpf.Map) error {
	for _, name := range pinOrder(maps) {
		if err := pinOver(dir, name, maps[name]); err != nil {
			return err
		}
	}
	return nil
}

// pinOrder is the order replaceMapPins pins maps in: by name, pinsLast
// last.
func pinOrder(maps map[string]*ebpf.Map) []string {
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range maps {
			if !slices.Contains(pinsLast, name) && !yield(name) {
				return
			}
		}
	})
	for _, name := range pinsLast {
		if maps[name] != nil {
			names = append(names, name)
		}
	}
	return names
}

// pinsLast are the maps replaceMapPins replaces after all others, in
// this order: the generation word, last of all. Until then a reader of
// a cut state reads the old word's generation, which every new map
// holds as the old ones do.
var pinsLast = []string{xdpfwMapActive}

// pinOver pins obj at dir/name, replacing what is pinned there: pinned
// beside, then renamed over. A crash leaves the temporary pin, which
// namesOf knows and the next migration replaces.
func pinOver(dir, name string, obj interface{ Pin(string) error }) error {
	path := filepath.Join(dir, name)
	tmp := path + newPinSuffix
	// Looked up first: bpffs answers unlink of a missing name with
	// EPERM, not ENOENT.
	if _, err := os.Lstat(tmp); err == nil {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("remove %s: %w", tmp, err)
		}
	}
	if err := obj.Pin(tmp); err != nil {
		return fmt.Errorf("pin %s: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace pinned %s: %w", name, err)
	}
	return nil
}

// replacePins pins progs where the state's programs are pinned, replacing
// the old pins atomically. progs' record of their pins is then the
// temporary name: the caller loads them again from the pins.
func replacePins(dir string, progs *xdpfwPrograms) error {
	for pin, p := range map[string]*ebpf.Program{progPin: progs.Xdpfw, progFragsPin: progs.XdpfwFrags, progEgressPin: progs.XdpfwEgress} {
		if err := pinOver(dir, pin, p); err != nil {
			return err
		}
	}
	return nil
}

// recordEgress writes the egress hooks reattach used into the
// interfaces' records.
func recordEgress(t *tx, hooks map[uint32]uint32) error {
	for ifindex, hook := range hooks {
		var ifc xdpfwIface
		if err := t.m.Ifaces.Lookup(ifindex, &ifc); err != nil {
			return fmt.Errorf("read attachment %d: %w", ifindex, err)
		}
		ifc.Egress = hook
		if err := t.m.Ifaces.Put(ifindex, &ifc); err != nil {
			return fmt.Errorf("record the egress hook of %d: %w", ifindex, err)
		}
	}
	return nil
}

// reached is a named point of a migration; tests end it there (stopAt).
func (s *State) reached(point string) {
	if s.stopAt != nil {
		s.stopAt(point)
	}
}
