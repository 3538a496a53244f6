package loader

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"sync"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ruleDefs reads every stored rule definition of both generations, once.
func (v *view) ruleDefs() error {
	if v.defs.def[0] != nil {
		return nil
	}
	var hint [numGens]int
	for gen := range hint {
		hint[gen] = int(min(v.conf[gen].Nrules, layout.MaxRules))
	}
	defs, err := readRuleDefs(v.m, hint)
	if err != nil {
		return err
	}
	v.defs = defs
	return nil
}

// prepare is the rules' part of a commit (tx.commit), which makes rs the
// live ruleset:
//
//  0. move what the inactive generation's ranks counted to its rules'
//     counters (foldRankCounts);
//  1. mark the inactive generation as being written (gen_conf flag
//     gfWriting, which the program never sees: it only reads the
//     active generation's config);
//  2. delete its keyed entries that the new tables do not overwrite;
//  3. write rs's compiled tables into it, then the rule definitions that
//     differ from those it holds, then its config, which clears the mark;
//  4. (tx.commit) switch `active` to it with one word write (its rules
//     bit; the sets bit switches with it when sets change too).
//
// The inactive generation holds the ruleset of two commits ago: packets
// stopped using it when the last commit switched away, a whole CLI
// invocation earlier. Until step 4 the datapath never reads it, so a
// failure or crash at any point leaves the old ruleset live and intact.
//
// Step 2 needs to know which address entries the generation holds.
// Without the mark, its last commit completed, so they are exactly the
// prefixes its stored rules name (classifier.Compile gives an entry to every
// prefix a rule names, and to no other): only the rules that changed since
// can leave entries behind, and those are found without iterating the
// LPM tries. With the mark, a commit stopped half-way and the entries are
// found by iterating every address table.
func (c *tx) prepare(rs *rules.Ruleset, slots map[uint32]uint32) error {
	if err := c.ruleDefs(); err != nil {
		return err
	}
	v, m := c.view, c.m
	t, err := classifier.Compile(rs)
	if err != nil {
		return err
	}
	if slots == nil {
		slots = map[uint32]uint32{}
		for r, rule := range t.Order {
			slots[rule.ID] = uint32(r)
		}
	}
	defs := make(map[uint32][]byte, len(t.Order))
	for _, rule := range t.Order {
		if defs[rule.ID] = v.stored(&rule, slots[rule.ID]); defs[rule.ID] != nil {
			continue
		}
		if defs[rule.ID], err = encodeRule(rule, slots[rule.ID]); err != nil {
			return err
		}
	}
	next := v.active ^ 1
	// Before anything of it changes: what its ranks counted belongs to
	// the rules it held.
	if err := foldRankCounts(m, next, &v.conf[next]); err != nil {
		return err
	}
	liveStart, liveEnd := vecSpan(&v.conf[v.active])
	l, err := layOut(m, next, t, liveStart, liveEnd)
	if err != nil {
		return err
	}
	// Recorded in the parser's one form (rules.Ruleset.MaxFlowsFor): a
	// rule add, rule del or policy changes whether the ruleset reads
	// connection state, and so whether the default's size said out loud
	// is the default. Kept as the change had it, the live ruleset read
	// back otherwise than its saved file does: an apply of what save
	// printed was a change, and a later rule del gave another table.
	l.ctMaxFlows = rs.MaxFlowsFor(rs.CTFlows()) + 1
	l.ctTimeouts = rs.Conntrack.Timeouts
	if err := writeGenConf(m.GenConf, next, &xdpfwGenConfig{Flags: gfWriting}); err != nil {
		return fmt.Errorf("mark generation %d: %w", next, err)
	}
	if err := v.clearStale(m, next, l.t, defs); err != nil {
		return fmt.Errorf("clear generation %d: %w", next, err)
	}
	if err := writeTables(m, next, l, slots, &v.defs, defs); err != nil {
		return fmt.Errorf("write generation %d: %w", next, err)
	}
	return nil
}

