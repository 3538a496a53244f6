package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// The conntrack table's size is the ruleset's (conntrack: max-flows); the
// pinned map is the one record of it. A map's size is fixed when it is
// made, so a change of size makes a new table, copies the flows into it,
// and gives the programs that use it (XDP and the egress learner) to
// every interface, the way the rule vectors grow (grow.go).

// CTResizeNotice, when set, is told that a change gave the state in dir a
// conntrack table of flows entries, and the programs that use it to every
// interface (their ids change), so the CLI can say so.
var CTResizeNotice func(dir string, flows uint32)

// ctResize is a commit's refusal when the ruleset asks for a table of
// another size: changeGrowing resizes it and runs the change again.
type ctResize struct {
	flows uint32
}

func (e *ctResize) Error() string {
	return fmt.Sprintf("the conntrack table must be resized to %d flows first", e.flows)
}

// resizeCT replaces the conntrack table with one of flows entries,
// keeping its flows, while the live table keeps serving every packet:
//
//  1. meta is marked (metaGrowing), through the write path: the next
//     change finishes a replacement cut short before anything else, by
//     loading the programs again on the pinned maps, whichever table is
//     pinned (grow);
//  2. a new table is made and the flows copied into it (a smaller table
//     keeps what fits; the kernel's LRU chooses what goes);
//  3. to 5. as a migration's (replaceBuild): the programs loaded on it,
//     its pin over the old table's, the programs' pins over theirs, and
//     every interface given the new programs, the egress learner too;
//  6. the flows the old table learnt or refreshed meanwhile are copied
//     again (copyNewer);
//  7. the mark is cleared, with the egress hooks recorded.
func (s *State) resizeCT(flows uint32) error {
	err := runChange(&s.maps, s.stopAt, func(t *tx) error {
		t.meta.Version = metaVersion | metaGrowing
		return nil
	})
	if err != nil {
		return err
	}
	s.reached("ctresize:marked")
	spec, err := loadXdpfw()
	if err != nil {
		return err
	}
	old, err := s.maps.Ct.Clone() // the replacement closes the state's handle
	if err != nil {
		return err
	}
	defer old.Close()
	ct, copied, err := newCTTable(spec, old, flows)
	if err != nil {
		return err
	}
	defer ct.Close()
	hooks, err := s.replaceBuild(spec, map[string]*ebpf.Map{xdpfwMapCt: ct}, "ctresize")
	if err != nil {
		return err
	}
	if err := copyNewer(old, ct, copied); err != nil {
		return err
	}
	err = runChange(&s.maps, s.stopAt, func(t *tx) error {
		t.meta.Version = metaVersion
		return recordEgress(t, hooks)
	})
	if err == nil && CTResizeNotice != nil {
		CTResizeNotice(s.dir, flows)
	}
	return err
}

// resizeCT gives an instance a table of flows entries, its flows kept.
// Nothing runs an instance's programs while it loads a ruleset.
func (t *Instance) resizeCT(flows uint32) error {
	spec, err := loadXdpfw()
	if err != nil {
		return err
	}
	ct, _, err := newCTTable(spec, t.objs.Ct, flows)
	if err != nil {
		return err
	}
	defer ct.Close()
	return t.replaceMap(xdpfwMapCt, ct)
}

// newCTTable is a table of flows entries holding old's flows, and when
// each was last seen as copied.
func newCTTable(spec *ebpf.CollectionSpec, old *ebpf.Map, flows uint32) (*ebpf.Map, map[xdpfwCtKey]uint64, error) {
	ms := spec.Maps[xdpfwMapCt].Copy()
	ms.MaxEntries = flows
	ct, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, nil, fmt.Errorf("create a conntrack table of %d flows: %w", flows, err)
	}
	copied := map[xdpfwCtKey]uint64{}
	err = forEachBatch(old, 256, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
		for i, k := range keys {
			copied[k] = vals[i].LastSeen
		}
		if _, err := ct.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("copy flows: %w", err)
		}
		return nil
	})
	if err != nil {
		ct.Close()
		return nil, nil, err
	}
	return ct, copied, nil
}

// copyNewer copies into ct the flows old learnt or refreshed after
// copied was taken, unless ct has seen them since (the datapath writes
// ct now): a connection opened during the resize keeps its state.
func copyNewer(old, ct *ebpf.Map, copied map[xdpfwCtKey]uint64) error {
	return forEachBatch(old, 256, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
		for i, k := range keys {
			if seen, ok := copied[k]; ok && seen == vals[i].LastSeen {
				continue
			}
			var cur xdpfwCtVal
			if err := ct.Lookup(&k, &cur); err == nil && cur.LastSeen >= vals[i].LastSeen {
				continue
			}
			if err := ct.Put(&k, &vals[i]); err != nil {
				return fmt.Errorf("copy flow: %w", err)
			}
		}
		return nil
	})
}
