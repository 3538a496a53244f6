package loader

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The conntrack table's size is the ruleset's (conntrack: max-flows, or
// idle or whole by whether it reads connection state: rules.Ruleset.CTFlows);
// the pinned map is the one record of it. A map's size is fixed when it is
// made, so a change of size makes a new table, copies the flows into it,
// and gives the programs that use it (XDP and the egress learner) to
// every interface, the way the rule vectors grow (grow.go).

// CTResizeNotice, when set, is told that a change gave the state in dir a
// conntrack table of flows entries and a fragments table of frags (one or
// both of a new size), and the programs that use them to the interfaces
// that ran the state's (their ids change; reach counts them), with
// sockets of this host's TCP connections put in that the old
// table had no record of (ctseed.go; -1: the kernel would not list them),
// so the CLI can say so.
var CTResizeNotice func(dir string, flows, frags uint32, sockets int, reach Reach)

// ctResize is a commit's refusal when the ruleset asks for a table of
// another size: changeGrowing resizes it and runs the change again.
type ctResize struct {
	flows uint32
}

func (e *ctResize) Error() string {
	return fmt.Sprintf("the conntrack table must be resized to %d flows first", e.flows)
}

// ctSized reports whether m's conntrack tables are the sizes rs runs
// with (rules.Ruleset.CTFlows): the flows', and the fragments' that goes
// with it. A ruleset that starts or stops reading connection state
// changes the size too (idle or whole) unless its file sets max-flows.
func ctSized(m *xdpfwMaps, rs *rules.Ruleset) bool {
	return m.Ct.MaxEntries() == rs.CTFlows() && m.CtFrags.MaxEntries() == rs.CTFrags()
}

// resizeCT replaces the conntrack table with one of flows entries,
// and the fragments table with one of the size that goes with it,
// keeping their records, while the live ones keep serving every packet:
//
//  1. meta is marked (metaGrowing), through the write path: the next
//     change finishes a replacement cut short before anything else, by
//     loading the programs again on the pinned maps, whichever table is
//     pinned (grow);
//  2. a new table is made and the flows copied into it, least recently
//     seen first, so a smaller table keeps the most recent; then, unless
//     it is idle, this host's established TCP connections it has no
//     record of (ctseed.go); the fragments' records as the flows;
//  3. to 5. as a migration's (replaceBuild): the programs loaded on it,
//     its pin over the old table's, the programs' pins over theirs, and
//     every interface given the new programs, the egress learner too;
//  6. the flows the old table learnt or refreshed since step 2 began are
//     merged into the new one (copyNewer), and the fragments' records
//     (copyFrags); the flows put into the new table, less the old one's
//     and the copies of those it evicted meanwhile, are counted as placed
//     (countCTChange);
//  7. the mark is cleared, with the egress hooks recorded.
//
// The change that asked for the size commits after this; if it then
// fails, the table keeps its new size under the old rules (a size is not
// a rule: nothing opens or closes by it).
func (s *State) resizeCT(flows uint32) error {
	if err := s.markReplacing(); err != nil {
		return err
	}
	s.reached("ctresize:marked")
	spec, err := objectSpec()
	if err != nil {
		return err
	}
	// Clones: the replacement closes the state's handles.
	old, err := s.maps.Ct.Clone()
	if err != nil {
		return err
	}
	defer old.Close()
	oldFrags, err := s.maps.CtFrags.Clone()
	if err != nil {
		return err
	}
	defer oldFrags.Close()
	start, err := ctClock()
	if err != nil {
		return err
	}
	ct, copied, err := newCTTable(spec, old, flows)
	if err != nil {
		return err
	}
	defer ct.Close()
	sockets := 0
	if flows != layout.CtIdleEntries {
		if sockets, err = seedSockets(ct, uint64(start), false); err != nil {
			return err
		}
	}
	frags, err := newFragsTable(spec, oldFrags, flows)
	if err != nil {
		return err
	}
	defer frags.Close()
	// Sorted before the switch: from it until copyNewer, the new table
	// lacks the flows learnt or refreshed since the copy.
	copied.byKey()
	hooks, reach, err := s.replaceBuild(spec, map[string]*ebpf.Map{xdpfwMapCt: ct, xdpfwMapCtFrags: frags}, "ctresize", false)
	if err != nil {
		return err
	}
	timeouts, err := ctInEffect(&s.maps)
	if err != nil {
		return err
	}
	merged, held, err := copyNewer(old, ct, uint64(start), copied, timeouts)
	if err != nil {
		return err
	}
	if err := copyFrags(oldFrags, frags); err != nil {
		return err
	}
	end, err := ctClock()
	if err != nil {
		return err
	}
	// Every flow put into the new table, less the old table's, gone with
	// it, and less the copies of flows the old one evicted since the
	// copy (counted evicted there, though the new table has them): what
	// the new one dropped (its size, or its being full as a flow went
	// in) is then counted as evicted, once, and nothing else is.
	placed := copied.Len() + max(sockets, 0) + merged - held - copied.evicted(end, timeouts)
	if err := countCTChange(&s.maps, int64(placed), 0); err != nil {
		return err
	}
	err = s.replaced(hooks)
	if err == nil && CTResizeNotice != nil {
		CTResizeNotice(s.dir, flows, rules.CTFragsFor(flows), sockets, reach)
	}
	return err
}

// resizeCT gives an instance a table of flows entries, its flows kept.
// Nothing runs an instance's programs while it loads a ruleset.
func (t *Instance) resizeCT(flows uint32) error {
	spec, err := objectSpec()
	if err != nil {
		return err
	}
	ct, _, err := newCTTable(spec, t.objs.Ct, flows)
	if err != nil {
		return err
	}
	defer ct.Close()
	frags, err := newFragsTable(spec, t.objs.CtFrags, flows)
	if err != nil {
		return err
	}
	defer frags.Close()
	return t.replaceMaps(map[string]*ebpf.Map{xdpfwMapCt: ct, xdpfwMapCtFrags: frags})
}

// newCTTable is a table of flows entries holding old's flows, put in
// least recently seen first: a table too small for them all drops those
// (the LRU evicts what went in first). copied is the flows that went
// in, those dropped too.
func newCTTable(spec *ebpf.CollectionSpec, old *ebpf.Map, flows uint32) (ct *ebpf.Map, copied *ctCopied, err error) {
	var keys []xdpfwCtKey
	var vals []xdpfwCtVal
	err = forEachBatch(old, 256, func(k []xdpfwCtKey, v []xdpfwCtVal) error {
		keys, vals = append(keys, k...), append(vals, v...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return vals[order[a]].LastSeen < vals[order[b]].LastSeen })
	ms := spec.Maps[xdpfwMapCt].Copy()
	ms.MaxEntries = flows
	ct, err = ebpf.NewMap(ms)
	if err != nil {
		return nil, nil, fmt.Errorf("create a conntrack table of %d flows: %w", flows, err)
	}
	const batch = 256
	bk, bv := make([]xdpfwCtKey, 0, batch), make([]xdpfwCtVal, 0, batch)
	for n, i := range order {
		bk, bv = append(bk, keys[i]), append(bv, vals[i])
		if len(bk) == batch || n == len(order)-1 {
			if _, err := ct.BatchUpdate(bk, bv, nil); err != nil {
				ct.Close()
				return nil, nil, fmt.Errorf("copy flows: %w", err)
			}
			bk, bv = bk[:0], bv[:0]
		}
	}
	return ct, &ctCopied{keys: keys, vals: vals}, nil
}

// newFragsTable is the fragments table that goes with a table of flows
// entries (rules.CTFragsFor), holding old's records. A smaller one keeps
// some: each lives seconds (a datagram's fragments), and a later fragment
// whose record is gone is judged as one of a flow it cannot place.
func newFragsTable(spec *ebpf.CollectionSpec, old *ebpf.Map, flows uint32) (*ebpf.Map, error) {
	ms := spec.Maps[xdpfwMapCtFrags].Copy()
	ms.MaxEntries = rules.CTFragsFor(flows)
	frags, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create a fragments table of %d datagrams: %w", ms.MaxEntries, err)
	}
	if err := copyFrags(old, frags); err != nil {
		frags.Close()
		return nil, err
	}
	return frags, nil
}

// copyFrags puts old's fragment records into frags, where frags has none
// of the datagram or one that expires sooner.
func copyFrags(old, frags *ebpf.Map) error {
	return forEachBatch(old, 256, func(keys []xdpfwCtFragKey, exp []uint64) error {
		for i := range keys {
			var cur uint64
			if err := frags.Lookup(&keys[i], &cur); err == nil && cur >= exp[i] {
				continue
			}
			if err := frags.Put(&keys[i], &exp[i]); err != nil {
				return fmt.Errorf("copy fragment records: %w", err)
			}
		}
		return nil
	})
}

// copyNewer merges into ct the flows old saw at or after start: those
// the old programs learnt or refreshed while the new ones were being
// given to the interfaces. ct may have seen them since too (the datapath
// writes ct now), so the two records merge (mergeFlow). added is how
// many flows ct had no record of (only an insert where there is none
// tells, the datapath inserting too), held how many old has: the flows
// that go with it; copied, sorted by key, is told which of its flows
// old still holds.
func copyNewer(old, ct *ebpf.Map, start uint64, copied *ctCopied, timeouts rules.Conntrack) (added, held int, err error) {
	err = forEachBatch(old, 256, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
		held += len(keys)
		for i, k := range keys {
			copied.stillHeld(&k)
			if vals[i].LastSeen < start {
				continue
			}
			in, err := mergeInto(ct, &k, &vals[i], timeouts)
			if err != nil {
				return fmt.Errorf("copy flow: %w", err)
			}
			if in {
				added++
			}
		}
		return nil
	})
	return added, held, err
}

