package loader

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
)

// A change to the contents of sets, made in place (docs/design.md,
// "Sets"):
//
//  1. mark the sets dirty in meta, so a crash is repaired by the next
//     change (repairSets);
//  2. write every added and deleted element's answer for the inactive set
//     generation n, keeping generation a's: the added ones first, then
//     the deleted ones shortest prefixes first;
//  3. flip bit ACTIVE_SETS of `active` (with the rules' bit, for apply);
//  4. wait for packets still classifying with generation a;
//  5. settle: added elements get the resting value, deleted ones go;
//  6. clear the dirty mark.
//
// A packet reads `active` once, so it sees every set before the change or
// after it.
//
// An empty set no live rule references skips the protocol, so a first
// load writes each entry once, not twice: its entries are written in
// their resting form directly, the set marked loading (setDefLoading)
// until its definition has the new counts. Readers take a set so marked
// for empty, and repairSets empties it again. Only an empty set: an entry
// in its resting form cannot be told from an old element, so a direct
// change to a set with elements, cut short (a SIGKILLed `set load`), left
// a mix of old and new elements, and the next load, which took the old
// elements from counts the cut-short change never wrote, kept the extra
// entries for good. Every other change, to a set rules use or not, goes
// through the protocol, whose switch makes it all or nothing. An apply
// changes the sets it keeps in place too, as its switch must make their
// new elements live with its rules; the sets it creates are written
// directly, pending until its switch (setLive).

// setDelta is the change to one set.
type setDelta struct {
	name     string
	def      xdpfwSetDef
	h        *setHandle
	add, del []netip.Prefix // not elements now; elements now
	direct   bool           // empty and unreferenced, or new: write resting values directly
	// Whether an element above each of add was one before the change,
	// and above each of del is one after it, by index (setDelta.diff),
	// or nil: read from the maps (covered).
	addCovered, delCovered []bool
}

// hostCount counts host prefixes per family (0 IPv4, 1 IPv6).
func hostCount(ps []netip.Prefix) (n [2]int) {
	for _, p := range ps {
		switch kindOf(p) {
		case kindHost4:
			n[0]++
		case kindHost6:
			n[1]++
		}
	}
	return n
}

