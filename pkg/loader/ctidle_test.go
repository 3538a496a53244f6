package loader

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCTIdleState: a new state's table is idle; each change that starts
// or stops reading connection state (a ct-state rule, the drop policy)
// makes it whole or idle again, on the interface, the flows kept; the
// size never reads back as a max-flows, and the stats say idle.
func TestCTIdleState(t *testing.T) {
	privtest.Require(t)
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "cti0")
		if err != nil {
			return err
		}
		defer s.Close()
		if n := s.maps.Ct.MaxEntries(); n != layout.CtIdleEntries {
			return fmt.Errorf("a new state's table holds %d flows, want idle %d", n, layout.CtIdleEntries)
		}
		keys, vals := ctFlows(50)
		if _, err := s.maps.Ct.BatchUpdate(keys, vals, nil); err != nil {
			return err
		}
		if err := s.maps.CtFrags.Put(&testFrag, &testFragExpiry); err != nil {
			return err
		}
		pass := &rules.Ruleset{Policy: rules.Pass}
		for _, step := range []struct {
			name  string
			rs    *rules.Ruleset
			flows uint32
		}{
			{"a ct-state rule", ctRuleset(t, ""), layout.CtEntries},
			{"nothing reading", pass, layout.CtIdleEntries},
			{"the drop policy", &rules.Ruleset{Policy: rules.Drop}, layout.CtEntries},
			{"nothing reading again", pass, layout.CtIdleEntries},
		} {
			if _, err := s.Apply(step.rs); err != nil {
				return fmt.Errorf("apply %s: %w", step.name, err)
			}
			if err := checkCTTable(s, "cti0", step.flows, keys, vals); err != nil {
				return fmt.Errorf("after %s: %w", step.name, err)
			}
			live, err := s.RulesetWithSets()
			if err != nil {
				return err
			}
			if live.Conntrack.MaxFlows != 0 {
				t.Errorf("after %s: the live ruleset says max-flows %d, want none", step.name, live.Conntrack.MaxFlows)
			}
			st, err := s.ConntrackStats()
			if err != nil {
				return err
			}
			if idle := step.flows == layout.CtIdleEntries; st.Idle != idle || st.Capacity != int(step.flows) {
				t.Errorf("after %s: ct stats capacity %d, idle %v; want %d, %v", step.name, st.Capacity, st.Idle, step.flows, idle)
			}
		}
		return nil
	})
}

// TestCTIdleInstance: an instance is made with its ruleset's table, idle
// or whole, as the model's; loading a ruleset that reads connection state
// makes an idle one whole, and one that does not keeps the table as it is
// (nothing reads it; a resize would load the programs again).
func TestCTIdleInstance(t *testing.T) {
	privtest.Require(t)
	pass, drop := &rules.Ruleset{Policy: rules.Pass}, &rules.Ruleset{Policy: rules.Drop}
	for _, rs := range []*rules.Ruleset{pass, drop} {
		x, err := NewInstance(rs, false)
		if err != nil {
			t.Fatal(err)
		}
		c := model.CTConfigOf(rs)
		if n, f := x.objs.Ct.MaxEntries(), x.objs.CtFrags.MaxEntries(); n != rs.CTFlows() || int(n) != c.Capacity || f != rs.CTFrags() || int(f) != c.FragCapacity {
			t.Errorf("policy %s: an instance's tables of %d flows and %d datagrams, the model's %d and %d; want %d and %d",
				rs.Policy, n, f, c.Capacity, c.FragCapacity, rs.CTFlows(), rs.CTFrags())
		}
		other := drop
		if rs == drop {
			other = pass
		}
		if err := x.Load(other); err != nil {
			t.Fatal(err)
		}
		if n := x.objs.Ct.MaxEntries(); n != layout.CtEntries {
			t.Errorf("policy %s then %s: a table of %d flows, want the whole %d", rs.Policy, other.Policy, n, layout.CtEntries)
		}
		x.Close()
	}
}
