package rulegen

import (
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// OneDimension keeps the rules of rs that set conditions on one
// dimension (those classifier.Tables.Solo takes on its own), so a
// ruleset of them is classified in solo form.
func OneDimension(rs *rules.Ruleset) (*rules.Ruleset, error) {
	out := &rules.Ruleset{Policy: rs.Policy, Sets: rs.Sets}
	for _, r := range rs.Rules {
		tab, err := classifier.Compile(&rules.Ruleset{Policy: rs.Policy, Rules: []rules.Rule{r}, Sets: rs.Sets})
		if err != nil {
			return nil, err
		}
		if _, ok := tab.Solo(); ok {
			out.Rules = append(out.Rules, r)
		}
	}
	return out, nil
}
