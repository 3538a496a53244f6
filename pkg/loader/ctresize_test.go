package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ctFlows are flows put in the table by hand, as the egress learner
// would have learnt them.
func ctFlows(n int) ([]xdpfwCtKey, []xdpfwCtVal) {
	var keys []xdpfwCtKey
	var vals []xdpfwCtVal
	for i := range n {
		k := xdpfwCtKey{Family: 4, Proto: 6, Lport: uint16(40000 + i), Rport: 443}
		copy(k.Local[:], []byte{192, 0, 2, 1})
		copy(k.Remote[:], []byte{198, 51, 100, byte(i)})
		keys = append(keys, k)
		vals = append(vals, xdpfwCtVal{LastSeen: uint64(1000 + i), Kind: 1, Tcp: 3, Replied: 1})
	}
	return keys, vals
}

func ctRuleset(t *testing.T, section string) *rules.Ruleset {
	t.Helper()
	rs, err := rules.ParseYAML("ct.yaml", []byte("policy: pass\n"+section+"rules:\n  - {ct-state: established, action: pass}\n"), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestCTResize: an apply whose conntrack: max-flows differs from the
// table's size gives the state a table of that size, while an interface
// enforces the old ruleset, whether the resize runs to its end or is cut
// short at any of its points (then the next change finishes it): the
// interface and the egress learner end up on the pinned table, meta
// unmarked, the flows kept, and the size reads back as the ruleset's.
// The same size again makes no new table; no max-flows is the default.
func TestCTResize(t *testing.T) {
	for _, point := range []string{"", "ctresize:marked", "ctresize:maps", "ctresize:programs", "ctresize:attached"} {
		t.Run("cut at "+point, func(t *testing.T) {
			dir := privtest.PinDir(t)
			inThrowawayNetns(t, func() error {
				defer removeState(dir)
				s, err := attachedState(dir, "ctr0")
				if err != nil {
					return err
				}
				defer func() {
					if s != nil {
						s.Close()
					}
				}()
				keys, vals := ctFlows(50)
				if _, err := s.maps.Ct.BatchUpdate(keys, vals, nil); err != nil {
					return err
				}
				if err := s.maps.CtFrags.Put(&testFrag, &testFragExpiry); err != nil {
					return err
				}
				small := ctRuleset(t, "conntrack:\n  max-flows: 4096\n")
				if point != "" {
					cutShort(t, s, point, func(func(int, int)) { s.Apply(small) })
					s.Close()
					if s, err = Open(dir); err != nil {
						return err
					}
				}
				res, err := s.Apply(small)
				if err != nil {
					return fmt.Errorf("apply max-flows 4096: %w", err)
				}
				if !res.Committed {
					t.Errorf("apply of a new max-flows alone: %+v, want it committed (a change)", res)
				}
				if err := checkCTTable(s, "ctr0", 4096, keys, vals); err != nil {
					return err
				}
				live, err := s.RulesetWithSets()
				if err != nil {
					return err
				}
				if live.Conntrack.MaxFlows != 4096 || !strings.Contains(string(rules.FormatYAML(live)), "max-flows: 4096") {
					t.Errorf("the live ruleset's conntrack %+v, saved as:\n%s\nwant max-flows: 4096", live.Conntrack, rules.FormatYAML(live))
				}
				checkEgressRecorded(t, s, "ctr0")
				// A test-run instance on the live maps: a table of the
				// live one's size, as the model of the live ruleset has.
				tr, err := s.NewInstance(false)
				if err != nil {
					return err
				}
				if n := tr.objs.Ct.MaxEntries(); n != 4096 {
					t.Errorf("an instance of the live state has a table of %d flows, want 4096", n)
				}
				tr.Close()
				// The same size: the same table.
				before := tableID(s.maps.Ct)
				if _, err := s.Apply(ctRuleset(t, "conntrack:\n  max-flows: 4096\n  timeouts: {udp: 40s}\n")); err != nil {
					return err
				}
				if after := tableID(s.maps.Ct); after != before {
					t.Errorf("an apply of the same max-flows made a new table (%d, was %d)", after, before)
				}
				// No max-flows: the default size, flows still kept.
				if _, err := s.Apply(ctRuleset(t, "")); err != nil {
					return err
				}
				if err := checkCTTable(s, "ctr0", layout.CtEntries, keys, vals); err != nil || point != "" {
					return err
				}
				// A ruleset that needs both the vectors grown and another
				// table size: both happen, in one apply.
				big := hostPortRules(1200, 2000)
				big.Conntrack.MaxFlows = 8192
				vecs := s.maps.Vectors.MaxEntries()
				if _, err := s.Apply(big); err != nil {
					return fmt.Errorf("apply 1200 rules with max-flows 8192: %w", err)
				}
				if n := s.maps.Vectors.MaxEntries(); n <= vecs {
					t.Errorf("vectors map of %d entries after 1200 rules, %d before: it did not grow", n, vecs)
				}
				return checkCTTable(s, "ctr0", 8192, keys, vals)
			})
		})
	}
}

// testFrag is a fragment record put in the table by hand, as a first
// fragment of an established datagram would have.
var (
	testFrag       = xdpfwCtFragKey{Family: 4, Proto: 17, Id: 4242, Src: [16]byte{198, 51, 100, 7}, Dst: [16]byte{192, 0, 2, 1}}
	testFragExpiry = uint64(1 << 40)
)

// checkCTTable: the resize is over (checkReplaced), the pinned table of
// size flows holds keys with vals, and the fragments table, of the size
// that goes with it, testFrag.
func checkCTTable(s *State, iface string, flows uint32, keys []xdpfwCtKey, vals []xdpfwCtVal) error {
	if err := checkReplaced(s, iface, s.maps.Ct); err != nil {
		return err
	}
	if n := s.maps.Ct.MaxEntries(); n != flows {
		return fmt.Errorf("conntrack table of %d flows, want %d", n, flows)
	}
	if n, want := s.maps.CtFrags.MaxEntries(), rules.CTFragsFor(flows); n != want {
		return fmt.Errorf("fragments table of %d datagrams beside %d flows, want %d", n, flows, want)
	}
	var exp uint64
	if err := s.maps.CtFrags.Lookup(&testFrag, &exp); err != nil || exp != testFragExpiry {
		return fmt.Errorf("fragment record after the resize: %d (%v), want %d", exp, err, testFragExpiry)
	}
	for i, k := range keys {
		var v xdpfwCtVal
		if err := s.maps.Ct.Lookup(&k, &v); err != nil || v != vals[i] {
			return fmt.Errorf("flow %d: %+v (%v), want %+v", i, v, err, vals[i])
		}
	}
	return nil
}

// tableID is the kernel's id of a map.
func tableID(m *ebpf.Map) ebpf.MapID {
	info, err := m.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return id
}

// TestCTResizeInstance: a test-run instance takes the ruleset's table
// size, as the model does; shrunk below what it holds, the table keeps
// the flows seen most recently.
func TestCTResizeInstance(t *testing.T) {
	privtest.Require(t)
	rs := ctRuleset(t, "conntrack:\n  max-flows: 2048\n")
	x, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if n := x.objs.Ct.MaxEntries(); n != 2048 {
		t.Errorf("instance table of %d flows, want 2048", n)
	}
	if c := model.CTConfigOf(rs).Capacity; c != 2048 {
		t.Errorf("the model's table holds %d flows, want 2048", c)
	}
	if n, m := x.objs.CtFrags.MaxEntries(), model.CTConfigOf(rs).FragCapacity; n != layout.CtFragMin || m != int(n) {
		t.Errorf("instance fragments table of %d datagrams, the model's %d; want both %d", n, m, layout.CtFragMin)
	}
	if err := x.Load(ctRuleset(t, "")); err != nil {
		t.Fatal(err)
	}
	if n := x.objs.Ct.MaxEntries(); n != layout.CtEntries {
		t.Errorf("instance table of %d flows after a ruleset without max-flows, want %d", n, layout.CtEntries)
	}
	if n := x.objs.CtFrags.MaxEntries(); n != layout.CtFragEntries {
		t.Errorf("instance fragments table of %d datagrams after a ruleset without max-flows, want %d", n, layout.CtFragEntries)
	}
	// Grown and resized in one load.
	big := hostPortRules(1200, 2000)
	big.Conntrack.MaxFlows = 4096
	if err := x.Load(big); err != nil {
		t.Fatalf("load 1200 rules with max-flows 4096: %v", err)
	}
	if n := x.objs.Ct.MaxEntries(); n != 4096 {
		t.Errorf("instance table of %d flows after 1200 rules with max-flows 4096", n)
	}
	// 3000 flows, the last seen last; shrunk to 1024.
	keys, vals := ctFlows(3000)
	if _, err := x.objs.Ct.BatchUpdate(keys, vals, nil); err != nil {
		t.Fatal(err)
	}
	if err := x.Load(ctRuleset(t, "conntrack:\n  max-flows: 1024\n")); err != nil {
		t.Fatal(err)
	}
	for i := len(keys) - 256; i < len(keys); i++ {
		var v xdpfwCtVal
		if err := x.objs.Ct.Lookup(&keys[i], &v); err != nil || v != vals[i] {
			t.Fatalf("flow %d of the 256 seen last: %+v (%v), want it kept", i, v, err)
		}
	}
}

// TestMergeFlow: a flow both tables saw during a resize keeps its later
// sighting, a reply either saw, the furthest TCP state and the highest
// acknowledgement.
func TestMergeFlow(t *testing.T) {
	var defaults rules.Conntrack
	est := xdpfwCtVal{LastSeen: 100, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
	syn := xdpfwCtVal{LastSeen: 200, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent}
	want := xdpfwCtVal{LastSeen: 200, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
	for _, got := range []xdpfwCtVal{mergeFlow(est, syn, defaults), mergeFlow(syn, est, defaults)} {
		if got != want {
			t.Errorf("merge: %+v, want %+v", got, want)
		}
	}
	// The handshake in one table, the host's ACK past it picked up in
	// the other: answered, as the learner makes it seeing both (else
	// timed as a SYN sent); a stray ACK before a SYN proves nothing.
	for _, hs := range []uint8{layout.CtTcpSynSent, layout.CtTcpSynRecv} {
		h := xdpfwCtVal{LastSeen: 100, Kind: layout.CtKindTcp, Tcp: hs}
		picked := xdpfwCtVal{LastSeen: 150, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished}
		want := xdpfwCtVal{LastSeen: 150, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
		for _, got := range []xdpfwCtVal{mergeFlow(h, picked, defaults), mergeFlow(picked, h, defaults)} {
			if got != want {
				t.Errorf("merge of TCP state %d and a later pickup: %+v, want %+v", hs, got, want)
			}
		}
		h.LastSeen = 200
		if got := mergeFlow(h, picked, defaults); got.Replied != 0 {
			t.Errorf("merge of a pickup and a later TCP state %d: %+v, want not replied", hs, got)
		}
	}
	// The host's highest acknowledgement in sequence space, whichever
	// record saw it: the later sighting may be a packet coming in.
	for _, acks := range [][2]uint32{{5000, 4000}, {0x100, 0xffffff00}} {
		hi := xdpfwCtVal{LastSeen: 100, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1, AckKind: layout.CtAckSent, Ack: acks[0]}
		lo := hi
		lo.LastSeen, lo.Ack = 200, acks[1]
		for _, got := range []xdpfwCtVal{mergeFlow(hi, lo, defaults), mergeFlow(lo, hi, defaults)} {
			if got.Ack != acks[0] || got.AckKind != layout.CtAckSent || got.LastSeen != 200 {
				t.Errorf("merge of acknowledgements %#x (seen first) and %#x: %+v, want %#x kept, last seen 200", acks[0], acks[1], got, acks[0])
			}
		}
	}
	// A SYN and an acknowledgement, or two SYNs: which the host sent
	// last is unknown (a record's later sighting may be a packet coming
	// in, the host's ACK after its SYN seen by the other table), so
	// nothing is kept, whichever record was seen later. One SYN both saw
	// stays, as does what the one record that kept anything kept.
	est = xdpfwCtVal{LastSeen: 100, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, AckKind: layout.CtAckSent, Ack: 5000}
	syn = xdpfwCtVal{LastSeen: 200, Kind: layout.CtKindTcp, AckKind: layout.CtAckSyn, Ack: 1000}
	syn2 := syn
	syn2.LastSeen, syn2.Ack = 50, 3000
	none := xdpfwCtVal{LastSeen: 300, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished}
	for _, c := range []struct {
		name string
		a, b xdpfwCtVal
		kind uint8
		ack  uint32
	}{
		{"an acknowledgement and a later SYN", est, syn, layout.CtAckNone, 0},
		{"two SYNs", syn, syn2, layout.CtAckNone, 0},
		{"one SYN both saw", syn, syn, layout.CtAckSyn, 1000},
		{"an acknowledgement and a later record of none", est, none, layout.CtAckSent, 5000},
		{"a SYN and a later record of none", syn, none, layout.CtAckSyn, 1000},
	} {
		for _, got := range []xdpfwCtVal{mergeFlow(c.a, c.b, defaults), mergeFlow(c.b, c.a, defaults)} {
			if got.AckKind != c.kind || got.Ack != c.ack {
				t.Errorf("merge of %s: %+v, want ack kind %d, ack %d", c.name, got, c.kind, c.ack)
			}
		}
	}
	// A connection closed, timed out, then opened again on the same
	// ports during the resize: the new one's records stand alone, where
	// merged it took the closed one's state (closed, replied).
	closeTO := uint64(defaults.Timeout(layout.CtToClose))
	closed := xdpfwCtVal{LastSeen: 1000, Kind: layout.CtKindTcp, Tcp: layout.CtTcpClose, Replied: 1, AckKind: layout.CtAckSent, Ack: 7}
	reopened := xdpfwCtVal{LastSeen: 1000 + closeTO + 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent, AckKind: layout.CtAckSyn, Ack: 99}
	for _, got := range []xdpfwCtVal{mergeFlow(closed, reopened, defaults), mergeFlow(reopened, closed, defaults)} {
		if got != reopened {
			t.Errorf("merge of a flow timed out and the same ports' new connection: %+v, want the new one alone %+v", got, reopened)
		}
	}
	// Within the timeout, the same flow: merged as above.
	reopened.LastSeen = 1000 + closeTO
	if got := mergeFlow(closed, reopened, defaults); got.Tcp != layout.CtTcpClose || got.Replied != 1 {
		t.Errorf("merge within the timeout: %+v, want merged (closed, replied)", got)
	}
	udp := xdpfwCtVal{LastSeen: 50, Kind: layout.CtKindUdp}
	if got := mergeFlow(udp, xdpfwCtVal{LastSeen: 40, Kind: layout.CtKindUdp, Replied: 1}, defaults); got.LastSeen != 50 || got.Replied != 1 {
		t.Errorf("udp merge: %+v, want last seen 50, replied", got)
	}
}

// TestCopyNewer: after the switch, what the old table saw from the start
// of the copy on reaches the new table, merged with what the new one saw
// itself; older flows are not copied again (the first copy had them).
func TestCopyNewer(t *testing.T) {
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	old, ct := sizedMap(t, spec, xdpfwMapCt, rules.MinCTFlows), sizedMap(t, spec, xdpfwMapCt, rules.MinCTFlows)
	keys, _ := ctFlows(3)
	put := func(m *ebpf.Map, k xdpfwCtKey, v xdpfwCtVal) {
		if err := m.Put(&k, &v); err != nil {
			t.Fatal(err)
		}
	}
	const start = 1000
	put(old, keys[0], xdpfwCtVal{LastSeen: start - 1, Kind: layout.CtKindUdp})                                          // before the copy
	put(old, keys[1], xdpfwCtVal{LastSeen: start + 5, Kind: layout.CtKindUdp})                                          // learnt meanwhile
	put(old, keys[2], xdpfwCtVal{LastSeen: start + 9, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent})                // refreshed in the old
	put(ct, keys[2], xdpfwCtVal{LastSeen: start + 7, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}) // and in the new
	if _, _, err := copyNewer(old, ct, start, &ctCopied{}, rules.Conntrack{}); err != nil {
		t.Fatal(err)
	}
	var v xdpfwCtVal
	if err := ct.Lookup(&keys[0], &v); err == nil {
		t.Errorf("a flow last seen before the copy began was copied again: %+v", v)
	}
	if err := ct.Lookup(&keys[1], &v); err != nil || v.LastSeen != start+5 {
		t.Errorf("a flow learnt during the resize: %+v (%v), want it copied", v, err)
	}
	want := xdpfwCtVal{LastSeen: start + 9, Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
	if err := ct.Lookup(&keys[2], &v); err != nil || v != want {
		t.Errorf("a flow both tables saw: %+v (%v), want %+v", v, err, want)
	}
}

// TestCopyFrags: a fragment record reaches the new table unless that
// holds one of the same datagram expiring no sooner.
func TestCopyFrags(t *testing.T) {
	privtest.Require(t)
	spec, err := objectSpec()
	if err != nil {
		t.Fatal(err)
	}
	old, frags := sizedMap(t, spec, xdpfwMapCtFrags, layout.CtFragMin), sizedMap(t, spec, xdpfwMapCtFrags, layout.CtFragMin)
	key := func(id uint32) xdpfwCtFragKey { k := testFrag; k.Id = id; return k }
	put := func(m *ebpf.Map, id uint32, exp uint64) {
		k := key(id)
		if err := m.Put(&k, &exp); err != nil {
			t.Fatal(err)
		}
	}
	put(old, 1, 50)   // only in the old
	put(old, 2, 90)   // later in the old
	put(frags, 2, 70) //
	put(old, 3, 20)   // later in the new
	put(frags, 3, 80) //
	put(frags, 4, 30) // only in the new
	if err := copyFrags(old, frags); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint32]uint64{1: 50, 2: 90, 3: 80, 4: 30} {
		var got uint64
		k := key(id)
		if err := frags.Lookup(&k, &got); err != nil || got != want {
			t.Errorf("datagram %d: expiry %d (%v), want %d", id, got, err, want)
		}
	}
}

// sizedMap is a new map of the object's map name, of entries entries,
// closed with the test.
func sizedMap(t *testing.T, spec *ebpf.CollectionSpec, name string, entries uint32) *ebpf.Map {
	t.Helper()
	ms := spec.Maps[name].Copy()
	ms.MaxEntries = entries
	m, err := ebpf.NewMap(ms)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestCTDefaultSizeSaid: a ruleset that reads no connection state and
// says max-flows: 262144, the default's size, gets a whole table (it was
// taken for no max-flows, so idle: 1000 flows), saved with its
// max-flows, and kept whole by a rule added and an apply of the saved
// file; a drop policy reading the table has it as the default, saved
// without.
func TestCTDefaultSizeSaid(t *testing.T) {
	s := openLive(t)
	inThrowawayNetns(t, func() error {
		parse := func(text string) *rules.Ruleset {
			rs, err := rules.ParseYAML("ct.yaml", []byte(text), rules.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		check := func(what string, saved bool) error {
			if n := s.maps.Ct.MaxEntries(); n != layout.CtEntries {
				t.Errorf("%s: a table of %d flows, want %d", what, n, layout.CtEntries)
			}
			live, err := s.RulesetWithSets()
			if err != nil {
				return err
			}
			text := string(rules.FormatYAML(live))
			if strings.Contains(text, "max-flows: 262144") != saved {
				t.Errorf("%s: saved as\n%s\nwant max-flows: 262144 %s", what, text, map[bool]string{true: "in it", false: "left out"}[saved])
			}
			if again := parse(text); again.CTFlows() != layout.CtEntries {
				t.Errorf("%s: the saved file runs with a table of %d flows", what, again.CTFlows())
			}
			return nil
		}
		if _, err := s.Apply(parse("policy: pass\nconntrack: {max-flows: 262144}\nrules: []\n")); err != nil {
			return err
		}
		if err := check("policy pass, max-flows 262144", true); err != nil {
			return err
		}
		if _, err := s.AddRule(rules.Rule{Priority: rules.DefaultPriority, Action: rules.Drop, Match: rules.Match{Dport: rules.PortRange{Lo: 23, Hi: 23}}}); err != nil {
			return err
		}
		if err := check("a rule added", true); err != nil {
			return err
		}
		if _, err := s.Apply(parse("policy: drop\nconntrack: {max-flows: 262144}\nrules: []\n")); err != nil {
			return err
		}
		return check("policy drop, max-flows 262144", false)
	})
}

// TestCTResizeCutShort: an apply whose table resize went through but
// whose rules never switched (killed between, as TestApplyKilled can)
// leaves the live ruleset reading back as it was applied, max-flows
// included, not as the table's new size would say it.
func TestCTResizeCutShort(t *testing.T) {
	s := openLive(t)
	inThrowawayNetns(t, func() error {
		for _, c := range []struct {
			file  string
			cut   uint32 // the size a resize cut short leaves
			flows uint32 // the live ruleset's max-flows
		}{
			{"policy: pass\nrules: []\n", layout.CtEntries, 0},
			{"policy: pass\nconntrack: {max-flows: 262144}\nrules: []\n", layout.CtIdleEntries, layout.CtEntries},
			{"policy: drop\nconntrack: {max-flows: 16384}\nrules: []\n", layout.CtEntries, 16384},
		} {
			rs, err := rules.ParseYAML("ct.yaml", []byte(c.file), rules.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Apply(rs); err != nil {
				return err
			}
			if err := s.resizeCT(c.cut); err != nil {
				return err
			}
			live, err := s.RulesetWithSets()
			if err != nil {
				return err
			}
			if live.Conntrack.MaxFlows != c.flows {
				t.Errorf("%q with a table of %d flows left by a cut resize: max-flows %d, want %d", c.file, c.cut, live.Conntrack.MaxFlows, c.flows)
			}
		}
		return nil
	})
}

// TestCTMaxFlowsSavedAsLive: after a rule add, rule del or policy change
// that changes whether the ruleset reads connection state, the live
// ruleset reads back as its saved file parses, max-flows included, so an
// apply of what save printed changes nothing, and what the table is then
// does not depend on whether the file was applied in between. A change
// kept max-flows: 262144 beside a ct-state rule or a drop policy, where
// the parser takes it for the default: the saved file's apply was a
// change, after which a rule del made the table idle where it had kept
// it whole.
func TestCTMaxFlowsSavedAsLive(t *testing.T) {
	s := openLive(t)
	inThrowawayNetns(t, func() error {
		ctRule := rules.Rule{Priority: rules.DefaultPriority, Action: rules.Drop, Match: rules.Match{CTState: rules.CTNew}}
		for _, c := range []struct {
			file   string
			change func() error
		}{
			{"policy: pass\nconntrack: {max-flows: 262144}\nrules: []\n", func() error { _, err := s.AddRule(ctRule); return err }},
			{"policy: pass\nconntrack: {max-flows: 262144}\nrules: []\n", func() error { _, err := s.SetPolicy(rules.Drop); return err }},
			{"policy: drop\nconntrack: {max-flows: 262144}\nrules: []\n", func() error { _, err := s.SetPolicy(rules.Pass); return err }},
			{"policy: pass\nconntrack: {max-flows: 1024}\nrules: []\n", func() error { _, err := s.AddRule(ctRule); return err }},
			{"policy: pass\nrules: []\n", func() error { _, err := s.AddRule(ctRule); return err }},
			{"policy: pass\nconntrack: {max-flows: 262144}\nrules: [{dport: 23, ct-state: new, action: drop}]\n", func() error {
				live, err := s.Ruleset()
				if err != nil {
					return err
				}
				return s.DeleteRules([]uint32{live.Rules[0].ID})
			}},
		} {
			rs, err := rules.ParseYAML("ct.yaml", []byte(c.file), rules.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Apply(rs); err != nil {
				return err
			}
			if err := c.change(); err != nil {
				return err
			}
			live, err := s.RulesetWithSets()
			if err != nil {
				return err
			}
			text := rules.FormatYAML(live)
			saved, err := rules.ParseYAML("saved.yaml", text, rules.FileOptions{})
			if err != nil {
				return fmt.Errorf("%q changed, saved as\n%s\nparse: %w", c.file, text, err)
			}
			if saved.Conntrack != live.Conntrack {
				t.Errorf("%q changed: the live ruleset has %+v, its saved file\n%s\nparses to %+v", c.file, live.Conntrack, text, saved.Conntrack)
			}
			res, err := s.Apply(saved)
			if err != nil {
				return err
			}
			if res.Committed {
				t.Errorf("%q changed: an apply of its saved file\n%s\nwas a change", c.file, text)
			}
		}
		return nil
	})
}
