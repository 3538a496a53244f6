package loader

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
)

// GrowNotice, when set, is told that a change grew maps sized to the
// ruleset of the state in dir, and gave the program that reads them to
// the interfaces that ran the state's (its id changes; Growth.Interfaces
// counts them), so the CLI can say so.
var GrowNotice func(dir string, g Growth)

// Growth is what a growth made: the vectors map's entries and words, and
// value_atoms' entries a generation (0: that map was not replaced).
type Growth struct {
	VecEntries, VecWords, AtomChunks uint32
	Buckets4, Buckets6               uint32 // address buckets a generation
	Bytes                            uint64 // the new maps' values together
	// Interfaces given the program on the new maps, of those the state
	// lists: none of none when it is attached to none (a first apply),
	// where a notice must not say the program was replaced on every
	// interface, nor when some were left (LeftNotice).
	Interfaces Reach
	// Finished: this growth finished one a change cut short had begun
	// (a growth or a conntrack resize, killed part-way), at the live
	// ruleset's size: the change running now did not outgrow the maps.
	Finished bool
}

// metaGrowing, in meta.version beside the layout's number, marks a growth
// of the vectors map in progress (State.grow): the next change finishes
// it before anything else.
const metaGrowing = 1 << 31

// String says what grew: "the rule vectors now room for E of W words",
// "the value atoms now N entries a generation", or both.
func (g Growth) String() string {
	var parts []string
	if g.VecEntries > 0 {
		parts = append(parts, fmt.Sprintf("the rule vectors now room for %d of %d words", g.VecEntries, g.VecWords))
	}
	if g.AtomChunks > 0 {
		parts = append(parts, fmt.Sprintf("the value atoms now %d entries a generation", g.AtomChunks))
	}
	if g.Buckets4 > 0 {
		parts = append(parts, fmt.Sprintf("the IPv4 address buckets now %d a generation", g.Buckets4))
	}
	if g.Buckets6 > 0 {
		parts = append(parts, fmt.Sprintf("the IPv6 address buckets now %d a generation", g.Buckets6))
	}
	return strings.Join(parts, ", ")
}

// grow replaces the vectors map with one large enough for a generation
// of full's size beside the live one, value_atoms with one whose
// generations have room for full's chunks, and each family's address
// buckets with as many as full's bits, where full says they do not fit
// (nil: all, at the size the live generation needs), while the live
// generation keeps deciding every packet:
//
//  1. meta is marked (metaGrowing), through the write path;
//  2. new maps are made holding the live generation's vectors and value
//     atoms where they were (within its part of value_atoms), so the live
//     config indexes them as it did the old ones, and its address keys
//     placed anew in its part of the new buckets;
//  3. to 5. as a migration's (replaceBuild): this build's programs loaded
//     on them and the other pinned maps, their pins over the old maps',
//     then the programs' pins over theirs, and every interface the state
//     lists that runs an xdpfw program given the new one, in the same
//     mode, and the egress learner with it;
//  6. the mark is cleared, with the egress hooks recorded.
//
// Until an interface is given the new program it runs the old one on the
// old maps, which hold the same live generation; the change that asked
// for the growth commits only after step 6 (State.change). Cut short
// after step 1, the next change does it all again: the pinned maps, old
// or new, hold the live generation.
func (s *State) grow(full *mapsFull) error {
	if err := s.markReplacing(); err != nil {
		return err
	}
	s.reached("grow:marked")
	v, err := readView(&s.maps)
	if err != nil {
		return err
	}
	spec, err := objectSpec()
	if err != nil {
		return err
	}
	fresh, err := grownMaps(spec, &s.maps, v, full)
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range fresh {
			m.Close()
		}
	}()
	// Finishing a change cut short (full nil), an interface may run the
	// program it began with, which no pin holds now.
	hooks, reach, err := s.replaceBuild(spec, fresh, "grow", full == nil)
	if err != nil {
		return err
	}
	err = s.replaced(hooks)
	if err == nil && GrowNotice != nil {
		g := growth(fresh)
		g.Finished = full == nil
		g.Interfaces = reach
		GrowNotice(s.dir, g)
	}
	return err
}