// genLayout is where generation gen's tables go in the maps, found
// before anything is written.
type genLayout struct {
	t         *classifier.Tables // in its solo form (GF_SOLO: no vector read per packet) when it has one
	flags     uint32             // GF_SOLO when so
	addr      addrEntries        // the address tables' entries
	lens      [4][]uint8         // the prefix lengths in the buckets
	vecFirst  uint32             // the vectors' first entry
	chunkBase [layout.NumDims]uint32
	// 1 + the ruleset's max-flows (gen_config.ct_max_flows), and its
	// timeouts (ct_timeout)
	ctMaxFlows uint32
	ctTimeouts [layout.NumCtTimeouts]uint32
}

// layOut places t as generation gen beside the live generation, whose
// vectors take [liveStart, liveEnd). When the maps sized to the ruleset
// have no room for it (its vectors, value atoms or address keys), it
// says by how much (*mapsFull): the caller grows them and commits again.
func layOut(m *xdpfwMaps, gen uint32, t *classifier.Tables, liveStart, liveEnd uint32) (*genLayout, error) {
	l := &genLayout{t: t}
	if solo, ok := t.Solo(); ok {
		l.t, l.flags = solo, layout.GfSolo
	}
	t = l.t
	var full mapsFull
	first, err := placeVectors(m.Vectors, liveStart, liveEnd, vecNeed(t), vecWordsFor(len(t.Order)))
	if f, ok := err.(*mapsFull); ok {
		full = *f
	} else if err != nil {
		return nil, err
	}
	l.vecFirst = first
	var chunks uint32
	if l.chunkBase, chunks = chunkLayout(&t.Values); chunks > chunksPerGen(m.ValueAtoms) {
		full.chunks = chunks
	}
	l.addr, l.lens = addrKeys(gen, t)
	if b := bucketBitsFor(len(l.addr.h4), layout.Addr4Slots); b > bucketBits(m.Addr4Host) {
		full.bits4 = bucketBitsFor(len(l.addr.h4)+len(l.addr.h4)/8, layout.Addr4Slots)
	}
	if b := bucketBitsFor(len(l.addr.h6), layout.Addr6Slots); b > bucketBits(m.Addr6Host) {
		full.bits6 = bucketBitsFor(len(l.addr.h6)+len(l.addr.h6)/8, layout.Addr6Slots)
	}
	if full != (mapsFull{}) {
		return nil, &full
	}
	return l, nil
}

// stored gives the live rule's stored definition if r is a live rule,
// unchanged, in the same counter slot; nil otherwise.
func (v *view) stored(r *rules.Rule, slot uint32) []byte {
	i, ok := slices.BinarySearch(v.liveIDs, r.ID)
	if !ok || v.liveSlots[i] != slot || v.live[i] != *r {
		return nil
	}
	return v.defs.def[v.active][r.ID]
}

// clearStale deletes generation gen's keyed entries that the tables t
// will not overwrite: address prefixes no rule names any more, and
// interface entries (few; resolved anew each commit). Array entries need
// no clearing: writeTables overwrites all that t references. defs are
// t's rules as they will be stored.
func (v *view) clearStale(m *xdpfwMaps, gen uint32, t *classifier.Tables, defs map[uint32][]byte) error {
	stale, ok := v.stalePrefixes(gen, t, defs)
	if ok {
		if err := stale.delete(m); err != nil {
			return err
		}
	} else if err := clearAddrs(m, gen); err != nil {
		return err
	}
	ik, _, err := readAll[xdpfwIfaceKey, uint32](m.IfaceAtoms)
	if err != nil {
		return err
	}
	return deleteKeys(m.IfaceAtoms, filter(ik, func(k *xdpfwIfaceKey) bool { return k.Gen == gen }))
}

