package loader

import "github.com/xdpfw/xdpfw/pkg/rules"

// RuleRow is one live rule as `xdpfw rule list` shows it.
type RuleRow struct {
	ID         uint32            `json:"id"`
	Priority   uint32            `json:"priority"`
	Conditions map[string]string `json:"conditions"` // key as in `rule add --KEY`
	Action     string            `json:"action"`
	Match      string            `json:"match"`
	Counter
}

// RuleList is the live policy and rules, in evaluation order with their
// counters, from one read of the state.
func (s *State) RuleList() (policy rules.Action, rows []RuleRow, err error) {
	err = s.read(func(v *view) error {
		rs, slots, err := v.ruleset()
		if err != nil {
			return err
		}
		counters, err := ruleCounters(s.maps.RuleStats, slots)
		if err != nil {
			return err
		}
		policy = rs.Policy
		rows = make([]RuleRow, 0, len(rs.Rules))
		for _, r := range rules.Sorted(rs.Rules) {
			conds := map[string]string{}
			for _, kv := range rules.FormatMatch(&r.Match) {
				conds[kv[0]] = kv[1]
			}
			rows = append(rows, RuleRow{
				ID: r.ID, Priority: r.Priority, Action: r.Action.String(),
				Conditions: conds, Match: r.Match.String(), Counter: counters[r.ID],
			})
		}
		return nil
	})
	return policy, rows, err
}

// Status is what `xdpfw status` shows.
type Status struct {
	PinDir     string       `json:"pin_dir"`
	Policy     string       `json:"policy"`
	Rules      int          `json:"rules"`
	Interfaces []Attachment `json:"interfaces"`
}

// Status is the pin directory, the policy, the rule count and each
// attachment as the kernel has it.
func (s *State) Status() (Status, error) {
	rs, err := s.Ruleset()
	if err != nil {
		return Status{}, err
	}
	atts, err := s.Attachments()
	return Status{PinDir: s.dir, Policy: rs.Policy.String(), Rules: len(rs.Rules), Interfaces: atts}, err
}