// prepare is steps 2 (or the whole direct change): a is the live set
// generation. The set's definition is written with the new counts.
func (d *setDelta) prepare(m *xdpfwMaps, a uint32, progress func(done, total int)) error {
	n := a ^ 1
	adds := hostCount(d.add)
	for fam := range 2 {
		if err := d.h.grow(m, &d.def, fam, int(d.def.Hosts[fam])+adds[fam]); err != nil {
			return err
		}
	}
	count := int(d.def.Count[a]) + len(d.add) - len(d.del)
	if d.direct {
		// Marked until the definition has the new counts; a pending set
		// (an apply's new one) is removed if cut short.
		if d.def.Flags&setDefPending == 0 && len(d.add)+len(d.del) > 0 {
			d.def.Flags |= setDefLoading
			if err := putSetDef(m, d.name, &d.def); err != nil {
				return err
			}
		}
		if err := d.settle(a, progress); err != nil {
			return err
		}
		dels := hostCount(d.del)
		for fam := range 2 {
			d.def.Hosts[fam] = uint32(int(d.def.Hosts[fam]) + adds[fam] - dels[fam])
		}
		d.def.Count = [2]uint32{uint32(count), uint32(count)}
		d.def.Flags &^= setDefLoading
		return putSetDef(m, d.name, &d.def)
	}
	// The buckets take lengths by how many entries the whole change
	// brings, not by which level comes first.
	d.h.admit(slices.Values(d.add))
	total := len(d.add) + len(d.del)
	// Added entries first, all levels: an added entry's answer for
	// generation a is read from a only, which no write of the change
	// alters, so it needs no level written before it. Their keys go to
	// the buckets in one placement per family, as a load's do: written
	// level by level, each level's keys rebuilt an array as they filled
	// it, a reload of the whole set two or three times. A copy of the
	// changes sorted by length and a map of the added ones were 200 MB
	// and 1.3 s of a 1M-prefix reload.
	pending := func(i int) (setVal, error) { return d.pending(i, true, a, n) }
	err := d.h.placeEach(d.add, func(i int) (uint8, error) {
		v, err := pending(i)
		return v.Flags, err
	})
	if err != nil {
		return err
	}
	// The rest (the tries') a chunk at a time.
	order := byLengthOrder(d.add)
	rest := order[:0]
	for _, i := range order {
		if k := d.h.kindOf(d.add[i]); k != kindBkt4 && k != kindBkt6 {
			rest = append(rest, i)
		}
	}
	if err := writeChunks(d.h, d.add, rest, pending, nil); err != nil {
		return err
	}
	if progress != nil {
		progress(len(d.add), total)
	}
	// Deleted entries one level (prefix length) at a time: a deleted
	// entry's answer for generation n depends on the entries above it,
	// which must be written first (the added ones are).
	order = byLengthOrder(d.del)
	for start := 0; start < len(order); {
		end := start
		for end < len(order) && d.del[order[end]].Bits() == d.del[order[start]].Bits() {
			end++
		}
		err := writeChunks(d.h, d.del, order[start:end], func(i int) (setVal, error) {
			return d.pending(i, false, a, n)
		}, nil)
		if err != nil {
			return err
		}
		if progress != nil {
			progress(len(d.add)+end, total)
		}
		start = end
	}
	for fam := range 2 {
		d.def.Hosts[fam] += uint32(adds[fam]) // deleted hosts stay until settled
	}
	d.def.Count[n] = uint32(count)
	return putSetDef(m, d.name, &d.def)
}

// pending is the value of add[i] (add) or del[i] while the change is
// prepared: generation a keeps its answer, generation n gets the new
// one.
func (d *setDelta) pending(i int, add bool, a, n uint32) (setVal, error) {
	if add {
		p := d.add[i]
		v := setVal{Len: uint8(p.Bits())}
		// Before the change, addresses in p were in the set only through
		// a shorter element.
		was := false
		switch {
		case d.addCovered != nil:
			was = d.addCovered[i]
		case d.def.Count[a] > 0:
			var err error
			if was, err = d.h.covered(p, a); err != nil {
				return v, err
			}
		}
		v.Flags = setElem(n) | setMember(n)
		if was {
			v.Flags |= setMember(a)
		}
		return v, nil
	}
	p := d.del[i]
	v := setVal{Len: uint8(p.Bits())}
	// After the change, only through a shorter element.
	var still bool
	if d.delCovered != nil {
		still = d.delCovered[i]
	} else {
		var err error
		if still, err = d.h.covered(p, n); err != nil {
			return v, err
		}
	}
	v.Flags = setElem(a) | setMember(a)
	if still {
		v.Flags |= setMember(n)
	}
	return v, nil
}

