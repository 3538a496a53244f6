package rules

import (
	"strings"
	"testing"
)

func TestDropWarnings(t *testing.T) {
	ssh := Rule{ID: 1, Action: Pass, Match: Match{Proto: Proto{Set: true, Num: 6}, Dport: PortRange{Set: true, Lo: 22, Hi: 22}}}
	est := Rule{ID: 2, Action: Pass, Match: Match{CTState: CTEstablished | CTRelated}}
	deny := Rule{ID: 3, Action: Drop, Match: Match{CTState: CTEstablished}}
	for _, c := range []struct {
		name   string
		rs     Ruleset
		prefix string // "" for no warning
	}{
		{"pass policy", Ruleset{Policy: Pass}, ""},
		{"drop, no rules", Ruleset{Policy: Drop}, "no rule passes anything"},
		{"drop, only drop rules", Ruleset{Policy: Drop, Rules: []Rule{deny}}, "no rule passes anything"},
		{"drop, ssh only", Ruleset{Policy: Drop, Rules: []Rule{ssh, deny}}, "no rule passes ct-state established"},
		{"drop, ssh and established", Ruleset{Policy: Drop, Rules: []Rule{ssh, est}}, ""},
		// a rule of no condition passes every frame, replies included
		{"drop, a rule passing all", Ruleset{Policy: Drop, Rules: []Rule{ssh, {ID: 4, Action: Pass}}}, ""},
	} {
		got := c.rs.DropWarnings()
		switch {
		case c.prefix == "" && len(got) != 0:
			t.Errorf("%s: %q, want none", c.name, got)
		case c.prefix != "" && (len(got) != 1 || !strings.HasPrefix(got[0], c.prefix)):
			t.Errorf("%s: %q, want one starting %q", c.name, got, c.prefix)
		}
	}
}
