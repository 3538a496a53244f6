package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// GrowNotice, when set, is told that a change grew the vectors map of the
// state in dir to entries vectors of words words, and gave the program
// that reads it to every interface (its id changes), so the CLI can say
// so.
var GrowNotice func(dir string, entries, words uint32)

// metaGrowing, in meta.version beside the layout's number, marks a growth
// of the vectors map in progress (State.grow): the next change finishes
// it before anything else.
const metaGrowing = 1 << 31

// grow replaces the vectors map with one large enough for a generation
// of full's size beside the live one (nil: the size the live one needs),
// while the live generation keeps deciding every packet:
//
//  1. meta is marked (metaGrowing), through the write path;
//  2. a new map is made holding the live generation's vectors where they
//     were, so the live config indexes it as it did the old one;
//  3. to 5. as a migration's (replaceBuild): this build's programs loaded
//     on it and the other pinned maps, its pin over the old map's, then
//     the programs' pins over theirs, and every interface the state lists
//     that runs an xdpfw program given the new one, in the same mode, and
//     the egress learner with it;
//  6. the mark is cleared, with the egress hooks recorded.
//
// Until an interface is given the new program it runs the old one on the
// old map, which holds the same live generation; the change that asked
// for the growth commits only after step 6 (State.change). Cut short
// after step 1, the next change does it all again: the pinned map, old or
// new, holds the live generation.
func (s *State) grow(full *vectorsFull) error {
	if err := s.markReplacing(); err != nil {
		return err
	}
	s.reached("grow:marked")
	v, err := readView(&s.maps)
	if err != nil {
		return err
	}
	spec, err := loadXdpfw()
	if err != nil {
		return err
	}
	vec, err := grownVectors(spec, s.maps.Vectors, &v.conf[v.active], full)
	if err != nil {
		return err
	}
	defer vec.Close()
	hooks, err := s.replaceBuild(spec, map[string]*ebpf.Map{xdpfwMapVectors: vec}, "grow")
	if err != nil {
		return err
	}
	err = s.replaced(hooks)
	if err == nil && GrowNotice != nil {
		GrowNotice(s.dir, s.maps.Vectors.MaxEntries(), vecWords(s.maps.Vectors))
	}
	return err
}

// markReplacing marks meta (metaGrowing) before maps are replaced under
// the programs (grow, resizeCT), through the write path: the next change
// finishes a replacement cut short, by loading the programs again on
// whichever maps are pinned (changeGrowing).
func (s *State) markReplacing() error {
	return runChange(&s.maps, s.stopAt, func(t *tx) error {
		t.meta.Version = metaVersion | metaGrowing
		return nil
	})
}

// replaced clears the mark once every interface has the new programs,
// recording the egress hooks replaceBuild gave them.
func (s *State) replaced(hooks map[uint32]uint32) error {
	return runChange(&s.maps, s.stopAt, func(t *tx) error {
		t.meta.Version = metaVersion
		return recordEgress(t, hooks)
	})
}

// changeGrowing runs fn as a change (State.change holds the lock),
// finishing a growth cut short first. A commit refuses a ruleset that
// needs the vectors map grown or the conntrack table resized (the growth
// is found first, writing the new generation; the size just before the
// switch): each is done once, and fn runs again.
func (s *State) changeGrowing(fn func(t *tx) error) error {
	meta, err := readMeta(&s.maps)
	if err != nil {
		return err
	}
	if meta.Version&metaGrowing != 0 {
		if err := s.grow(nil); err != nil {
			return fmt.Errorf("finish growing the rule vectors: %w", err)
		}
	}
	grown, resized := false, false
	for {
		err := runChange(&s.maps, s.stopAt, fn)
		var full *vectorsFull
		var resize *ctResize
		switch {
		case !grown && errors.As(err, &full):
			grown = true
			if err := s.grow(full); err != nil {
				return fmt.Errorf("grow the rule vectors to %d entries of %d words: %w", full.need, full.words, err)
			}
		case !resized && errors.As(err, &resize):
			resized = true
			if err := s.resizeCT(resize.flows); err != nil {
				return fmt.Errorf("resize the conntrack table to %d flows: %w", resize.flows, err)
			}
		default:
			return err
		}
	}
}

// growInstance gives an instance a vectors map for a generation of
// full's size beside its live one, and its programs loaded again on it.
// Nothing runs an instance's programs while it loads a ruleset, so they
// are simply replaced.
func (t *Instance) growInstance(full *vectorsFull) error {
	var live xdpfwGenConf
	var word uint32
	m := &t.objs.xdpfwMaps
	if err := m.Active.Lookup(uint32(0), &word); err != nil {
		return err
	}
	if err := m.GenConf.Lookup(activeWord(word).rules(), &live); err != nil {
		return err
	}
	spec, err := loadXdpfw()
	if err != nil {
		return err
	}
	vec, err := grownVectors(spec, m.Vectors, &live, full)
	if err != nil {
		return err
	}
	err = t.replaceMaps(map[string]*ebpf.Map{xdpfwMapVectors: vec})
	vec.Close()
	return err
}

// replaceMaps loads the instance's programs again on its maps, those of
// with in place of the ones of their names; the caller still closes them.
func (t *Instance) replaceMaps(with map[string]*ebpf.Map) error {
	repl := map[string]*ebpf.Map{}
	for n, f := range mapFields(&t.objs.xdpfwMaps) {
		repl[n] = *f
	}
	for n, m := range with {
		repl[n] = m
	}
	fresh, err := newInstance(repl, t.trace)
	if err != nil {
		return err
	}
	t.objs.Close()
	t.objs = fresh.objs
	return nil
}

// grownVectors is a vectors map holding old's live generation (whose
// config is live) where it is, with room beside it for a generation of
// full's size (nil: of the live one's size), and never smaller than old.
func grownVectors(spec *ebpf.CollectionSpec, old *ebpf.Map, live *xdpfwGenConf, full *vectorsFull) (*ebpf.Map, error) {
	start, end := vecSpan(live)
	size := vectorsFull{need: end - start, words: vecWords(old)}
	if full != nil {
		size = *full
	}
	capacity := max(vecCapacity(end, size.need), old.MaxEntries())
	words := max(size.words, vecWords(old))
	return newVectors(spec.Maps[xdpfwMapVectors], old, start, end, capacity, words)
}
