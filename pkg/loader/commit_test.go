package loader

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// addrEntriesIn reads every address-table entry: "gen G dir D prefix"
// to atom.
func addrEntriesIn(t *testing.T, m *xdpfwMaps) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	add := func(tag uint32, addr netip.Addr, bits int, atom uint32) {
		k := fmt.Sprintf("gen %d dir %d %s", tag&1, tag>>1, netip.PrefixFrom(addr, bits))
		if _, dup := out[k]; dup {
			t.Errorf("%s is in both the buckets and the trie", k)
		}
		out[k] = atom
	}
	b4, b6, err := readBuckets(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range b4 {
		add(uint32(k.tag), netip.AddrFrom4([4]byte(k.addr[:4])), int(k.len), uint32(k.atom))
	}
	for _, k := range b6 {
		add(uint32(k.tag), netip.AddrFrom16(k.addr), int(k.len), uint32(k.atom))
	}
	l4, err := keysOf[xdpfwAddr4LpmKey](m.Addr4Lpm)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range l4 {
		var atom uint32
		if err := m.Addr4Lpm.Lookup(&k, &atom); err != nil {
			t.Fatal(err)
		}
		add(uint32(k.Tag), netip.AddrFrom4(k.Addr), int(k.Prefixlen)-8, atom)
	}
	l6, err := keysOf[xdpfwAddr6LpmKey](m.Addr6Lpm)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range l6 {
		var atom uint32
		if err := m.Addr6Lpm.Lookup(&k, &atom); err != nil {
			t.Fatal(err)
		}
		add(uint32(k.Tag), netip.AddrFrom16(k.Addr), int(k.Prefixlen)-8, atom)
	}
	return out
}

// compiledAddrs is what generation gen's address tables hold for rs: its
// solo form's entries when it has one (writeTables).
func compiledAddrs(t *testing.T, gen uint32, rs *rules.Ruleset) map[string]uint32 {
	t.Helper()
	tab, err := classifier.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	if solo, ok := tab.Solo(); ok {
		tab = solo
	}
	out := map[string]uint32{}
	for dir, entries := range [][]classifier.PrefixAtom{tab.Src, tab.Dst} {
		for _, e := range entries {
			out[fmt.Sprintf("gen %d dir %d %s", gen, dir, e.Prefix)] = e.Atom
		}
	}
	return out
}

