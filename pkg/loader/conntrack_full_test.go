package loader

import (
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// smallCTInstance is an instance (as NewInstance makes one, enforcing
// ctConfRuleset) whose flow table holds only entries flows, so a test
// fills it with a few hundred frames. Closed when the test ends.
func smallCTInstance(t *testing.T, entries uint32) *Instance {
	t.Helper()
	privtest.Require(t)
	spec, err := loadXdpfw()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps[xdpfwMapCt].MaxEntries = entries
	inst := &Instance{}
	if err := load(spec, &inst.objs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	rs, err := rules.ParseYAML("ct.yaml", []byte(ctConfRuleset), rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Load(rs); err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestConntrackFullTableEvicts: the egress program learning more flows
// than the table holds evicts (the LRU map drops the least recent) and
// counts every insert, so the stats' evictions (inserts less what is
// left) are what the full table dropped.
func TestConntrackFullTableEvicts(t *testing.T) {
	const capacity, flows = 128, 4 * 128
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
