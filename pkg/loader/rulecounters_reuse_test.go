package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestNewRuleInLiveSlot: a rule an apply adds where every counter slot
// is taken gets the slot of a rule the same apply removes, which the
// live generation counts in until the switch; what the removed rule
// decided meanwhile is not the new rule's. It was: the slot's counters
// were zeroed before the commit wrote the new generation, so a full
// ruleset whose one rule was replaced under traffic showed the new rule
// with the old one's frames of that time (a drop rule counting frames
// no drop verdict had).
func TestNewRuleInLiveSlot(t *testing.T) {
	dir := privtest.PinDir(t)
	defer removeState(dir)
	file := func(last string) *rules.Ruleset {
		var b strings.Builder
		b.WriteString("policy: pass\nrules:\n")
		for i := range rules.MaxRules - 1 {
			fmt.Fprintf(&b, "  - {proto: tcp, dport: %d, action: drop}\n", 10000+i)
		}
		b.WriteString("  - " + last + "\n")
		return mustRuleset(t, b.String())
	}
	if err := Provision(dir, func(s *State) error {
		_, err := s.Apply(file("{proto: udp, dport: 53, action: pass, comment: old}"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dns := fixtures.UDP("192.0.2.7", "192.0.2.1", 1000, 53)
	send := func(n int) {
		for range n {
			if _, err := runFrame(s.progs.Xdpfw, dns); err != nil {
				t.Error(err)
			}
		}
	}
	last := func() RuleRow {
		t.Helper()
		_, rows, err := s.RuleList()
		if err != nil || len(rows) < rules.MaxRules-1 {
			t.Fatalf("rule list: %d rules, %v", len(rows), err)
		}
		return rows[len(rows)-1]
	}
	send(3)
	old := last()
	if old.Comment != "old" || old.Packets != 3 {
		t.Fatalf("before: %+v", old)
	}
	stopChangesAt(s, func(point string) {
		if point == "switch" {
			send(4) // the old rule's, its generation still live
		}
	})
	if _, err := s.Apply(file("{proto: udp, dport: 54, action: drop, comment: new}")); err != nil {
		t.Fatal(err)
	}
	stopChangesAt(s, nil)
	replaced := last()
	if replaced.Comment != "new" || replaced.Slot != old.Slot {
		t.Fatalf("after: %+v, want the new rule in the old one's slot %d", replaced, old.Slot)
	}
	if replaced.Packets != 0 || replaced.Bytes != 0 {
		t.Errorf("the new rule counted %d frames, %d bytes: the removed rule's", replaced.Packets, replaced.Bytes)
	}
	// And after the next commit, which folds the generation that was live.
	_, rows, err := s.RuleList()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRules([]uint32{rows[0].ID}); err != nil {
		t.Fatal(err)
	}
	if replaced = last(); replaced.Packets != 0 {
		t.Errorf("after the next commit the new rule counted %d frames", replaced.Packets)
	}
	if v, err := s.VerdictCounters(); err != nil || v["pass"].Packets != 7 || v["drop"].Packets != 0 {
		t.Errorf("verdicts %v, %v: want the 7 frames passed", v, err)
	}
}
