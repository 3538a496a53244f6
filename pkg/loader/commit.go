package loader

import (
	"fmt"
	"net"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// commit makes rs the live ruleset of the maps m:
//
//  1. clear the inactive generation's keyed entries (left from two
//     commits ago: packets stopped using them when the last commit
//     switched away, a whole CLI invocation earlier);
//  2. write rs's compiled tables and rule definitions into it;
//  3. switch `active` to it with one word write.
//
// Until step 3 the datapath never reads the inactive generation, so a
// failure or crash at any point leaves the old ruleset live and intact.
// slots gives each rule's counter slot; nil means slot = rank.
func commit(m *xdpfwMaps, rs *rules.Ruleset, slots map[uint32]uint32) error {
	// A set change cut short is repaired before anything else switches.
	if err := repairSets(m); err != nil {
		return err
	}
	if err := prepareRules(m, rs, slots); err != nil {
		return err
	}
	act, err := readActive(m)
	if err != nil {
		return err
	}
	// Only the rules' bit changes: one byte of one word.
	if err := m.Active.Put(uint32(0), act^1); err != nil {
		return fmt.Errorf("switch to generation %d: %w", act&1^1, err)
	}
	return nil
}

// commitWithSets makes rs live with its sets exactly as rs has them
// (apply, replay instances): sets are created, changed and removed, and
// the rules and sets switch together.
func commitWithSets(m *xdpfwMaps, rs *rules.Ruleset, slots map[uint32]uint32) error {
	if err := repairSets(m); err != nil {
		return err
	}
	plan, err := planSets(m, rs.Sets)
	if err != nil {
		return err
	}
	defer plan.Close()
	if err := prepareRules(m, rs, slots); err != nil {
		return err
	}
	return plan.run(m, true)
}

// prepareRules is steps 1 and 2 of commit.
func prepareRules(m *xdpfwMaps, rs *rules.Ruleset, slots map[uint32]uint32) error {
	t, err := rules.Compile(rs)
	if err != nil {
		return err
	}
	cur, err := activeGen(m)
	if err != nil {
		return err
	}
	next := cur ^ 1
	if err := clearGen(m, next); err != nil {
		return fmt.Errorf("clear generation %d: %w", next, err)
	}
	if slots == nil {
		slots = map[uint32]uint32{}
		for r, rule := range t.Order {
			slots[rule.ID] = uint32(r)
		}
	}
	if err := writeTables(m, next, t, slots); err != nil {
		return fmt.Errorf("write generation %d: %w", next, err)
	}
	return nil
}

func activeGen(m *xdpfwMaps) (uint32, error) {
	var gen uint32
	if err := m.Active.Lookup(uint32(0), &gen); err != nil {
		return 0, fmt.Errorf("read active generation: %w", err)
	}
	return gen & 1, nil
}

// clearGen deletes every keyed entry of generation gen. Array entries need
// no clearing: writeTables overwrites all that the new tables reference.
func clearGen(m *xdpfwMaps, gen uint32) error {
	k4, _, err := readAll[xdpfwAddr4HostKey, uint32](m.Addr4Host)
	if err != nil {
		return err
	}
	if err := deleteKeys(m.Addr4Host, filter(k4, func(k *xdpfwAddr4HostKey) bool { return k.Tag&1 == gen })); err != nil {
		return err
	}
	k6, _, err := readAll[xdpfwAddr6HostKey, uint32](m.Addr6Host)
	if err != nil {
		return err
	}
	if err := deleteKeys(m.Addr6Host, filter(k6, func(k *xdpfwAddr6HostKey) bool { return k.Tag&1 == gen })); err != nil {
		return err
	}
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
	if err := deleteKeys(m.Addr6Lpm, filter(l6, func(k *xdpfwAddr6LpmKey) bool { return uint32(k.Tag)&1 == gen })); err != nil {
		return err
	}
	ik, _, err := readAll[xdpfwIfaceKey, uint32](m.IfaceAtoms)
	if err != nil {
		return err
	}
	if err := deleteKeys(m.IfaceAtoms, filter(ik, func(k *xdpfwIfaceKey) bool { return k.Gen == gen })); err != nil {
		return err
	}
	defs, _, err := readAll[xdpfwRuleDefKey, xdpfwRuleDef](m.RuleDefs)
	if err != nil {
		return err
	}
	return deleteKeys(m.RuleDefs, filter(defs, func(k *xdpfwRuleDefKey) bool { return k.Gen == gen }))
}

func writeTables(m *xdpfwMaps, gen uint32, t *rules.Tables, slots map[uint32]uint32) error {
	var flags uint32
	for dir, entries := range [][]rules.PrefixAtom{t.Src, t.Dst} {
		f, err := writeAddrs(m, gen, dir, entries)
		if err != nil {
			return err
		}
		flags |= f << (4 * dir)
	}

	for d, table := range t.Values {
		if table == nil {
			continue
		}
		if err := writeValues(m, gen, d, table); err != nil {
			return fmt.Errorf("%s table: %w", rules.DimNames[d], err)
		}
	}
	if err := writeIfaces(m, gen, t.Ifaces); err != nil {
		return err
	}
	for d, used := range t.Used {
		if used {
			flags |= gfUse(d)
		}
	}

	for d, vecs := range t.Vectors {
		if flags&gfUse(d) == 0 {
			continue
		}
		keys := make([]uint32, len(vecs))
		vals := make([]xdpfwBitvec, len(vecs))
		for a := range vecs {
			keys[a] = gen*vecPerGen + vecBase[d] + uint32(a)
			vals[a] = xdpfwBitvec{Summary: t.Summary(d, uint32(a)), Words: vecs[a]}
		}
		if err := putAll(m.Vectors, keys, vals); err != nil {
			return err
		}
	}
	// The all-ones vector is constant; writing it each time costs one
	// update and means no other code path has to remember it.
	all := xdpfwBitvec{}
	for i := range all.Words {
		all.Words[i] = ^uint64(0)
	}
	if err := m.Vectors.Put(vecAll, &all); err != nil {
		return err
	}

	keys := make([]uint32, len(t.Order))
	ranks := make([]xdpfwRankEntry, len(t.Order))
	for r, rule := range t.Order {
		keys[r] = gen*rules.MaxRules + uint32(r)
		ranks[r] = xdpfwRankEntry{RuleId: rule.ID, Slot: slots[rule.ID], Action: uint32(rule.Action)}
	}
	if err := putAll(m.Ranks, keys, ranks); err != nil {
		return err
	}

	defKeys := make([]xdpfwRuleDefKey, len(t.Order))
	defs := make([]xdpfwRuleDef, len(t.Order))
	for i, rule := range t.Order {
		b, err := rules.EncodeRule(rule, slots[rule.ID])
		if err != nil {
			return err
		}
		defKeys[i] = xdpfwRuleDefKey{Gen: gen, Id: rule.ID}
		defs[i].Len = uint32(copy(defs[i].Data[:], b))
	}
	if err := putAll(m.RuleDefs, defKeys, defs); err != nil {
		return fmt.Errorf("store rules: %w", err)
	}

	conf := xdpfwGenConf{Policy: uint32(t.Policy), Nrules: uint32(len(t.Order)), Flags: flags, WildSummary: t.Wild.Summary()}
	if err := setRefs(m, t, &conf); err != nil {
		return err
	}
	if err := m.GenConf.Put(gen, &conf); err != nil {
		return fmt.Errorf("write generation config: %w", err)
	}
	return nil
}

// setRefs records in conf the slots of the sets t references.
func setRefs(m *xdpfwMaps, t *rules.Tables, conf *xdpfwGenConf) error {
	if len(t.SrcSets)+len(t.DstSets) == 0 {
		return nil
	}
	defs, err := readSetDefs(m, true)
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

// writeValues writes a value dimension's key -> atom table in chunks.
func writeValues(m *xdpfwMaps, gen uint32, d int, table []uint16) error {
	n := (len(table) + chunkSize - 1) / chunkSize
	keys := make([]uint32, n)
	chunks := make([]xdpfwAtomChunk, n)
	for c := range chunks {
		keys[c] = gen*chunksPerGen + chunkBase[d] + uint32(c)
		copy(chunks[c].Atom[:], table[c*chunkSize:])
	}
	return putAll(m.ValueAtoms, keys, chunks)
}

// writeIfaces resolves interface names in this network namespace. A name
// with no interface yet gets no entry: its rules cannot match until a
// later commit (any rule change) finds it.
func writeIfaces(m *xdpfwMaps, gen uint32, ifaces []rules.IfaceAtom) error {
	var (
		keys  []xdpfwIfaceKey
		atoms []uint32
	)
	for _, e := range ifaces {
		ifi, err := net.InterfaceByName(e.Name)
		if err != nil {
			continue
		}
		keys = append(keys, xdpfwIfaceKey{Gen: gen, Ifindex: uint32(ifi.Index)})
		atoms = append(atoms, e.Atom)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := putAll(m.IfaceAtoms, keys, atoms); err != nil {
		return fmt.Errorf("interface table: %w", err)
	}
	return nil
}

// writeAddrs puts host prefixes in the hash maps and the rest in the LPM
// tries, and reports which of the four tables it used (gf*Src* bits).
func writeAddrs(m *xdpfwMaps, gen uint32, dir int, entries []rules.PrefixAtom) (uint32, error) {
	var (
		h4     []xdpfwAddr4HostKey
		h6     []xdpfwAddr6HostKey
		p4     []xdpfwAddr4LpmKey
		p6     []xdpfwAddr6LpmKey
		a4, a6 []uint32 // atoms for h4, h6
		b4, b6 []uint32 // atoms for p4, p6
	)
	tag := addrTag(gen, dir)
	for _, e := range entries {
		addr, bits := e.Prefix.Addr(), e.Prefix.Bits()
		switch {
		case addr.Is4() && bits == 32:
			h4, a4 = append(h4, xdpfwAddr4HostKey{Tag: uint32(tag), Addr: addr.As4()}), append(a4, e.Atom)
		case addr.Is4():
			p4, b4 = append(p4, xdpfwAddr4LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As4()}), append(b4, e.Atom)
		case bits == 128:
			h6, a6 = append(h6, xdpfwAddr6HostKey{Tag: uint32(tag), Addr: addr.As16()}), append(a6, e.Atom)
		default:
			p6, b6 = append(p6, xdpfwAddr6LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As16()}), append(b6, e.Atom)
		}
	}
	var flags uint32
	for _, t := range []struct {
		n    int
		flag uint32
		put  func() error
	}{
		{len(h4), gfSrc4Host, func() error { return putAll(m.Addr4Host, h4, a4) }},
		{len(p4), gfSrc4LPM, func() error { return putAll(m.Addr4Lpm, p4, b4) }},
		{len(h6), gfSrc6Host, func() error { return putAll(m.Addr6Host, h6, a6) }},
		{len(p6), gfSrc6LPM, func() error { return putAll(m.Addr6Lpm, p6, b6) }},
	} {
		if t.n == 0 {
			continue
		}
		if err := t.put(); err != nil {
			return 0, fmt.Errorf("address table: %w", err)
		}
		flags |= t.flag
	}
	return flags, nil
}

// readRuleset returns the live ruleset (the active generation's rule
// definitions and policy) and each rule's counter slot.
func readRuleset(m *xdpfwMaps) (*rules.Ruleset, map[uint32]uint32, error) {
	gen, err := activeGen(m)
	if err != nil {
		return nil, nil, err
	}
	var conf xdpfwGenConf
	if err := m.GenConf.Lookup(gen, &conf); err != nil {
		return nil, nil, fmt.Errorf("read generation config: %w", err)
	}
	setDefs, err := readSetDefs(m, false)
	if err != nil {
		return nil, nil, err
	}
	rs := &rules.Ruleset{Policy: rules.Action(conf.Policy), Sets: liveSets(setDefs)}
	slots := map[uint32]uint32{}
	keys, defs, err := readAll[xdpfwRuleDefKey, xdpfwRuleDef](m.RuleDefs)
	if err != nil {
		return nil, nil, err
	}
	for i, k := range keys {
		if k.Gen != gen {
			continue
		}
		def := &defs[i]
		if def.Len > uint32(len(def.Data)) {
			return nil, nil, fmt.Errorf("rule %d: stored definition is corrupt", k.Id)
		}
		r, slot, err := rules.DecodeRule(def.Data[:def.Len])
		if err != nil {
			return nil, nil, fmt.Errorf("rule %d: stored definition: %w", k.Id, err)
		}
		rs.Rules = append(rs.Rules, r)
		slots[r.ID] = slot
	}
	if len(rs.Rules) != int(conf.Nrules) {
		return nil, nil, fmt.Errorf("live state is inconsistent: %d rule definitions, %d rules classified", len(rs.Rules), conf.Nrules)
	}
	rs.Rules = rules.Sorted(rs.Rules)
	return rs, slots, nil
}
