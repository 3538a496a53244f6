package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

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
	if err := m.Active.Put(uint32(0), next); err != nil {
		return fmt.Errorf("switch to generation %d: %w", next, err)
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
	if err := deleteWhere(m.Addr4Host, func(k *xdpfwAddr4HostKey) bool { return k.Tag&1 == gen }); err != nil {
		return err
	}
	if err := deleteWhere(m.Addr6Host, func(k *xdpfwAddr6HostKey) bool { return k.Tag&1 == gen }); err != nil {
		return err
	}
	if err := deleteWhere(m.Addr4Lpm, func(k *xdpfwAddr4LpmKey) bool { return uint32(k.Tag)&1 == gen }); err != nil {
		return err
	}
	if err := deleteWhere(m.Addr6Lpm, func(k *xdpfwAddr6LpmKey) bool { return uint32(k.Tag)&1 == gen }); err != nil {
		return err
	}
	return deleteWhere(m.RuleDefs, func(k *xdpfwRuleDefKey) bool { return k.Gen == gen })
}

// deleteWhere collects the matching keys first: deleting while iterating
// would make the iteration restart or skip.
func deleteWhere[K any](m *ebpf.Map, match func(*K) bool) error {
	var (
		k    K
		keys []K
	)
	it := m.Iterate()
	for it.Next(&k, new([]byte)) {
		if match(&k) {
			keys = append(keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %v: %w", m, err)
	}
	for i := range keys {
		if err := m.Delete(&keys[i]); err != nil {
			return fmt.Errorf("delete from %v: %w", m, err)
		}
	}
	return nil
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

	keys := make([]uint32, rules.ProtoKeys)
	for k := range keys {
		keys[k] = gen*rules.ProtoKeys + uint32(k)
	}
	if err := batchUpdate(m.ProtoAtoms, keys, t.Proto[:]); err != nil {
		return err
	}

	if t.Sport != nil || t.Dport != nil {
		flags |= gfPorts
		for dir, table := range [][]uint32{t.Sport, t.Dport} {
			if table == nil {
				table = make([]uint32, 65536)
			}
			keys := make([]uint32, 65536)
			for p := range keys {
				keys[p] = (gen*2+uint32(dir))<<16 | uint32(p)
			}
			if err := batchUpdate(m.PortAtoms, keys, table); err != nil {
				return err
			}
		}
	}

	for f, vecs := range t.Vectors {
		keys := make([]uint32, len(vecs))
		vals := make([]xdpfwBitvec, len(vecs))
		for a := range vecs {
			keys[a] = gen*vecPerGen + vecBase[f] + uint32(a)
			vals[a] = xdpfwBitvec{Summary: vecs[a].Summary(), Words: vecs[a]}
		}
		if err := batchUpdate(m.Vectors, keys, vals); err != nil {
			return err
		}
	}

	keys = make([]uint32, len(t.Order))
	ranks := make([]xdpfwRankEntry, len(t.Order))
	for r, rule := range t.Order {
		keys[r] = gen*rules.MaxRules + uint32(r)
		ranks[r] = xdpfwRankEntry{RuleId: rule.ID, Slot: slots[rule.ID], Action: uint32(rule.Action)}
	}
	if err := batchUpdate(m.Ranks, keys, ranks); err != nil {
		return err
	}

	for _, rule := range t.Order {
		b, err := rules.EncodeRule(rule, slots[rule.ID])
		if err != nil {
			return err
		}
		def := xdpfwRuleDef{Len: uint32(len(b))}
		copy(def.Data[:], b)
		if err := m.RuleDefs.Put(xdpfwRuleDefKey{Gen: gen, Id: rule.ID}, &def); err != nil {
			return fmt.Errorf("store rule %d: %w", rule.ID, err)
		}
	}

	conf := xdpfwGenConf{Policy: uint32(t.Policy), Nrules: uint32(len(t.Order)), Flags: flags}
	if err := m.GenConf.Put(gen, &conf); err != nil {
		return fmt.Errorf("write generation config: %w", err)
	}
	return nil
}

// writeAddrs puts host prefixes in the hash maps and the rest in the LPM
// tries, and reports which of the four tables it used (gf*Src* bits).
func writeAddrs(m *xdpfwMaps, gen uint32, dir int, entries []rules.PrefixAtom) (uint32, error) {
	var flags uint32
	tag := addrTag(gen, dir)
	for _, e := range entries {
		var err error
		addr, bits := e.Prefix.Addr(), e.Prefix.Bits()
		switch {
		case addr.Is4() && bits == 32:
			flags |= gfSrc4Host
			err = m.Addr4Host.Put(xdpfwAddr4HostKey{Tag: uint32(tag), Addr: addr.As4()}, e.Atom)
		case addr.Is4():
			flags |= gfSrc4LPM
			err = m.Addr4Lpm.Put(xdpfwAddr4LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As4()}, e.Atom)
		case bits == 128:
			flags |= gfSrc6Host
			err = m.Addr6Host.Put(xdpfwAddr6HostKey{Tag: uint32(tag), Addr: addr.As16()}, e.Atom)
		default:
			flags |= gfSrc6LPM
			err = m.Addr6Lpm.Put(xdpfwAddr6LpmKey{Prefixlen: 8 + uint32(bits), Tag: tag, Addr: addr.As16()}, e.Atom)
		}
		if err != nil {
			return 0, fmt.Errorf("add %s: %w", e.Prefix, mapFull(err))
		}
	}
	return flags, nil
}

func batchUpdate[V any](m *ebpf.Map, keys []uint32, vals []V) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		return fmt.Errorf("update %v: %w", m, mapFull(err))
	}
	return nil
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
	rs := &rules.Ruleset{Policy: rules.Action(conf.Policy)}
	slots := map[uint32]uint32{}
	var (
		k   xdpfwRuleDefKey
		def xdpfwRuleDef
	)
	it := m.RuleDefs.Iterate()
	for it.Next(&k, &def) {
		if k.Gen != gen {
			continue
		}
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
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("read rules: %w", err)
	}
	if len(rs.Rules) != int(conf.Nrules) {
		return nil, nil, fmt.Errorf("live state is inconsistent: %d rule definitions, %d rules classified", len(rs.Rules), conf.Nrules)
	}
	rs.Rules = rules.Sorted(rs.Rules)
	return rs, slots, nil
}
