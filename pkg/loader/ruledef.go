package loader

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// maxRuleDefBytes is the room for one encoded rule in the kernel's
// rule_defs map.
const maxRuleDefBytes = layout.RuleDefBytes

// The stored form of a live rule (the values of rule_defs), so any later CLI run can list and
// recompile the live ruleset from the kernel alone. Every change decodes
// the whole live ruleset, so the form is binary (decoding 4096 rules as
// JSON took about 17 ms of a 80 ms commit), but conditions keep their
// one text form, tagged by key, so new conditions extend it without a new
// layout:
//
//	id       u32, little-endian, non-zero
//	slot     u32, the rule's counter slot
//	priority u16
//	action   u8, Drop or Pass (the XDP action values)
//	then per condition set, in registry order (rules.Conditions):
//	  u8 key length, key (a rules.Conditions key), u8 text length, text
//	then, if the rule logs, the same with key rules.LogKey and text "true"
//	then, if the rule has a comment, the same with key rules.CommentKey
//
// The comment came later and is optional and last, so definitions stored
// before it decode unchanged (they simply have no comment). The layout version in the pinned meta map (META_VERSION) names this
// format: change it with the format.
const defHeaderBytes = 4 + 4 + 2 + 1

// encodeRule gives the stored form of r, which lives in counter slot slot.
// The rule must be valid with a non-zero ID, and the result must fit in
// maxRuleDefBytes. The same rule and slot always give the same bytes.
func encodeRule(r rules.Rule, slot uint32) ([]byte, error) {
	if r.ID == 0 {
		return nil, fmt.Errorf("encode rule: ID 0 (IDs start at 1)")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("encode rule %d: %w", r.ID, err)
	}
	b := make([]byte, defHeaderBytes, 64)
	binary.LittleEndian.PutUint32(b[0:], r.ID)
	binary.LittleEndian.PutUint32(b[4:], slot)
	binary.LittleEndian.PutUint16(b[8:], uint16(r.Priority))
	b[10] = byte(r.Action)
	for i := range rules.Conditions {
		c := &rules.Conditions[i]
		v := c.Format(&r.Match)
		if v == "" {
			continue
		}
		if len(v) > 255 {
			return nil, fmt.Errorf("encode rule %d: %s is %d bytes, more than 255", r.ID, c.Key, len(v))
		}
		b = appendField(b, c.Key, v)
	}
	if r.Log {
		b = appendField(b, rules.LogKey, "true")
	}
	if r.Comment != "" {
		// Validate bounded it at rules.MaxComment, within a u8 length.
		b = appendField(b, rules.CommentKey, r.Comment)
	}
	if len(b) > maxRuleDefBytes {
		return nil, fmt.Errorf("encode rule %d: %d bytes, more than the %d a rule may take", r.ID, len(b), maxRuleDefBytes)
	}
	return b, nil
}

// decodeRule reads a stored rule back, giving the rule and its counter
// slot. It trusts nothing: the bytes come from a kernel map any root
// process may have written, so every field is parsed and checked with the
// same parsers and rules as user input, unknown, repeated or misordered
// conditions are rejected, and the rule must pass Validate.
//
// The rule is decoded into *r (the caller's memory: the rules of a live
// ruleset are read back into one slice, not one allocation each); on an
// error *r is the zero rule.
func decodeRule(b []byte, r *rules.Rule) (uint32, error) {
	slot, err := parseRuleDef(b, r)
	if err != nil {
		id := r.ID
		*r = rules.Rule{}
		if id != 0 {
			return 0, fmt.Errorf("decode rule %d: %w", id, err)
		}
		return 0, fmt.Errorf("decode rule: %w", err)
	}
	return slot, nil
}

// parseRuleDef fills *r, whose ID is set before any error found after it.
func parseRuleDef(b []byte, r *rules.Rule) (uint32, error) {
	*r = rules.Rule{}
	if len(b) > maxRuleDefBytes {
		return 0, fmt.Errorf("%d bytes, more than %d", len(b), maxRuleDefBytes)
	}
	if len(b) < defHeaderBytes {
		return 0, fmt.Errorf("%d bytes, shorter than the %d-byte header", len(b), defHeaderBytes)
	}
	r.ID = binary.LittleEndian.Uint32(b[0:])
	r.Priority = uint32(binary.LittleEndian.Uint16(b[8:]))
	r.Action = rules.Action(b[10])
	slot := binary.LittleEndian.Uint32(b[4:])
	if r.ID == 0 {
		return 0, errors.New("id 0")
	}
	// Conditions must come in registry order, as encodeRule writes them:
	// so each rule has exactly one stored form, and one that implies a
	// protocol is parsed after any explicit proto.
	next := 0 // registry index the next condition may have, at least
	for rest := b[defHeaderBytes:]; len(rest) > 0; {
		key, after, err := lengthPrefixed(rest)
		if err != nil {
			return 0, fmt.Errorf("condition key: %w", err)
		}
		val, after, err := lengthPrefixed(after)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		rest = after
		if string(key) == rules.LogKey {
			// After the conditions, once, before the comment.
			if next > len(rules.Conditions) || string(val) != "true" {
				return 0, fmt.Errorf("log %q out of place", val)
			}
			r.Log, next = true, len(rules.Conditions)+1
			continue
		}
		if string(key) == rules.CommentKey {
			// Last, once: Validate checks the text.
			if next > len(rules.Conditions)+1 {
				return 0, errors.New("comment repeated")
			}
			r.Comment, next = string(val), len(rules.Conditions)+2
			continue
		}
		i := rules.ConditionIndex(string(key))
		switch {
		case i < 0:
			return 0, fmt.Errorf("unknown condition %q", key)
		case i < next:
			return 0, fmt.Errorf("condition %s repeated, out of order or after the comment", key)
		}
		next = i + 1
		if err := rules.Conditions[i].Parse(&r.Match, string(val)); err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := r.Validate(); err != nil {
		return 0, err
	}
	return slot, nil
}

// appendField appends key and value, each after its u8 length; both are
// known to be at most 255 bytes.
func appendField(b []byte, key, val string) []byte {
	b = append(b, byte(len(key)))
	b = append(b, key...)
	b = append(b, byte(len(val)))
	return append(b, val...)
}

// lengthPrefixed splits a u8 length and that many bytes off b.
func lengthPrefixed(b []byte) (field, rest []byte, err error) {
	if len(b) == 0 || len(b) < 1+int(b[0]) {
		return nil, nil, errors.New("truncated")
	}
	return b[1 : 1+int(b[0])], b[1+int(b[0]):], nil
}