// stalePrefixes gives the address entries of generation gen that t does
// not have, from gen's stored rules (see commit). It reports false when
// they cannot be known that way: gen is marked as half-written, or one of
// its stored rules does not decode.
func (v *view) stalePrefixes(gen uint32, t *classifier.Tables, defs map[uint32][]byte) (*addrEntries, bool) {
	if v.conf[gen].Flags&gfWriting != 0 {
		return nil, false
	}
	// Entries are where gen's own config placed them (addrplace.go);
	// a kept prefix whose table the new lengths change is stale in the
	// other.
	oldLens, newLens := confLens(&v.conf[gen]), [4][]uint8{}
	var kept [2]map[netip.Prefix]bool
	stale := &addrEntries{}
	for dir, entries := range [][]classifier.PrefixAtom{t.Src, t.Dst} {
		hashLens(dir, entries, &newLens)
		kept[dir] = make(map[netip.Prefix]bool, len(entries))
		for _, e := range entries {
			kept[dir][e.Prefix] = true
			at := addrTable(dir, e.Prefix)
			if was := inHash(oldLens[at], e.Prefix.Bits()); was != inHash(newLens[at], e.Prefix.Bits()) {
				stale.add(gen, dir, e.Prefix, 0, was)
			}
		}
	}
	for id, old := range v.defs.def[gen] {
		if bytes.Equal(old, defs[id]) {
			continue // same rule: its prefixes are in t
		}
		var r rules.Rule
		if _, err := decodeRule(old, &r); err != nil {
			return nil, false
		}
		for dir, p := range []netip.Prefix{r.Match.Src, r.Match.Dst} {
			if p.IsValid() && !kept[dir][p] {
				kept[dir][p] = true // once
				stale.add(gen, dir, p, 0, inHash(oldLens[addrTable(dir, p)], p.Bits()))
			}
		}
	}
	return stale, true
}

// clearAddrs deletes every trie entry of generation gen, found by
// iterating the tries one key per syscall (the next put rewrites its
// buckets whole).
func clearAddrs(m *xdpfwMaps, gen uint32) error {
	l4, err := keysOf[xdpfwAddr4LpmKey](m.Addr4Lpm)
	if err != nil {
		return err
	}
	if err := deleteKeys(m.Addr4Lpm, filter(l4, func(k *xdpfwAddr4LpmKey) bool { return uint32(k.Tag)&1 == gen })); err != nil {
		return err
	}
	l6, err := keysOf[xdpfwAddr6LpmKey](m.Addr6Lpm)
	if err != nil {
		return err
	}
	return deleteKeys(m.Addr6Lpm, filter(l6, func(k *xdpfwAddr6LpmKey) bool { return uint32(k.Tag)&1 == gen }))
}

// writeTables writes generation gen's tables where l places them, and
// the rule definitions defs where they differ from those gen holds (of
// stored); the config goes last.
func writeTables(m *xdpfwMaps, gen uint32, l *genLayout, slots map[uint32]uint32, stored *storedDefs, defs map[uint32][]byte) error {
	t, flags := l.t, l.flags
	seed, err := l.addr.put(m, gen)
	if err != nil {
		return fmt.Errorf("store the rules' addresses: %w", err)
	}
	flags |= l.addr.flags()

	if err := writeValues(m.ValueAtoms, gen, &t.Values, &l.chunkBase); err != nil {
		return err
	}
	if err := writeIfaces(m, gen, t.Ifaces); err != nil {
		return err
	}
	for d, used := range t.Used {
		if used {
			flags |= gfUse(d)
		}
	}

	keys := make([]uint32, len(t.Order))
	ranks := make([]xdpfwRankEntry, len(t.Order))
	for r, rule := range t.Order {
		keys[r] = gen*rules.MaxRules + uint32(r)
		ranks[r] = xdpfwRankEntry{RuleId: rule.ID, Slot: slots[rule.ID], Action: uint32(rule.Action)}
		if rule.Log {
			ranks[r].Flags = layout.RankLog
		}
	}
	if err := putAll(m.Ranks, keys, ranks); err != nil {
		return err
	}

	if err := writeDefs(m, gen, stored, defs); err != nil {
		return fmt.Errorf("store rules: %w", err)
	}

	conf := xdpfwGenConfig{Policy: uint16(t.Policy), Nrules: uint16(len(t.Order)), Flags: flags, WildSummary: t.Wild.Summary(), ChunkBase: l.chunkBase,
		CtMaxFlows: l.ctMaxFlows, CtTimeout: l.ctTimeouts, AddrSeed: seed}
	setConfLens(&conf, l.lens)
	if err := writeVectors(m.Vectors, t, l.vecFirst, &conf); err != nil {
		return err
	}
	if err := setRefs(m, t, &conf); err != nil {
		return err
	}
	if err := writeGenConf(m.GenConf, gen, &conf); err != nil {
		return fmt.Errorf("write generation config: %w", err)
	}
	return nil
}