// randomAddrRuleset draws rules from few prefixes of every table kind
// (IPv4 and IPv6, host and shorter, source and destination), so
// successive rulesets share prefixes, between rules and between commits.
// Each family has more lengths than its hash takes, and a table holds
// sometimes fewer prefixes than hashMinPrefixes, sometimes more, so
// which prefixes go to the hash and which to the trie changes from
// commit to commit. A few rules name both a source and a destination, so
// some rulesets are written in solo form and some not.
func randomAddrRuleset(rng *rand.Rand, nextID *uint32) *rules.Ruleset {
	pool := []string{"10.1.2.3/32", "192.0.2.7/32", "2001:db8::1/128", "fd00::5/128", "0.0.0.0/0"}
	for i := range 12 {
		pool = append(pool, fmt.Sprintf("10.%d.0.0/%d", i, 8+4*(i%6)), fmt.Sprintf("2001:db8:%x::/%d", i, 32+8*(i%6)))
	}
	rs := &rules.Ruleset{Policy: rules.Pass}
	for range rng.IntN(40) {
		r := rules.Rule{ID: *nextID, Priority: uint32(rng.IntN(5)), Action: rules.Drop}
		*nextID++
		p := netip.MustParsePrefix(pool[rng.IntN(len(pool))]).Masked()
		switch rng.IntN(16) {
		case 0: // on two dimensions: the ruleset has no solo form
			r.Match.Src, r.Match.Dst = p, p
		case 1, 2, 3, 4, 5, 6, 7:
			r.Match.Src = p
		default:
			r.Match.Dst = p
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs
}

// TestCommitAddressEntries: after every commit, the address tables hold
// exactly the live ruleset's entries in the active generation and the
// previous ruleset's in the other, though commits delete only the
// entries of rules that changed. A commit that stopped half-way (marked
// generation, stray entries, a rewritten definition) is cleaned up by
// the next.
func TestCommitAddressEntries(t *testing.T) {
	s := openLive(t)
	rng := rand.New(rand.NewPCG(1, 2))
	nextID := uint32(1)
	prev := &rules.Ruleset{Policy: rules.Pass}
	solo := 0
	for i := range 60 {
		rs := randomAddrRuleset(rng, &nextID)
		if i%3 == 1 {
			// Keep some rules as they are, ids included: their stored
			// definitions are equal and their entries are not deleted.
			rs.Rules = append(rs.Rules, prev.Rules[:len(prev.Rules)/2]...)
		}
		if i%10 == 5 {
			stopHalfway(t, &s.maps)
		}
		if err := s.Replace(rs); err != nil {
			t.Fatal(err)
		}
		v, err := readView(&s.maps)
		if err != nil {
			t.Fatal(err)
		}
		if v.conf[v.active].Flags&layout.GfSolo != 0 {
			solo++
		}
		want := compiledAddrs(t, v.active, rs)
		maps.Copy(want, compiledAddrs(t, v.active^1, prev))
		if got := addrEntriesIn(t, &s.maps); !maps.Equal(got, want) {
			t.Fatalf("commit %d: address entries\n%v\nwant\n%v", i, got, want)
		}
		prev = rs
	}
	if solo == 0 || solo == 60 {
		t.Errorf("%d of 60 commits in solo form: want some of each", solo)
	}
}

// stopHalfway leaves the inactive generation as a commit stopped in the
// middle would: marked, with entries and a definition of a ruleset that
// never went live.
func stopHalfway(t *testing.T, m *xdpfwMaps) {
	t.Helper()
	v, err := readView(m)
	if err != nil {
		t.Fatal(err)
	}
	gen := v.active ^ 1
	if err := writeGenConf(m.GenConf, gen, &xdpfwGenConfig{Flags: gfWriting}); err != nil {
		t.Fatal(err)
	}
	var stray addrEntries
	// in both kinds of table: a generation's config says which it used
	stray.add(gen, 0, netip.MustParsePrefix("198.51.100.0/24"), 1, true)
	stray.add(gen, 0, netip.MustParsePrefix("198.51.0.0/16"), 1, false)
	stray.add(gen, 1, netip.MustParsePrefix("198.51.100.1/32"), 1, true)
	stray.add(gen, 0, netip.MustParsePrefix("2001:db8:99::/48"), 1, true)
	stray.add(gen, 0, netip.MustParsePrefix("2001:db8::/32"), 1, false)
	stray.add(gen, 1, netip.MustParsePrefix("2001:db8:99::1/128"), 1, true)
	if _, err := stray.put(m, gen); err != nil {
		t.Fatal(err)
	}
	def, err := encodeRule(rules.Rule{ID: 999999, Action: rules.Drop, Match: rules.Match{Src: netip.MustParsePrefix("198.51.100.0/24")}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeDefs(m, gen, &v.defs, map[uint32][]byte{999999: def}); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteKeysAbsent: deleting keys of which some are absent deletes
// the others, from hash maps (a batch stops at an absent key) and tries.
func TestDeleteKeysAbsent(t *testing.T) {
	s := openLive(t)
	var present, absent addrEntries
	for i := range 6 {
		present.add(1, 0, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), 1, false)
		absent.add(1, 0, netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i), 0, 0}), 16), 1, false)
	}
	if _, err := present.put(&s.maps, 1); err != nil {
		t.Fatal(err)
	}
	// Absent keys first, last and in between.
	var mixed addrEntries
	mixed.p4 = append(append(append([]xdpfwAddr4LpmKey{}, absent.p4[:3]...), present.p4...), absent.p4[3:]...)
	if err := mixed.delete(&s.maps); err != nil {
		t.Fatal(err)
	}
	for k := range addrEntriesIn(t, &s.maps) {
		if k[:5] == "gen 1" {
			t.Errorf("left behind: %s", k)
		}
	}
	// Hash maps: rule definitions, some absent.
	keys := []xdpfwRuleDefKey{{Id: 900001, Slot: 1}, {Id: 900002, Slot: 1}, {Id: 900003, Slot: 1}}
	if err := putAll(s.maps.RuleDefs, keys[1:2], []xdpfwRuleDefShort{{Len: 1, Gens: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := deleteKeys(s.maps.RuleDefs, keys); err != nil {
		t.Fatal(err)
	}
	var def xdpfwRuleDefShort
	if err := s.maps.RuleDefs.Lookup(&keys[1], &def); err == nil {
		t.Error("rule definition 900002 left behind")
	}
}

// TestCommitFullTurnover: full rulesets replaced by full rulesets of
// other rules, so rule_defs holds two full generations and a commit
// must remove the old definitions before it stores the new ones.
func TestCommitFullTurnover(t *testing.T) {
	s := openLive(t)
	id := uint32(1)
	for round := range 3 {
		rs := &rules.Ruleset{Policy: rules.Pass}
		for i := range rules.MaxRules {
			rs.Rules = append(rs.Rules, rules.Rule{ID: id, Priority: uint32(round), Action: rules.Drop,
				Match: rules.Match{Dport: rules.PortRange{Set: true, Lo: uint16(i), Hi: uint16(i)}}})
			id++
		}
		if err := s.Replace(rs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		live, err := s.Ruleset()
		if err != nil || len(live.Rules) != rules.MaxRules || live.Rules[0].ID != rs.Rules[0].ID {
			t.Fatalf("round %d: live ruleset %d rules, %v", round, len(live.Rules), err)
		}
	}
}
