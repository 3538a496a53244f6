package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxRuleDefBytes is the room for one encoded rule in the kernel's
// rule_defs map (RULE_DEF_BYTES in xdp/layout.h).
const MaxRuleDefBytes = 500

// ruleDef is the stored form of a live rule: compact JSON, one document
// per rule, so any later CLI run can list and recompile the live ruleset
// from the kernel alone. Conditions are stored by their Conditions key in
// their text form; pointers tell "absent" from zero (priority 0 is valid).
type ruleDef struct {
	ID     *uint32           `json:"id"`
	Prio   *int64            `json:"prio"`
	Slot   *uint32           `json:"slot"`
	Action string            `json:"action"`
	Match  map[string]string `json:"match,omitempty"`
}

// EncodeRule gives the stored form of r, which lives in counter slot slot,
// e.g. {"id":3,"prio":1000,"slot":7,"action":"drop","match":{"dport":"22","proto":"tcp"}}.
// The rule must be valid with a non-zero ID, and the result must fit in
// MaxRuleDefBytes.
func EncodeRule(r Rule, slot uint32) ([]byte, error) {
	if r.ID == 0 {
		return nil, fmt.Errorf("encode rule: ID 0 (IDs start at 1)")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("encode rule %d: %w", r.ID, err)
	}
	prio := int64(r.Priority)
	d := ruleDef{ID: &r.ID, Prio: &prio, Slot: &slot, Action: r.Action.String()}
	for _, kv := range FormatMatch(&r.Match) {
		if d.Match == nil {
			d.Match = map[string]string{}
		}
		d.Match[kv[0]] = kv[1]
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode rule %d: %w", r.ID, err)
	}
	if len(b) > MaxRuleDefBytes {
		return nil, fmt.Errorf("encode rule %d: %d bytes, more than the %d a rule may take", r.ID, len(b), MaxRuleDefBytes)
	}
	return b, nil
}

// DecodeRule reads a stored rule back, giving the rule and its counter
// slot. It trusts nothing: the bytes come from a kernel map any root
// process may have written, so every field is parsed and checked with the
// same parsers and rules as user input, unknown fields are rejected, and
// the rule must pass Validate.
func DecodeRule(b []byte) (Rule, uint32, error) {
	r, slot, err := decodeRule(b)
	if err != nil {
		if len(b) > MaxRuleDefBytes {
			return Rule{}, 0, fmt.Errorf("decode rule: %w", err)
		}
		return Rule{}, 0, fmt.Errorf("decode rule %q: %w", b, err)
	}
	return r, slot, nil
}

func decodeRule(b []byte) (Rule, uint32, error) {
	if len(b) > MaxRuleDefBytes {
		return Rule{}, 0, fmt.Errorf("%d bytes, more than %d", len(b), MaxRuleDefBytes)
	}
	var d ruleDef
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Rule{}, 0, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Rule{}, 0, errors.New("trailing data after the rule")
	}
	switch {
	case d.ID == nil:
		return Rule{}, 0, errors.New("no id")
	case *d.ID == 0:
		return Rule{}, 0, errors.New("id 0")
	case d.Prio == nil:
		return Rule{}, 0, errors.New("no prio")
	case *d.Prio < 0 || *d.Prio > MaxPriority:
		return Rule{}, 0, fmt.Errorf("prio %d out of range (0-%d)", *d.Prio, MaxPriority)
	case d.Slot == nil:
		return Rule{}, 0, errors.New("no slot")
	}
	r := Rule{ID: *d.ID, Priority: uint32(*d.Prio)}
	var err error
	if r.Action, err = ParseAction(d.Action); err != nil {
		return Rule{}, 0, err
	}
	if err := decodeMatch(&d, &r.Match); err != nil {
		return Rule{}, 0, err
	}
	if err := r.Validate(); err != nil {
		return Rule{}, 0, err
	}
	return r, *d.Slot, nil
}

// decodeMatch parses the conditions in registry order (so implied
// protocols see the explicit one), rejecting unknown keys.
func decodeMatch(d *ruleDef, m *Match) error {
	for key := range d.Match {
		if ConditionByKey(key) == nil {
			return fmt.Errorf("unknown condition %q", key)
		}
	}
	for _, c := range Conditions {
		v, ok := d.Match[c.Key]
		if !ok {
			continue
		}
		if err := c.Parse(m, v); err != nil {
			return fmt.Errorf("%s: %w", c.Key, err)
		}
	}
	return nil
}