// setRefs records in conf the slots of the sets t references.
func setRefs(m *xdpfwMaps, t *classifier.Tables, conf *xdpfwGenConfig) error {
	if len(t.SrcSets)+len(t.DstSets) == 0 {
		return nil
	}
	// Every definition: an apply's new sets are live once its switch is.
	defs, err := readSetDefs(m)
	if err != nil {
		return err
	}
	for dir, names := range [][]string{t.SrcSets, t.DstSets} {
		for j, name := range names {
			def, ok := defs[name]
			if !ok {
				return fmt.Errorf("set %s does not exist", name)
			}
			conf.SetSlot[dir][j] = def.Slot
		}
		conf.Nsets[dir] = uint32(len(names))
	}
	return nil
}

// writeIfaces resolves interface names in this network namespace. A name
// with no interface yet gets no entry: its rules cannot match until a
// later commit (any rule change) finds it.
func writeIfaces(m *xdpfwMaps, gen uint32, ifaces []classifier.IfaceAtom) error {
	var (
		keys  []xdpfwIfaceKey
		atoms []uint32
	)
	for _, e := range resolveIfaces(ifaces) {
		keys = append(keys, xdpfwIfaceKey{Gen: gen, Ifindex: e.ifindex})
		atoms = append(atoms, e.atom)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := putAll(m.IfaceAtoms, keys, atoms); err != nil {
		return fmt.Errorf("interface table: %w", err)
	}
	return nil
}

// addrEntries are address-table keys (and the atoms to write with them)
// by table: the buckets' and the LPM tries'.
// addrKeys are the address table entries of t's prefixes in generation
// gen: the longest lengths of each table's in the buckets (hashLens),
// the rest in the tries.
func addrKeys(gen uint32, t *classifier.Tables) (a addrEntries, lens [4][]uint8) {
	for dir, entries := range [][]classifier.PrefixAtom{t.Src, t.Dst} {
		hashLens(dir, entries, &lens)
		for _, e := range entries {
			a.add(gen, dir, e.Prefix, e.Atom, inHash(lens[addrTable(dir, e.Prefix)], e.Prefix.Bits()))
		}
	}
	return a, lens
}

type addrEntries struct {
	h4, h6 []bucketKey
	p4     []xdpfwAddr4LpmKey
	p6     []xdpfwAddr6LpmKey
	b4, b6 []uint32 // atoms for p4, p6
}

// add files prefix p of direction dir in generation gen under its key,
// in the buckets or in the trie (see addrplace.go).
func (a *addrEntries) add(gen uint32, dir int, p netip.Prefix, atom uint32, hash bool) {
	tag := addrTag(gen, dir)
	p = p.Masked()
	addr, bits := p.Addr(), p.Bits()
	switch {
	case hash:
		k := bucketKey{tag: tag, len: uint8(bits), atom: uint16(atom)}
		if addr.Is4() {
			a4 := addr.As4()
			copy(k.addr[:], a4[:])
			a.h4 = append(a.h4, k)
		} else {
			k.addr = addr.As16()
			a.h6 = append(a.h6, k)
		}
	case addr.Is4():
		a.p4, a.b4 = append(a.p4, xdpfwAddr4LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As4()}), append(a.b4, atom)
	default:
		a.p6, a.b6 = append(a.p6, xdpfwAddr6LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As16()}), append(a.b6, atom)
	}
}

// flags reports which of the eight tables hold entries (gfSrc* bits,
// the destination's four above).
func (a *addrEntries) flags() uint32 {
	var f uint32
	dirOf := func(tag uint8) int { return 4 * int(tag>>1) }
	for _, k := range a.h4 {
		f |= gfSrc4Host << dirOf(k.tag)
	}
	for _, k := range a.h6 {
		f |= gfSrc6Host << dirOf(k.tag)
	}
	for _, k := range a.p4 {
		f |= gfSrc4LPM << dirOf(k.Tag)
	}
	for _, k := range a.p6 {
		f |= gfSrc6LPM << dirOf(k.Tag)
	}
	return f
}