// grownMaps are the maps grow replaces, made (grownVectors,
// newValueAtoms) from m's, whose live generation v reads.
func grownMaps(spec *ebpf.CollectionSpec, m *xdpfwMaps, v *view, full *mapsFull) (map[string]*ebpf.Map, error) {
	fresh := map[string]*ebpf.Map{}
	if full == nil || full.need > 0 {
		vec, err := grownVectors(spec, m.Vectors, &v.conf[v.active], full)
		if err != nil {
			return nil, err
		}
		fresh[xdpfwMapVectors] = vec
	}
	if full == nil || full.chunks > 0 {
		perGen := chunksPerGen(m.ValueAtoms)
		if full != nil {
			perGen = max(perGen, full.chunks)
		}
		atoms, err := newValueAtoms(spec.Maps[xdpfwMapValueAtoms], m.ValueAtoms, v.active, perGen)
		if err != nil {
			for _, m := range fresh {
				m.Close()
			}
			return nil, err
		}
		fresh[xdpfwMapValueAtoms] = atoms
	}
	for _, f := range []struct {
		name string
		old  *ebpf.Map
		want uint32 // 0: fits
		v6   bool
	}{{xdpfwMapAddr4Host, m.Addr4Host, fullBits(full, false), false}, {xdpfwMapAddr6Host, m.Addr6Host, fullBits(full, true), true}} {
		if full != nil && f.want == 0 {
			continue
		}
		b, err := newAddrBuckets(spec.Maps[f.name], f.old, v.active, max(f.want, bucketBits(f.old)), f.v6, v.conf[v.active].AddrSeed)
		if err != nil {
			for _, m := range fresh {
				m.Close()
			}
			return nil, err
		}
		fresh[f.name] = b
	}
	return fresh, nil
}

// fullBits is the bits full asks of a family's address buckets (0: they
// fit, or full is nil).
func fullBits(full *mapsFull, v6 bool) uint32 {
	switch {
	case full == nil:
		return 0
	case v6:
		return full.bits6
	}
	return full.bits4
}

// growth tells what grownMaps made.
func growth(fresh map[string]*ebpf.Map) Growth {
	var g Growth
	if vec := fresh[xdpfwMapVectors]; vec != nil {
		g.VecEntries, g.VecWords = vec.MaxEntries(), vecWords(vec)
		g.Bytes += uint64(vec.MaxEntries()) * uint64(vec.ValueSize())
	}
	if atoms := fresh[xdpfwMapValueAtoms]; atoms != nil {
		g.AtomChunks = chunksPerGen(atoms)
		g.Bytes += uint64(atoms.MaxEntries()) * uint64(atoms.ValueSize())
	}
	for name, n := range map[string]*uint32{xdpfwMapAddr4Host: &g.Buckets4, xdpfwMapAddr6Host: &g.Buckets6} {
		if b := fresh[name]; b != nil {
			*n = 1 << bucketBits(b)
			g.Bytes += uint64(b.MaxEntries()) * uint64(b.ValueSize())
		}
	}
	return g
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
		var full *mapsFull
		var resize *ctResize
		switch {
		case !grown && errors.As(err, &full):
			grown = true
			if err := s.grow(full); err != nil {
				return fmt.Errorf("grow the maps sized to the ruleset (%v): %w", full, err)
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

// growInstance gives an instance the maps grow would (grownMaps), and
// its programs loaded again on them. Nothing runs an instance's programs
// while it loads a ruleset, so they are simply replaced.
func (t *Instance) growInstance(full *mapsFull) error {
	v, err := readView(&t.objs.xdpfwMaps)
	if err != nil {
		return err
	}
	spec, err := objectSpec()
	if err != nil {
		return err
	}
	fresh, err := grownMaps(spec, &t.objs.xdpfwMaps, v, full)
	if err != nil {
		return err
	}
	err = t.replaceMaps(fresh)
	for _, m := range fresh {
		m.Close()
	}
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
	fresh, err := newInstance(repl, t.trace, repl[xdpfwMapCt].MaxEntries())
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
func grownVectors(spec *ebpf.CollectionSpec, old *ebpf.Map, live *xdpfwGenConfig, full *mapsFull) (*ebpf.Map, error) {
	start, end := vecSpan(live)
	size := mapsFull{need: end - start, words: vecWords(old)}
	if full != nil {
		size.need, size.words = full.need, full.words
	}
	capacity := max(vecCapacity(end, size.need), old.MaxEntries())
	words := max(size.words, vecWords(old))
	return newVectors(spec.Maps[xdpfwMapVectors], old, start, end, capacity, words)
}