// mergeInto puts v at k into ct, merged with the record ct has, and
// reports whether it had none.
func mergeInto(ct *ebpf.Map, k *xdpfwCtKey, v *xdpfwCtVal, timeouts rules.Conntrack) (added bool, err error) {
	for range 2 { // a record gone between the two steps: put in after all
		err := ct.Update(k, v, ebpf.UpdateNoExist)
		if !errors.Is(err, ebpf.ErrKeyExist) {
			return err == nil, err
		}
		var cur xdpfwCtVal
		if err := ct.Lookup(k, &cur); errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		} else if err != nil {
			return false, err
		}
		m := mergeFlow(cur, *v, timeouts)
		if err := ct.Update(k, &m, ebpf.UpdateExist); !errors.Is(err, ebpf.ErrKeyNotExist) {
			return false, err
		}
	}
	return false, nil
}

// mergeFlow is one flow's record from two tables that each saw some of
// its packets: the later sighting, a reply if either saw one, and the
// furthest TCP state either reached (states only move on: SYN, then
// established, closing, closed). A handshake one table saw, then an
// established flow nothing answered in the other (the host's ACK past
// it, picked up there), is replied, as the learner makes such a record
// seeing both: else the connection is timed as a SYN sent. What a RST
// coming in is checked against is merged by mergeAck. Where the earlier
// record had timed out (under the timeouts ct) before the later one was
// seen, the later is another flow on the same addresses and ports (a
// connection reopened during the resize), and stands alone: merged, a
// new connection's SYN took the closed one's state and its reply.
func mergeFlow(a, b xdpfwCtVal, ct rules.Conntrack) xdpfwCtVal {
	m := a
	if b.LastSeen > a.LastSeen {
		m = b
	}
	older := a
	if m == a {
		older = b
	}
	if time.Duration(m.LastSeen-older.LastSeen) > flowTimeoutOf(&older, ct) {
		return m
	}
	m.AckKind, m.Ack = mergeAck(a, b)
	m.Replied = max(a.Replied, b.Replied)
	m.Tcp = max(a.Tcp, b.Tcp)
	if a.Kind == layout.CtKindTcp && (ackedHandshake(a, b) || ackedHandshake(b, a)) {
		m.Replied = 1
	}
	return m
}