// put writes generation gen's buckets whole (a's are all of gen's), by a
// seed of their own it gives, and adds a's trie entries.
func (a *addrEntries) put(m *xdpfwMaps, gen uint32) (uint32, error) {
	seed, err := writeBuckets(m, gen, a.h4, a.h6)
	return seed, errors.Join(err, putAll(m.Addr4Lpm, a.p4, a.b4), putAll(m.Addr6Lpm, a.p6, a.b6))
}

// delete removes a's trie entries; bucket entries go when their
// generation's buckets are next written whole.
func (a *addrEntries) delete(m *xdpfwMaps) error {
	return errors.Join(deleteKeys(m.Addr4Lpm, a.p4), deleteKeys(m.Addr6Lpm, a.p6))
}

// readRuleset returns the live ruleset (the active generation's rule
// definitions and policy) and each rule's counter slot, of maps the
// caller owns (an Instance's) or holds the lock of.
func readRuleset(m *xdpfwMaps) (*rules.Ruleset, map[uint32]uint32, error) {
	v, err := readView(m)
	if err != nil {
		return nil, nil, err
	}
	return v.ruleset()
}

// decodeAll decodes the definitions of ids into live, their slots and
// (priority, index) keys beside them, in as many parts as there are CPUs
// to run them: each rule decodes alone, and at 4095 rules the decoding
// is a tenth of a `rule add`.
func decodeAll(ids []uint32, defs map[uint32][]byte, live []rules.Rule, slots []uint32, order []uint64) error {
	parts := min(runtime.GOMAXPROCS(0), max(len(ids)/512, 1))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p * len(ids) / parts; i < (p+1)*len(ids)/parts; i++ {
				id, r := ids[i], &live[i]
				slot, err := decodeRule(defs[id], r)
				switch {
				case err != nil:
					errs[p] = fmt.Errorf("rule %d: stored definition: %w", id, err)
					return
				case r.ID != id:
					errs[p] = fmt.Errorf("rule %d: stored definition is of rule %d", id, r.ID)
					return
				}
				slots[i], order[i] = slot, uint64(r.Priority)<<32|uint64(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ruleset decodes the live ruleset from the view, in evaluation order.
func (v *view) ruleset() (*rules.Ruleset, map[uint32]uint32, error) {
	if err := v.ruleDefs(); err != nil {
		return nil, nil, err
	}
	conf := &v.conf[v.active]
	defs := v.defs.def[v.active]
	if len(defs) != int(conf.Nrules) {
		return nil, nil, fmt.Errorf("live state is inconsistent: %d rule definitions, %d rules classified", len(defs), conf.Nrules)
	}
	// Decoded in id order, the rules are then put in (priority, id) order
	// by sorting (priority, index) pairs: moving whole rules around in a
	// sort cost more than the rest of this.
	ids := slices.Sorted(maps.Keys(defs))
	v.live, v.liveIDs, v.liveSlots = make([]rules.Rule, len(ids)), ids, make([]uint32, len(ids))
	order := make([]uint64, len(ids))
	if err := decodeAll(ids, defs, v.live, v.liveSlots, order); err != nil {
		return nil, nil, err
	}
	slots := make(map[uint32]uint32, len(ids))
	for i, id := range ids {
		slots[id] = v.liveSlots[i]
	}
	slices.Sort(order)
	ct, err := conntrackOf(v.m, conf)
	if err != nil {
		return nil, nil, err
	}
	// Room for one more: AddRule appends one, which would otherwise copy
	// the lot into fresh memory twice its size.
	rs := &rules.Ruleset{Policy: rules.Action(conf.Policy), Rules: make([]rules.Rule, len(order), len(order)+1), Sets: liveSets(v.sets), Conntrack: ct}
	for i, o := range order {
		rs.Rules[i] = v.live[uint32(o)]
	}
	// As the file said it, switched with the rules: the table's size
	// may be the next ruleset's, where a resize was cut short before
	// the switch. A config of layout 18 has no record: its size says.
	// In the parser's one form, whatever wrote it (prepare).
	if conf.CtMaxFlows != 0 {
		rs.Conntrack.MaxFlows = conf.CtMaxFlows - 1
		rs.Conntrack.MaxFlows = rs.MaxFlowsFor(rs.CTFlows())
	} else {
		rs.Conntrack.MaxFlows = rs.MaxFlowsFor(v.m.Ct.MaxEntries())
	}
	return rs, slots, nil
}
