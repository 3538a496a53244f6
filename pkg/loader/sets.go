package loader

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// SetInfo describes a live set.
type SetInfo struct {
	Name         string   `json:"name"`
	Family       string   `json:"family"`
	Elements     int      `json:"elements"`
	ReferencedBy []uint32 `json:"referenced_by"` // ids of live rules naming it
}

func setKey(name string) xdpfwSetName {
	var k xdpfwSetName
	for i := range min(len(name), len(k.Name)) {
		k.Name[i] = int8(name[i])
	}
	return k
}

func setKeyName(k xdpfwSetName) string {
	var b strings.Builder
	for _, c := range k.Name {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// readSetDefs returns every set definition by name, live or not
// (setLive).
func readSetDefs(m *xdpfwMaps) (map[string]xdpfwSetDef, error) {
	keys, defs, err := readAll[xdpfwSetName, xdpfwSetDef](m.SetDefs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]xdpfwSetDef, len(keys))
	for i, k := range keys {
		out[setKeyName(k)] = defs[i]
	}
	return out, nil
}

// setLive reports whether a set exists now, `active` being act. A set an
// apply creates exists once the apply's switch has happened (`active`
// holds the value in bits 8-15 of its flags), one it drops until then: so
// an apply cut short after its switch, before it cleared those marks,
// shows its new ruleset whole (save, set list, replay), not the new rules
// without their new sets or beside the dropped ones; the next change's
// repairSets settles the marks the same way.
func setLive(def xdpfwSetDef, act activeWord) bool {
	switched := activeWord(def.Flags>>8) == act.gens()
	switch {
	case def.Flags&setDefPending != 0:
		return switched
	case def.Flags&setDefDropped != 0:
		return !switched
	}
	return true
}

func putSetDef(m *xdpfwMaps, name string, def *xdpfwSetDef) error {
	if err := m.SetDefs.Put(setKey(name), def); err != nil {
		return fmt.Errorf("write set definition: %w", err)
	}
	return nil
}

func familyCode(f rules.Family) uint32 { return uint32(f) } // 0, 4 or 6

// liveSets are the sets as rules.Sets without their elements: what a
// commit needs to compile and validate the rules.
func liveSets(defs map[string]xdpfwSetDef) rules.Sets {
	out := make(rules.Sets, len(defs))
	for name, def := range defs {
		out[name] = &rules.Set{Name: name, Family: rules.Family(def.Family)}
	}
	return out
}

// createSet makes an empty set in a free slot; flags are its definition's
// (setDefPending for an apply's new sets).
func createSet(m *xdpfwMaps, name string, fam rules.Family, flags uint32) (*setHandle, xdpfwSetDef, error) {
	var def xdpfwSetDef
	if err := rules.ValidSetName(name); err != nil {
		return nil, def, err
	}
	defs, err := readSetDefs(m)
	if err != nil {
		return nil, def, err
	}
	if _, ok := defs[name]; ok {
		return nil, def, fmt.Errorf("set %s already exists", name)
	}
	used := map[uint32]bool{}
	for _, d := range defs {
		used[d.Slot] = true
	}
	slot := uint32(0)
	for used[slot] {
		slot++
	}
	if slot >= maxSets {
		return nil, def, fmt.Errorf("there are already %d sets, the most xdpfw supports", maxSets)
	}
	h, err := newSetMaps(m, slot, [2]uint32{minHostCap, minHostCap})
	if err != nil {
		return nil, def, err
	}
	if err := h.install(m); err != nil {
		h.Close()
		return nil, def, err
	}
	def = xdpfwSetDef{Slot: slot, Family: familyCode(fam), Flags: flags, HostCap: [2]uint32{minHostCap, minHostCap}}
	if err := putSetDef(m, name, &def); err != nil {
		h.Close()
		return nil, def, err
	}
	return h, def, nil
}

// removeSet deletes a set's definition and empties its slot.
func removeSet(m *xdpfwMaps, name string, def xdpfwSetDef) error {
	if err := m.SetDefs.Delete(setKey(name)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete set %s: %w", name, err)
	}
	for _, outer := range []*ebpf.Map{m.Set4Host, m.Set4Lpm, m.Set6Host, m.Set6Lpm, m.Set4Bkt, m.Set6Bkt} {
		if err := outer.Delete(def.Slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete set %s: %w", name, err)
		}
	}
	return nil
}

// referencedSlots are the set slots the live rules' generation uses.
func (v *view) referencedSlots() map[uint32]bool {
	conf := &v.conf[v.active]
	out := map[uint32]bool{}
	for dir := range 2 {
		for j := range min(conf.Nsets[dir], rules.MaxSetRefs) {
			out[conf.SetSlot[dir][j]] = true
		}
	}
	return out
}

// CreateSet makes an empty named set.
func (s *State) CreateSet(name string, fam rules.Family) error {
	return s.change(func(t *tx) error {
		h, _, err := createSet(t.m, name, fam, 0)
		if err != nil {
			return err
		}
		h.Close()
		return nil
	})
}

// DestroySet removes a set no live rule references.
func (s *State) DestroySet(name string) error {
	return s.change(func(t *tx) error {
		def, err := t.setDef(name)
		if err != nil {
			return err
		}
		rs, _, err := t.ruleset()
		if err != nil {
			return err
		}
		if ids := referencing(rs, name); len(ids) > 0 {
			return fmt.Errorf("set %s is used by rule %s; delete those rules first", name, idList(ids))
		}
		return removeSet(t.m, name, def)
	})
}

func idList(ids []uint32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}

// referencing lists the ids of rules naming set name.
func referencing(rs *rules.Ruleset, name string) []uint32 {
	ids := []uint32{} // none is an empty list in JSON, not null
	for _, r := range rs.Rules {
		if r.Match.SrcSet == name || r.Match.DstSet == name {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func (v *view) setDef(name string) (xdpfwSetDef, error) {
	def, ok := v.sets[name]
	if !ok {
		return def, fmt.Errorf("no set named %s (see: xdpfw set list)", name)
	}
	return def, nil
}

// SetResult says what a set change did.
type SetResult struct {
	Added, Deleted int // elements
	Unchanged      int // adds already present
	Elements       int // after the change
}

// ChangeSet adds and deletes elements. Adding an element already present
// changes nothing, and neither does adding one again that add names
// before: both count as Unchanged, so Added and Unchanged are all add
// holds, as for set load's repeated lines (LoadBlocklist). Deleting one
// that is not present is an error, and then nothing changes.
func (s *State) ChangeSet(name string, add, del []netip.Prefix) (res SetResult, err error) {
	err = s.change(func(t *tx) error {
		res = SetResult{}
		d, err := t.delta(name)
		if err != nil {
			return err
		}
		a := t.word.sets()
		distinct := 0
		err = d.each(add, a, func(p netip.Prefix, has bool) error {
			distinct++
			if has {
				res.Unchanged++
			} else {
				d.add = append(d.add, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.Unchanged += len(add) - distinct
		err = d.each(del, a, func(p netip.Prefix, has bool) error {
			if !has {
				return d.notElement(p, a)
			}
			if slices.Contains(d.add, p) {
				return fmt.Errorf("%s is both added and deleted", p)
			}
			d.del = append(d.del, p)
			return nil
		})
		if err != nil {
			return err
		}
		res = t.result(d, res)
		return nil
	})
	return res, err
}

// notElement is the error for deleting p, not an element of d's set in
// generation a, naming the element that still matches p's addresses if
// one does: deleting a host of a blocked range was refused as not in the
// set, which the host's traffic, dropped by the range, seemed to belie.
func (d *setDelta) notElement(p netip.Prefix, a uint32) error {
	v, ok, err := d.h.lookup(p, p.Bits()-1)
	if err != nil {
		return err
	}
	if ok && v.Flags&setElem(a) != 0 {
		in := netip.PrefixFrom(p.Addr(), int(v.Len)).Masked()
		return fmt.Errorf("%s is not in set %s, which matches it through its element %s", p, d.name, in)
	}
	return fmt.Errorf("%s is not in set %s", p, d.name)
}

// each checks ps as elements of d's set, in order, and calls fn with
// each and whether it is an element in set generation a.
func (d *setDelta) each(ps []netip.Prefix, a uint32, fn func(p netip.Prefix, has bool) error) error {
	set := &rules.Set{Name: d.name, Family: rules.Family(d.def.Family)}
	for _, p := range rules.SortPrefixes(slices.Clone(ps)) {
		if err := checkElement(set, p); err != nil {
			return err
		}
		has, err := d.h.has(p, a)
		if err != nil {
			return err
		}
		if err := fn(p, has); err != nil {
			return err
		}
	}
	return nil
}

// LoadSet replaces the set's elements with ps (sorted and unique), as one
// change. progress, if not nil, is told how far the writing is.
func (s *State) LoadSet(name string, ps []netip.Prefix, progress func(done, total int)) (res SetResult, err error) {
	err = s.change(func(t *tx) error {
		d, err := t.delta(name)
		if err != nil {
			return err
		}
		set := &rules.Set{Name: name, Family: rules.Family(d.def.Family)}
		for _, p := range ps {
			if err := checkElement(set, p); err != nil {
				return err
			}
		}
		var old []netip.Prefix
		if a := t.word.sets(); d.def.Count[a] > 0 {
			if old, err = d.h.elements(a); err != nil {
				return err
			}
		}
		d.diff(old, ps)
		t.progress = progress
		res = t.result(d, SetResult{Unchanged: len(ps) - len(d.add)})
		return nil
	})
	if err != nil {
		return SetResult{}, err
	}
	return res, nil
}

// LoadBlocklist replaces the elements of set name of the state in dir
// with the blocklist read from r, as LoadSet does. The list is parsed for
// the set's family, so a line of the other family is a bad line like any
// other: reported with its number (opt.Name names the input), or skipped
// with opt.SkipInvalid and returned in skipped (on an error too). A list
// left with no element is refused: emptying a set is `set flush`, never
// what a cut-off feed does.
//
// The list is read and parsed with the state unlocked, between a first
// opening that learns the set's family and a second that makes the
// change: a slow reader or a long parse (seconds for 10M lines) held up
// every other change and serve's reloads. A set whose family is no longer
// the one parsed for (destroyed and made again meanwhile) is refused,
// nothing changed.
func LoadBlocklist(dir, name string, r io.Reader, opt blocklist.Options, progress func(done, total int)) (res SetResult, skipped blocklist.Skipped, err error) {
	if opt.Family, err = setFamilyIn(dir, name); err != nil {
		return res, skipped, err
	}
	list, err := blocklist.Parse(r, opt)
	if err != nil {
		return res, skipped, err
	}
	if len(list.Prefixes) == 0 {
		return res, list.Skipped, fmt.Errorf("%s has no elements: refusing to empty set %s (xdpfw set flush %s empties it)", opt.Name, name, name)
	}
	s, err := Open(dir)
	if err != nil {
		return res, list.Skipped, err
	}
	defer s.Close()
	switch fam, err := s.SetFamily(name); {
	case err != nil:
		return res, list.Skipped, err
	case fam != opt.Family:
		return res, list.Skipped, fmt.Errorf("set %s was made again as %s while %s was read: nothing changed, load it again", name, rules.SetFamilyString(fam), opt.Name)
	}
	res, err = s.LoadSet(name, list.Prefixes, progress)
	if err == nil {
		// A line repeating an element adds what is there by then, as
		// set add of an element given twice does.
		res.Unchanged += list.Duplicates
	}
	return res, list.Skipped, err
}

// setFamilyIn is the family of set name of the state in dir, read with
// the state locked only for the read.
func setFamilyIn(dir, name string) (rules.Family, error) {
	s, err := Open(dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return s.SetFamily(name)
}

// delta opens a set for a change: the change's plan, committed if it
// adds or deletes anything.
func (t *tx) delta(name string) (*setDelta, error) {
	def, err := t.setDef(name)
	if err != nil {
		return nil, err
	}
	h, err := openSetMaps(t.m, def.Slot)
	if err != nil {
		return nil, err
	}
	// Only an empty set can be written directly (setchange.go).
	empty := def.Count[t.word.sets()] == 0
	d := &setDelta{name: name, def: def, h: h, direct: !t.referencedSlots()[def.Slot] && empty}
	t.plan = &setPlan{deltas: []*setDelta{d}}
	return d, nil
}

// result is what a change of d does, counted before it is committed.
func (t *tx) result(d *setDelta, res SetResult) SetResult {
	res.Added, res.Deleted = len(d.add), len(d.del)
	res.Elements = int(d.def.Count[t.word.sets()]) + len(d.add) - len(d.del)
	return res
}

// checkElement refuses a prefix with host bits or of the wrong family.
func checkElement(set *rules.Set, p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("invalid prefix")
	}
	if p.Masked() != p {
		return fmt.Errorf("%s has host bits set (did you mean %s?)", p, p.Masked())
	}
	return set.Accepts(p)
}

// diff sets d's change from old (the set's elements) to new, both in
// rules.SortPrefixes order, and what its answers are read from: whether
// an element of old contains each added prefix, of new each deleted one,
// found in the two lists. Read from the maps, those were one to three
// lookups of each changed prefix (a syscall each where the trie may hold
// a longer match), 0.6 s of a reload of 1M.
func (d *setDelta) diff(old, new []netip.Prefix) {
	d.add, d.del = diffSorted(old, new)
	if !d.direct {
		d.addCovered, d.delCovered = coveredBy(d.add, old), coveredBy(d.del, new)
	}
}

// coveredBy reports for each of ps whether a prefix of by strictly
// contains it; both are in rules.SortPrefixes order, and no prefix is in
// both. A prefix comes after those containing it, so by is walked once
// beside ps, keeping the chain of its prefixes that contain where the
// walk is (each containing the next).
func coveredBy(ps, by []netip.Prefix) []bool {
	out := make([]bool, len(ps))
	var chain []netip.Prefix
	j := 0
	for i, p := range ps {
		for ; j < len(by) && prefixCmp(by[j], p) < 0; j++ {
			for len(chain) > 0 && !chain[len(chain)-1].Contains(by[j].Addr()) {
				chain = chain[:len(chain)-1]
			}
			chain = append(chain, by[j])
		}
		for len(chain) > 0 && !chain[len(chain)-1].Contains(p.Addr()) {
			chain = chain[:len(chain)-1]
		}
		// Those left come before p and contain its address, so are
		// shorter (one of p's length would be p).
		out[i] = len(chain) > 0
	}
	return out
}

// prefixCmp is rules.SortPrefixes's order: by address, then length.
func prefixCmp(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// diffSorted returns what to add to old and delete from it to get new;
// both are in rules.SortPrefixes order. add may be new itself.
func diffSorted(old, new []netip.Prefix) (add, del []netip.Prefix) {
	cmp := prefixCmp
	// A load into an empty set adds new whole: new itself, not a copy of
	// it (10M prefixes, 320 MB), which nothing changes.
	if len(old) == 0 {
		return new, nil
	}
	// Two passes, the first counting: sized for the difference in length
	// and grown by appends, a reload of 1M other prefixes allocated 330
	// MB for 2M prefixes' 64.
	nAdd, nDel := mergeSorted(old, new, cmp, nil, nil)
	add, del = make([]netip.Prefix, 0, nAdd), make([]netip.Prefix, 0, nDel)
	mergeSorted(old, new, cmp, func(p netip.Prefix) { add = append(add, p) }, func(p netip.Prefix) { del = append(del, p) })
	return add, del
}

// mergeSorted walks old and new together, counting what new adds and
// old loses, and telling each to onAdd and onDel if not nil.
func mergeSorted(old, new []netip.Prefix, cmp func(a, b netip.Prefix) int, onAdd, onDel func(netip.Prefix)) (nAdd, nDel int) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && cmp(old[i], new[j]) < 0:
			if onDel != nil {
				onDel(old[i])
			}
			nDel++
			i++
		case i == len(old) || cmp(old[i], new[j]) > 0:
			if onAdd != nil {
				onAdd(new[j])
			}
			nAdd++
			j++
		default:
			i++
			j++
		}
	}
	return nAdd, nDel
}

// Sets describes the live sets, sorted by name.
func (s *State) Sets() (out []SetInfo, err error) {
	err = s.read(func(v *view) error {
		rs, _, err := v.ruleset()
		if err != nil {
			return err
		}
		out = make([]SetInfo, 0, len(v.sets))
		for name, def := range v.sets {
			out = append(out, SetInfo{
				Name: name, Family: rules.SetFamilyString(rules.Family(def.Family)),
				Elements: int(def.Count[v.word.sets()]), ReferencedBy: referencing(rs, name),
			})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// SetFamily is a live set's family: which addresses its elements may be.
func (s *State) SetFamily(name string) (fam rules.Family, err error) {
	err = s.read(func(v *view) error {
		def, err := v.setDef(name)
		fam = rules.Family(def.Family)
		return err
	})
	return fam, err
}

// SetElements lists a live set's elements, sorted.
func (s *State) SetElements(name string) (ps []netip.Prefix, err error) {
	err = s.read(func(v *view) error {
		def, err := v.setDef(name)
		if err != nil {
			return err
		}
		ps, err = v.elements(def)
		return err
	})
	return ps, err
}

// elements lists a live set's elements as the repair would leave them.
func (v *view) elements(def xdpfwSetDef) ([]netip.Prefix, error) {
	if def.Flags&setDefLoading != 0 {
		return nil, nil // empty until the load is done (or repaired)
	}
	h, err := openSetMaps(v.m, def.Slot)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.elements(v.word.sets())
}

// RulesetWithSets is the live ruleset with every set's elements, for the
// reference model (replay) and save.
func (s *State) RulesetWithSets() (rs *rules.Ruleset, err error) {
	err = s.read(func(v *view) error {
		if rs, _, err = v.ruleset(); err != nil {
			return err
		}
		for name, def := range v.sets {
			if rs.Sets[name].Prefixes, err = v.elements(def); err != nil {
				return err
			}
		}
		return nil
	})
	return rs, err
}