// mergeAck is what a RST coming in on a flow is checked against, from
// two records of it. The later sighting does not tell which record saw
// the host's latest segment out (it may be a packet coming in), so: the
// highest of two acknowledgements in sequence space, as the learner
// keeps it; the one record that kept anything; one SYN seen by both.
// Else (a SYN and an acknowledgement, or two SYNs) which came last is
// unknown, and nothing is kept, as in a record from before the check:
// any RST closes the flow until the host's next segment out says anew,
// where keeping the wrong one made the peer's true RST invalid.
func mergeAck(a, b xdpfwCtVal) (kind uint8, ack uint32) {
	switch {
	case a.AckKind == layout.CtAckSent && b.AckKind == layout.CtAckSent:
		if int32(b.Ack-a.Ack) > 0 {
			return b.AckKind, b.Ack
		}
		return a.AckKind, a.Ack
	case b.AckKind == layout.CtAckNone, a.AckKind == b.AckKind && a.Ack == b.Ack:
		return a.AckKind, a.Ack
	case a.AckKind == layout.CtAckNone:
		return b.AckKind, b.Ack
	}
	return layout.CtAckNone, 0
}

// ackedHandshake reports whether hs is a handshake's record and est one
// picked up from a segment the host sent after it.
func ackedHandshake(hs, est xdpfwCtVal) bool {
	return hs.Tcp <= layout.CtTcpSynRecv && est.Tcp == layout.CtTcpEstablished &&
		est.Replied == 0 && hs.LastSeen <= est.LastSeen
}
