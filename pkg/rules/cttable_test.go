package rules

import (
	"fmt"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// TestCTFlows: the table is idle unless a rule or the drop policy reads
// connection state or the file sets max-flows; idle is a size no
// max-flows can ask for, so a table's size says which it is.
func TestCTFlows(t *testing.T) {
	ctRule := Rule{ID: 1, Priority: DefaultPriority, Action: Pass, Match: Match{CTState: CTEstablished}}
	portRule := Rule{ID: 2, Priority: DefaultPriority, Action: Drop, Match: Match{Dport: PortRange{Lo: 22, Hi: 22}}}
	for _, c := range []struct {
		name  string
		rs    Ruleset
		reads bool
		flows uint32
	}{
		{"policy pass, no rules", Ruleset{Policy: Pass}, false, layout.CtIdleEntries},
		{"policy pass, a rule without ct-state", Ruleset{Policy: Pass, Rules: []Rule{portRule}}, false, layout.CtIdleEntries},
		{"a ct-state rule", Ruleset{Policy: Pass, Rules: []Rule{portRule, ctRule}}, true, layout.CtEntries},
		{"policy drop (DHCP replies)", Ruleset{Policy: Drop}, true, layout.CtEntries},
		{"max-flows, nothing reading", Ruleset{Policy: Pass, Conntrack: Conntrack{MaxFlows: 4096}}, false, 4096},
		{"max-flows and policy drop", Ruleset{Policy: Drop, Conntrack: Conntrack{MaxFlows: 2048}}, true, 2048},
	} {
		if got := c.rs.ReadsConnState(); got != c.reads {
			t.Errorf("%s: reads connection state %v, want %v", c.name, got, c.reads)
		}
		if got := c.rs.CTFlows(); got != c.flows {
			t.Errorf("%s: a table of %d flows, want %d", c.name, got, c.flows)
		}
		if got, want := c.rs.CTFrags(), CTFragsFor(c.flows); got != want {
			t.Errorf("%s: a fragments table of %d, want %d", c.name, got, want)
		}
	}
	if _, err := ParseCTFlows(fmt.Sprint(layout.CtIdleEntries)); layout.CtIdleEntries >= MinCTFlows || err == nil {
		t.Errorf("idle (%d flows) is a size max-flows can ask for (from %d)", layout.CtIdleEntries, MinCTFlows)
	}
}