// settle is step 5 (n the live set generation): added elements in their
// resting form, deleted ones removed. A direct change places its keys in
// the buckets first, resting, so a large load builds each array once; a
// prepared one sweeps the arrays where its keys are many. Only the
// entries neither did are written or removed key by key: the keys a load
// placed were each found and written again.
func (d *setDelta) settle(n uint32, progress func(done, total int)) error {
	var done [2]bool // the families whose buckets are settled
	if d.direct {
		if err := d.h.place(d.add, setClean); err != nil {
			return err
		}
		// A direct change is of an empty set, so it deletes nothing;
		// were it ever to, its deletions are removed key by key below.
		done = [2]bool{len(d.del) == 0, len(d.del) == 0}
	} else {
		var changed [2]int
		for _, ps := range [][]netip.Prefix{d.add, d.del} {
			for _, p := range ps {
				if fam, ok := d.inBuckets(p); ok {
					changed[fam]++
				}
			}
		}
		done = d.h.sweep(n, changed)
	}
	left := func(p netip.Prefix) bool {
		fam, ok := d.inBuckets(p)
		return !ok || !done[fam]
	}
	total := len(d.add) + len(d.del)
	order := byLengthOrder(d.add)
	order = slices.DeleteFunc(order, func(i int32) bool { return !left(d.add[i]) })
	// The entries placed or swept above count as done.
	settled := len(d.add) - len(order)
	if progress != nil && settled > 0 {
		progress(settled, total)
	}
	err := writeChunks(d.h, d.add, order, func(i int) (setVal, error) {
		return setVal{Flags: setClean, Len: uint8(d.add[i].Bits())}, nil
	}, func(done int) {
		if progress != nil {
			progress(settled+done, total)
		}
	})
	if err != nil {
		return err
	}
	var del []netip.Prefix
	for _, p := range d.del {
		if left(p) {
			del = append(del, p)
		}
	}
	if err := d.h.remove(del); err != nil {
		return err
	}
	if progress != nil {
		progress(total, total)
	}
	return nil
}

// inBuckets says whether p's entry is in its family's bucket array, and
// the family.
func (d *setDelta) inBuckets(p netip.Prefix) (int, bool) {
	k := d.h.kindOf(p)
	return k - kindBkt4, k == kindBkt4 || k == kindBkt6
}

// writeChunks writes the entries of ps in order (indices into ps), each
// valued by val of its index, a chunk (64Ki) at a time, telling done
// after each: all of a 10M-prefix load's entries at once were 400 MB.
func writeChunks(h *setHandle, ps []netip.Prefix, order []int32, val func(int) (setVal, error), done func(int)) error {
	const chunk = 1 << 16
	es := make([]entry, 0, min(chunk, len(order)))
	for off := 0; off < len(order); off += chunk {
		es = es[:0]
		for _, i := range order[off:min(off+chunk, len(order))] {
			v, err := val(int(i))
			if err != nil {
				return err
			}
			es = append(es, entry{p: ps[i], val: v})
		}
		if err := h.write(es); err != nil {
			return err
		}
		if done != nil {
			done(off + len(es))
		}
	}
	return nil
}

// byLengthOrder is the order of ps's indices shortest prefix first (tries
// fill fastest in order), each index put in its place by a count of the
// lengths: sorting a copy of ps took a million prefixes' 32 MB more, and
// a comparison sort. ps is in address order (rules.SortPrefixes), so each
// length's prefixes stay in it, as byLength leaves them.
func byLengthOrder(ps []netip.Prefix) []int32 {
	var at [130]int // where each length's indices begin: lengths 0-128
	for _, p := range ps {
		at[p.Bits()+1]++
	}
	for l := 1; l < len(at); l++ {
		at[l] += at[l-1]
	}
	order := make([]int32, len(ps))
	for i, p := range ps {
		order[at[p.Bits()]] = int32(i)
		at[p.Bits()]++
	}
	return order
}

// finish is step 5 for a prepared change; n is now the live generation.
func (d *setDelta) finish(m *xdpfwMaps, n uint32) error {
	if d.direct {
		return nil
	}
	if err := d.settle(n, nil); err != nil {
		return err
	}
	dels := hostCount(d.del)
	for fam := range 2 {
		d.def.Hosts[fam] -= uint32(dels[fam])
	}
	d.def.Count[n^1] = d.def.Count[n]
	return putSetDef(m, d.name, &d.def)
}

