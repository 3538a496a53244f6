package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// smallCTInstance is an instance enforcing ctConfRuleset with its
// conntrack: max-flows set to entries, so a test fills the table with a
// few thousand frames. Closed when the test ends.
func smallCTInstance(t *testing.T, entries uint32) *Instance {
	t.Helper()
	privtest.Require(t)
	rs, err := rules.ParseYAML("ct.yaml", []byte(ctConfRuleset), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs.Conntrack.MaxFlows = entries
	inst, err := NewInstance(rs, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	return inst
}

// TestConntrackFullTableEvicts: the egress program learning more flows
// than the table holds evicts (the LRU map drops the least recent) and
// counts every insert, so the stats' evictions (inserts less what is
// left) are what the full table dropped.
func TestConntrackFullTableEvicts(t *testing.T) {
	const capacity, flows = rules.MinCTFlows, 4 * rules.MinCTFlows
	inst := smallCTInstance(t, capacity)
	out := fixtures.Peer{Src: "192.0.2.10", Dst: "198.51.100.1"}
	for i := range flows {
		if err := inst.RunEgress(out.UDP(uint16(10000+i), 53)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ctStatsOf(&inst.objs.xdpfwMaps)
	if err != nil {
		t.Fatal(err)
	}
	if st.Capacity != capacity || st.Inserts != flows || st.Egress != flows || st.Expired != 0 {
		t.Errorf("stats %+v: want capacity %d, %d inserts and egress packets, none expired", st, capacity, flows)
	}
	if st.Entries == 0 || st.Entries > capacity {
		t.Errorf("%d entries, want 1 to %d", st.Entries, capacity)
	}
	if st.Evictions == 0 || st.Evictions != st.Inserts-uint64(st.Entries) {
		t.Errorf("%d evictions, want inserts - entries = %d > 0", st.Evictions, st.Inserts-uint64(st.Entries))
	}
}
