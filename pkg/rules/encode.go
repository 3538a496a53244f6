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
// from the kernel alone. Optional conditions are omitted when unset;
// pointers tell "absent" from zero (proto 0 and priority 0 are valid).
type ruleDef struct {
	ID     *uint32 `json:"id"`
	Prio   *int64  `json:"prio"`
	Slot   *uint32 `json:"slot"`
	Action string  `json:"action"`
	Src    string  `json:"src,omitempty"`
	Dst    string  `json:"dst,omitempty"`
	Proto  *int64  `json:"proto,omitempty"`
	Sport  string  `json:"sport,omitempty"`
	Dport  string  `json:"dport,omitempty"`
}

// EncodeRule gives the stored form of r, which lives in counter slot slot,
// e.g. {"id":3,"prio":1000,"slot":7,"action":"drop","src":"10.0.0.0/8","proto":6,"dport":"22"}.
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
	d := ruleDef{
		ID:     &r.ID,
		Prio:   &prio,
		Slot:   &slot,
		Action: r.Action.String(),
		Sport:  r.Match.Sport.String(),
		Dport:  r.Match.Dport.String(),
	}
	if r.Match.Src.IsValid() {
		d.Src = r.Match.Src.String()
	}
	if r.Match.Dst.IsValid() {
		d.Dst = r.Match.Dst.String()
	}
	if r.Match.Proto.Set {
		n := int64(r.Match.Proto.Num)
		d.Proto = &n
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

// decodeMatch parses the optional conditions. An empty string is treated
// as absent, the same as the encoder's omitempty.
func decodeMatch(d *ruleDef, m *Match) error {
	var err error
	if d.Src != "" {
		if m.Src, err = ParsePrefix(d.Src); err != nil {
			return fmt.Errorf("src: %w", err)
		}
	}
	if d.Dst != "" {
		if m.Dst, err = ParsePrefix(d.Dst); err != nil {
			return fmt.Errorf("dst: %w", err)
		}
	}
	if d.Proto != nil {
		if *d.Proto < 0 || *d.Proto > 255 {
			return fmt.Errorf("proto %d out of range (0-255)", *d.Proto)
		}
		m.Proto = Proto{Set: true, Num: uint8(*d.Proto)}
	}
	if d.Sport != "" {
		if m.Sport, err = ParsePorts(d.Sport); err != nil {
			return fmt.Errorf("sport: %w", err)
		}
	}
	if d.Dport != "" {
		if m.Dport, err = ParsePorts(d.Dport); err != nil {
			return fmt.Errorf("dport: %w", err)
		}
	}
	return nil
}