// changeSets runs the whole protocol for deltas; flip is activeRules
// when the rules' generation switches in the same write (the commit
// prepared it).
func (t *tx) changeSets(deltas []*setDelta, flip uint32) error {
	m, act := t.m, t.word
	a := act.sets()
	inPlace := false
	for _, d := range deltas {
		if len(d.add)+len(d.del) == 0 {
			d.direct = true // nothing to switch
		}
		inPlace = inPlace || !d.direct
	}
	if inPlace {
		if err := setDirty(m, true); err != nil {
			return err
		}
	}
	for _, d := range deltas {
		if err := d.prepare(m, a, t.progress); err != nil {
			return fmt.Errorf("set %s: %w", d.name, err)
		}
	}
	if inPlace {
		flip |= activeSets
	}
	t.reached("switch")
	if err := switchActive(m, act, flip); err != nil {
		return err
	}
	t.reached("switched")
	if err := t.switched(flip); err != nil {
		return err
	}
	if !inPlace {
		return nil
	}
	if err := waitForPackets(m, deltas[0].h.slot); err != nil {
		return err
	}
	for _, d := range deltas {
		if err := d.finish(m, a^1); err != nil {
			return fmt.Errorf("set %s: %w", d.name, err)
		}
	}
	return setDirty(m, false)
}

// repairSets finishes or undoes a set change that was cut short, and
// settles the sets of an apply that was: kept if its switch happened,
// removed if not. Every entry takes the live set generation's answer,
// which the live generation's packets already see, so repairing changes
// nothing they can observe. A set still marked loading (a direct write
// into it was cut short) is emptied: it was empty before, and no rule
// uses it. Every change runs it first (runChange, its only caller), when
// its view shows a change cut short.
//
// An apply's marks are settled as setLive reads them: kept or removed.
func repairSets(v *view) error {
	m, meta, act := v.m, v.meta, v.word
	defs := maps.Clone(v.all)
	waited := false
	var err error
	for name, def := range defs {
		if def.Flags&setDefLoading != 0 {
			def.Flags &^= setDefLoading
			if err := rebuildSet(m, name, &def, func(setVal) bool { return false }); err != nil {
				return fmt.Errorf("repair set %s: %w", name, err)
			}
			defs[name] = def
			continue
		}
		if def.Flags&(setDefPending|setDefDropped) == 0 {
			continue
		}
		if setLive(def, act) {
			def.Flags = 0
			defs[name] = def
			err = putSetDef(m, name, &def)
		} else {
			// A dropped set may still be looked up by packets that
			// started before the switch, as in tx.runSets.
			if !waited && def.Flags&setDefDropped != 0 {
				if err := waitForPackets(m, def.Slot); err != nil {
					return err
				}
				waited = true
			}
			err = removeSet(m, name, def)
			delete(defs, name)
		}
		if err != nil {
			return err
		}
	}
	if meta.SetsDirty == 0 {
		return nil
	}
	a := act.sets()
	for name, def := range defs {
		inA := func(v setVal) bool { return v.Flags&setElem(a) != 0 }
		if err := rebuildSet(m, name, &def, inA); err != nil {
			return fmt.Errorf("repair set %s: %w", name, err)
		}
	}
	return setDirty(m, false)
}

// rebuildSet keeps the set's entries whose value keep accepts, in their
// resting form, and removes the others; def gets the counts.
func rebuildSet(m *xdpfwMaps, name string, def *xdpfwSetDef, keep func(setVal) bool) error {
	h, err := openSetMaps(m, def.Slot)
	if err != nil {
		return err
	}
	defer h.Close()
	es, err := h.entries()
	if err != nil {
		return err
	}
	var (
		resting    []entry
		kept, gone []netip.Prefix
	)
	for _, e := range es {
		if keep(e.val) {
			resting = append(resting, entry{e.p, setVal{Flags: setClean, Len: e.val.Len}})
			kept = append(kept, e.p)
		} else {
			gone = append(gone, e.p)
		}
	}
	if err := h.write(resting); err != nil {
		return err
	}
	if err := h.remove(gone); err != nil {
		return err
	}
	hosts := hostCount(kept)
	def.Hosts = [2]uint32{uint32(hosts[0]), uint32(hosts[1])}
	def.Count = [2]uint32{uint32(len(kept)), uint32(len(kept))}
	return putSetDef(m, name, def)
}
