package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

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

// readSetDefs returns the live sets' definitions by name (setLive), or
// with all every definition.
func readSetDefs(m *xdpfwMaps, all bool) (map[string]xdpfwSetDef, error) {
	keys, defs, err := readAll[xdpfwSetName, xdpfwSetDef](m.SetDefs)
	if err != nil {
		return nil, err
	}
	var act uint32
	if !all {
		if act, err = readActive(m); err != nil {
			return nil, err
		}
	}
	out := make(map[string]xdpfwSetDef, len(keys))
	for i, k := range keys {
		if all || setLive(defs[i], act) {
			out[setKeyName(k)] = defs[i]
		}
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
func setLive(def xdpfwSetDef, act uint32) bool {
	switched := def.Flags>>8 == act
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
	defs, err := readSetDefs(m, true)
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
	h, err := newSetMaps(slot, [2]uint32{minHostCap, minHostCap})
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
	for kind := range numKinds {
		if err := m.setOuter(kind).Delete(def.Slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete set %s: %w", name, err)
		}
	}
	return nil
}

// referencedSlots are the set slots the live rules' generation uses.
func referencedSlots(m *xdpfwMaps) (map[uint32]bool, error) {
	act, err := readActive(m)
	if err != nil {
		return nil, err
	}
	var conf xdpfwGenConf
	if err := m.GenConf.Lookup(act&1, &conf); err != nil {
		return nil, fmt.Errorf("read generation config: %w", err)
	}
	out := map[uint32]bool{}
	for dir := range 2 {
		for j := range min(conf.Nsets[dir], rules.MaxSetRefs) {
			out[conf.SetSlot[dir][j]] = true
		}
	}
	return out, nil
}

// CreateSet makes an empty named set.
func (s *State) CreateSet(name string, fam rules.Family) error {
	if err := repairSets(&s.maps); err != nil {
		return err
	}
	h, _, err := createSet(&s.maps, name, fam, 0)
	if err != nil {
		return err
	}
	h.Close()
	return nil
}

// DestroySet removes a set no live rule references.
func (s *State) DestroySet(name string) error {
	if err := repairSets(&s.maps); err != nil {
		return err
	}
	def, err := s.setDef(name)
	if err != nil {
		return err
	}
	rs, _, err := readRuleset(&s.maps)
	if err != nil {
		return err
	}
	if ids := referencing(rs, name); len(ids) > 0 {
		return fmt.Errorf("set %s is used by rule %s; delete those rules first", name, idList(ids))
	}
	return removeSet(&s.maps, name, def)
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
	var ids []uint32
	for _, r := range rs.Rules {
		if r.Match.SrcSet == name || r.Match.DstSet == name {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *State) setDef(name string) (xdpfwSetDef, error) {
	defs, err := readSetDefs(&s.maps, false)
	if err != nil {
		return xdpfwSetDef{}, err
	}
	def, ok := defs[name]
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
// changes nothing; deleting one that is not present is an error, and then
// nothing changes.
func (s *State) ChangeSet(name string, add, del []netip.Prefix) (SetResult, error) {
	d, err := s.delta(name)
	if err != nil {
		return SetResult{}, err
	}
	defer d.h.Close()
	act, err := readActive(&s.maps)
	if err != nil {
		return SetResult{}, err
	}
	a := act & activeSets >> 1
	set := &rules.Set{Name: name, Family: rules.Family(d.def.Family)}
	var res SetResult
	for _, p := range rules.SortPrefixes(slices.Clone(add)) {
		if err := checkElement(set, p); err != nil {
			return res, err
		}
		has, err := d.h.has(p, a)
		if err != nil {
			return res, err
		}
		if has {
			res.Unchanged++
			continue
		}
		d.add = append(d.add, p)
	}
	for _, p := range rules.SortPrefixes(slices.Clone(del)) {
		if err := checkElement(set, p); err != nil {
			return res, err
		}
		has, err := d.h.has(p, a)
		if err != nil {
			return res, err
		}
		if !has {
			return res, fmt.Errorf("%s is not in set %s", p, name)
		}
		if slices.Contains(d.add, p) {
			return res, fmt.Errorf("%s is both added and deleted", p)
		}
		d.del = append(d.del, p)
	}
	return s.runDelta(d, res, nil)
}

// LoadSet replaces the set's elements with ps (sorted and unique), as one
// change. progress, if not nil, is told how far the writing is.
func (s *State) LoadSet(name string, ps []netip.Prefix, progress func(done, total int)) (SetResult, error) {
	d, err := s.delta(name)
	if err != nil {
		return SetResult{}, err
	}
	defer d.h.Close()
	set := &rules.Set{Name: name, Family: rules.Family(d.def.Family)}
	for _, p := range ps {
		if err := checkElement(set, p); err != nil {
			return SetResult{}, err
		}
	}
	act, err := readActive(&s.maps)
	if err != nil {
		return SetResult{}, err
	}
	var old []netip.Prefix
	if d.def.Count[act&activeSets>>1] > 0 {
		if old, err = d.h.elements(act & activeSets >> 1); err != nil {
			return SetResult{}, err
		}
	}
	d.add, d.del = diffSorted(old, ps)
	return s.runDelta(d, SetResult{Unchanged: len(ps) - len(d.add)}, progress)
}

// delta opens a set for a change, after repairing any cut-short one.
func (s *State) delta(name string) (*setDelta, error) {
	if err := repairSets(&s.maps); err != nil {
		return nil, err
	}
	def, err := s.setDef(name)
	if err != nil {
		return nil, err
	}
	h, err := openSetMaps(&s.maps, def.Slot)
	if err != nil {
		return nil, err
	}
	refs, err := referencedSlots(&s.maps)
	if err != nil {
		h.Close()
		return nil, err
	}
	act, err := readActive(&s.maps)
	if err != nil {
		h.Close()
		return nil, err
	}
	// Only an empty set can be written directly (setchange.go).
	empty := def.Count[act&activeSets>>1] == 0
	return &setDelta{name: name, def: def, h: h, direct: !refs[def.Slot] && empty}, nil
}

func (s *State) runDelta(d *setDelta, res SetResult, progress func(done, total int)) (SetResult, error) {
	res.Added, res.Deleted = len(d.add), len(d.del)
	if len(d.add)+len(d.del) > 0 {
		if err := changeSets(&s.maps, []*setDelta{d}, false, progress); err != nil {
			return SetResult{}, err
		}
	}
	act, err := readActive(&s.maps)
	if err != nil {
		return res, err
	}
	res.Elements = int(d.def.Count[act&activeSets>>1])
	return res, nil
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

// diffSorted returns what to add to old and delete from it to get new;
// both are in rules.SortPrefixes order.
func diffSorted(old, new []netip.Prefix) (add, del []netip.Prefix) {
	cmp := func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	}
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && cmp(old[i], new[j]) < 0:
			del = append(del, old[i])
			i++
		case i == len(old) || cmp(old[i], new[j]) > 0:
			add = append(add, new[j])
			j++
		default:
			i++
			j++
		}
	}
	return add, del
}

// Sets describes the live sets, sorted by name.
func (s *State) Sets() ([]SetInfo, error) {
	defs, err := readSetDefs(&s.maps, false)
	if err != nil {
		return nil, err
	}
	rs, _, err := readRuleset(&s.maps)
	if err != nil {
		return nil, err
	}
	act, err := readActive(&s.maps)
	if err != nil {
		return nil, err
	}
	out := make([]SetInfo, 0, len(defs))
	for name, def := range defs {
		out = append(out, SetInfo{
			Name: name, Family: rules.SetFamilyString(rules.Family(def.Family)),
			Elements: int(def.Count[act&activeSets>>1]), ReferencedBy: referencing(rs, name),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetElements lists a live set's elements, sorted.
func (s *State) SetElements(name string) ([]netip.Prefix, error) {
	def, err := s.setDef(name)
	if err != nil {
		return nil, err
	}
	return readElements(&s.maps, def)
}

func readElements(m *xdpfwMaps, def xdpfwSetDef) ([]netip.Prefix, error) {
	if def.Flags&setDefLoading != 0 {
		return nil, nil // empty until the load is done (or repaired)
	}
	h, err := openSetMaps(m, def.Slot)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	act, err := readActive(m)
	if err != nil {
		return nil, err
	}
	return h.elements(act & activeSets >> 1)
}

// RulesetWithSets is the live ruleset with every set's elements, for the
// reference model (replay) and save.
func (s *State) RulesetWithSets() (*rules.Ruleset, error) {
	rs, _, err := readRuleset(&s.maps)
	if err != nil {
		return nil, err
	}
	defs, err := readSetDefs(&s.maps, false)
	if err != nil {
		return nil, err
	}
	for name, def := range defs {
		if rs.Sets[name].Prefixes, err = readElements(&s.maps, def); err != nil {
			return nil, err
		}
	}
	return rs, nil
}
