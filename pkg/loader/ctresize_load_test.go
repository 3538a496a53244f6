package loader

import (
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCTResizeFullUnderLoad: growing a full table while the old one
// goes on learning (its programs still on the interfaces) loses no flow:
// the flows the old table evicts for those it learns meanwhile are in
// the new one (copied before), and the flows it expires are counted
// expired, so ct stats' evictions do not change. Counted as evicted, a
// busy table's resize reported more evictions than inserts.
func TestCTResizeFullUnderLoad(t *testing.T) {
	s := openLive(t)
	const full, learnt, expired = 2 * rules.MinCTFlows, 300, 10
	inThrowawayNetns(t, func() error { // no sockets to seed
		if _, err := s.Apply(ctRuleset(t, fmt.Sprintf("conntrack:\n  max-flows: %d\n", full))); err != nil {
			return err
		}
		now, err := ctClock()
		if err != nil {
			return err
		}
		flow := func(i int) xdpfwCtKey {
			k := xdpfwCtKey{Family: 4, Proto: 6, Lport: uint16(i), Rport: 443}
			copy(k.Local[:], []byte{192, 0, 2, 1})
			copy(k.Remote[:], []byte{198, 51, 100, byte(i >> 16)})
			return k
		}
		live := xdpfwCtVal{Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1}
		for i := range full {
			v := live
			v.LastSeen = uint64(now - time.Duration(i)*time.Microsecond)
			if i < expired { // long timed out: the datapath takes them out as expired
				v = xdpfwCtVal{LastSeen: 1, Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent}
			}
			k := flow(i)
			if err := s.maps.Ct.Put(&k, &v); err != nil {
				return err
			}
		}
		addCounts := func(m *ebpf.Map, inserts, expires uint64) error {
			per := make([]xdpfwCtStats, ebpf.MustPossibleCPU())
			if err := m.Lookup(uint32(0), per); err != nil {
				return err
			}
			per[0].N[layout.CtsInserts] += inserts
			per[0].N[layout.CtsExpired] += expires
			return m.Put(uint32(0), per)
		}
		if err := addCounts(s.maps.CtStats, full, 0); err != nil {
			return err
		}
		before, err := s.ConntrackStats()
		if err != nil {
			return err
		}
		var had []xdpfwCtKey
		if err := forEachBatch(s.maps.Ct, 256, func(k []xdpfwCtKey, _ []xdpfwCtVal) error {
			had = append(had, k...)
			return nil
		}); err != nil {
			return err
		}
		old, err := s.maps.Ct.Clone()
		if err != nil {
			return err
		}
		defer old.Close()
		stats, err := s.maps.CtStats.Clone()
		if err != nil {
			return err
		}
		defer stats.Close()
		// The old programs, between the copy and the switch: the
		// timed-out flows expire, and new ones are learnt, each
		// evicting one the copy has.
		var hookErr error
		stopChangesAt(s, func(point string) {
			if point != "ctresize:maps" {
				return
			}
			for i := range expired {
				k := flow(i)
				if err := old.Delete(&k); err != nil {
					hookErr = err
				}
			}
			at, _ := ctClock()
			for i := range learnt {
				k, v := flow(full+i), live
				v.LastSeen = uint64(at)
				if err := old.Put(&k, &v); err != nil {
					hookErr = err
				}
			}
			if err := addCounts(stats, learnt, expired); err != nil {
				hookErr = err
			}
		})
		defer stopChangesAt(s, nil)
		if _, err := s.Apply(ctRuleset(t, fmt.Sprintf("conntrack:\n  max-flows: %d\n", 4*full))); err != nil {
			return err
		}
		if hookErr != nil {
			return hookErr
		}
		held := 0
		if err := forEachBatch(old, 256, func(k []xdpfwCtKey, _ []xdpfwCtVal) error {
			held += len(k)
			return nil
		}); err != nil {
			return err
		}
		if evicted := len(had) - expired + learnt - held; evicted < learnt/2 {
			t.Fatalf("the old table evicted %d flows as %d went in: not full", evicted, learnt)
		}
		for i := range learnt {
			had = append(had, flow(full+i))
		}
		var v xdpfwCtVal
		for _, k := range had {
			if err := s.maps.Ct.Lookup(&k, &v); err != nil {
				t.Errorf("flow %+v: %v, want it in the new table", k, err)
			}
		}
		after, err := s.ConntrackStats()
		if err != nil {
			return err
		}
		if after.Capacity != 4*full || after.Entries != len(had) || after.Evictions != before.Evictions ||
			after.Inserts != before.Inserts+learnt || after.Expired != before.Expired+expired {
			t.Errorf("after the resize: %+v, want %d entries, %d evictions as before, %d inserts and %d expired more than %+v",
				after, len(had), before.Evictions, learnt, expired, before)
		}
		return nil
	})
}
